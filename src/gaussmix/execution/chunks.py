"""Row chunks of an array, reduced by summation: the seam every fit goes through.

Every fit streams its data through :func:`map_blocks_sum`, so temporaries are
bounded by ``chunk_size x n_components`` (and ``chunk_size x n_features``)
whatever the number of rows. When ``X`` is a :class:`~gaussmix.execution.BlockSource`
(a file or a Dask array) the source produces and sums the blocks instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: Target size in bytes of one chunk's widest float64 temporary.
_CHUNK_BYTES = 4 * 2**20


def default_chunk_size(n_components: int, n_features: int) -> int:
    """Rows per chunk so that a (chunk, max(k, d)) float64 array is about 4 MiB."""
    width = max(n_components, n_features, 1)
    return max(256, _CHUNK_BYTES // (8 * width))


def resolve_chunk_size(chunk_size: int | None, n_components: int, n_features: int) -> int:
    """Validate a user chunk size or pick the default."""
    if chunk_size is None:
        return default_chunk_size(n_components, n_features)
    ok = isinstance(chunk_size, (int, np.integer)) and not isinstance(chunk_size, bool)
    if not ok or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    return int(chunk_size)


def iter_slices(n_rows: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def map_blocks_sum(
    X: Any,
    w: np.ndarray | None,
    chunk_size: int,
    fn: Callable[[np.ndarray, np.ndarray], T],
) -> T:
    """Sum ``fn(X[rows], w[rows])`` over row chunks.

    ``fn`` must return something that supports ``+`` (statistics do). ``X``
    may also be a block source (anything with a ``map_sum`` method: files,
    Dask arrays), which then carries its own weights (``w`` is ignored).
    """
    if hasattr(X, "map_sum"):
        return X.map_sum(fn, chunk_size)  # type: ignore[no-any-return]
    assert w is not None
    total: T | None = None
    for sl in iter_slices(X.shape[0], chunk_size):
        part = fn(X[sl], w[sl])
        total = part if total is None else total + part  # type: ignore[operator]
    assert total is not None, "no rows"
    return total


def map_rows(
    X: Any, fn: Callable[[np.ndarray], np.ndarray], chunk_size: int, width: int | None,
    dtype: Any,
) -> Any:
    """``fn`` of every row chunk, stacked: shape (n_rows,) or (n_rows, width).

    An array gives an array; a block source gives what its ``map_rows``
    gives (an array for files, a lazy Dask array for Dask).
    """
    if hasattr(X, "map_rows"):
        if hasattr(X, "persist"):  # Dask: lazy, one task per block
            return X.map_rows(fn, chunk_size, width=width, dtype=dtype)
        return X.map_rows(fn, chunk_size)
    shape = (X.shape[0],) if width is None else (X.shape[0], width)
    out = np.empty(shape, dtype=dtype)
    for sl in iter_slices(X.shape[0], chunk_size):
        out[sl] = fn(X[sl])
    return out


def weighted_mean_variance(
    X: np.ndarray, w: np.ndarray, shift: np.ndarray, chunk_size: int
) -> float:
    """Mean over features of the weighted variance about ``shift`` (the weighted mean).

    Scales k-means' tolerance; weighted so that integer weights act as repeats.
    """
    total = 0.0
    for sl in iter_slices(X.shape[0], chunk_size):
        Xc = np.asarray(X[sl], dtype=np.float64) - shift
        total += float(w[sl] @ np.einsum("ij,ij->i", Xc, Xc))
    return total / (float(w.sum()) * X.shape[1])
