"""Dask arrays as block sources: per-block statistics, tree-reduced, one compute.

Each pass maps a function over the blocks of a row-chunked Dask array
(persisted once per fit), sums the per-block results in a tree of fan-in
``split_every`` and computes the root: one ``compute`` per pass, on the
active ``distributed`` client if there is one, else Dask's default scheduler.
Only this module imports dask, and only when a Dask collection is used.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import numpy as np

from .sources import BlockSource, is_dask_collection

T = TypeVar("T")


class _Boxed:
    """Holds a function so Dask ships it once per pass as data, not per task."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn


def _apply(box: _Boxed, offset: int, X: np.ndarray, w: np.ndarray | None) -> Any:
    X = np.asarray(X)
    if X.dtype != np.float64 and X.dtype != np.float32:
        X = X.astype(np.float64)
    wb = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    return box.fn(offset, X, wb)


def _sum_list(parts: list[Any]) -> Any:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _drop_offset(fn: Callable[[np.ndarray, np.ndarray], T], _off: int, X: np.ndarray,
                 w: np.ndarray) -> T:
    return fn(X, w)


def _rows_block(fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    return fn(np.asarray(X))


class DaskSource(BlockSource):
    """A Dask array (or DataFrame) of shape (n_rows, n_features) as a block source.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
        Rechunked to whole rows (one chunk across columns).
    sample_weight : dask.array.Array or array-like of shape (n_rows,), default=None
    split_every : int, default=8
        Fan-in of the reduction tree.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from gaussmix.execution.dask_source import DaskSource
    >>> src = DaskSource(da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2)))
    >>> src.map_sum(lambda X, w: w @ X, chunk_size=0)
    array([12., 16.])
    """

    #: Seeds by k-means|| on the cluster rather than from the driver's sample.
    distributed = True

    def __init__(self, X: Any, sample_weight: Any = None, split_every: int = 8) -> None:
        import dask.array as da

        super().__init__(None)
        if not isinstance(X, da.Array):
            if not hasattr(X, "to_dask_array"):
                raise TypeError(f"expected a dask array or DataFrame, got {type(X).__name__}")
            self.feature_names = [str(c) for c in X.columns]  # a dask DataFrame
            X = X.to_dask_array(lengths=True)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X has dtype {X.dtype}; gaussmix needs numeric data")
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        self.X = X.rechunk({1: -1})
        self.n_features = int(X.shape[1])
        self.split_every = split_every
        self.w: Any = None
        if sample_weight is not None:
            w = sample_weight if is_dask_collection(sample_weight) else da.from_array(
                np.asarray(sample_weight, dtype=np.float64), chunks=(self.X.chunks[0],)
            )
            if w.ndim != 1 or w.shape[0] != self.X.shape[0]:
                raise ValueError(
                    f"sample_weight must have shape ({self.X.shape[0]},), got {w.shape}"
                )
            self.w = w.astype(np.float64).rechunk((self.X.chunks[0],))

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def persist(self) -> DaskSource:
        """Persist the data (on the cluster's workers if a client is active)."""
        if self.w is None:
            self.X = self.X.persist()
        else:
            import dask

            self.X, self.w = dask.persist(self.X, self.w)
        return self

    def _read(self, chunk_size: int) -> Any:
        # Serial iteration, used only by generic helpers: compute block by block.
        for block in self.X.blocks:
            yield np.asarray(block.compute()), None

    def iter_blocks(self, chunk_size: int) -> Any:
        if self.w is None:
            yield from super().iter_blocks(chunk_size)
            return
        offset = 0
        for i, block in enumerate(self.X.blocks):
            X = np.asarray(block.compute())
            w = np.asarray(self.w.blocks[i].compute(), dtype=np.float64)
            yield offset, X, w
            offset += X.shape[0]

    def map_sum_indexed(
        self, fn: Callable[[int, np.ndarray, np.ndarray], T], chunk_size: int
    ) -> T:
        """Sum ``fn(offset, X_block, w_block)`` over the blocks: one compute."""
        import dask

        xs = self.X.to_delayed().ravel().tolist()
        ws = [None] * len(xs) if self.w is None else self.w.to_delayed().ravel().tolist()
        offsets = np.concatenate([[0], np.cumsum(self.X.chunks[0])[:-1]]).astype(int)
        box = dask.delayed(_Boxed(fn), pure=True)
        apply = dask.delayed(_apply, pure=True)
        parts = [apply(box, int(o), x, w) for o, x, w in zip(offsets, xs, ws, strict=True)]
        reduce = dask.delayed(_sum_list, pure=True)
        while len(parts) > 1:
            parts = [
                reduce(parts[i : i + self.split_every])
                for i in range(0, len(parts), self.split_every)
            ]
        (total,) = dask.compute(parts[0])
        return total  # type: ignore[no-any-return]

    def map_sum(self, fn: Callable[[np.ndarray, np.ndarray], T], chunk_size: int) -> T:
        return self.map_sum_indexed(partial(_drop_offset, fn), chunk_size)

    def map_rows(self, fn: Callable[[np.ndarray], np.ndarray], chunk_size: int,
                 width: int | None = None, dtype: Any = np.float64) -> Any:
        """Lazy Dask array of ``fn`` applied to every block.

        ``width`` is the number of output columns, or ``None`` for one value per row.
        """
        f = partial(_rows_block, fn)
        if width is None:
            return self.X.map_blocks(f, drop_axis=1, dtype=dtype)
        return self.X.map_blocks(f, chunks=(self.X.chunks[0], (width,)), dtype=dtype)

    def __repr__(self) -> str:
        return f"DaskSource(shape={self.X.shape}, chunks={len(self.X.chunks[0])})"
