"""In-memory execution: row chunks of an array, mapped in a thread pool, summed in order.

Every fit streams its data through :func:`map_blocks` / :func:`map_blocks_sum`,
so temporaries are bounded by ``chunk_size x n_components x n_features``
whatever the number of rows. Chunks run on a pool of threads (NumPy and BLAS
release the GIL) while BLAS itself is held to one thread, which avoids
oversubscription and is much faster for the small products of one chunk.
Results are summed in chunk order, so they do not depend on the number of
threads. When ``X`` is a block source (a file or a Dask array, see
:mod:`gaussmix.execution.sources`), :func:`map_blocks_sum` lets the source
produce and sum the blocks instead.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from .._blocks import kernel_block, weighted_sq_dev

T = TypeVar("T")

#: Target size in bytes of one chunk's widest float64 temporary, (chunk, k, d).
_CHUNK_BYTES = 4 * 2**20
_MIN_CHUNK, _MAX_CHUNK = 1024, 65536

_N_THREADS: contextvars.ContextVar[int] = contextvars.ContextVar("gaussmix_threads", default=1)
_POOLS: dict[int, ThreadPoolExecutor] = {}


def default_chunk_size(n_components: int, n_features: int, width: int | None = None,
                       itemsize: int = 8, target: int = _CHUNK_BYTES) -> int:
    """Rows per chunk so that the widest per-chunk temporary is about ``target``
    bytes (default 4 MiB).

    ``width`` is that temporary's values per row (default ``k * d``: the
    (chunk, k, d) of full covariances); ``itemsize`` its bytes per value.
    """
    width = max(n_components * n_features if width is None else width, 1)
    return int(min(_MAX_CHUNK, max(_MIN_CHUNK, target // (itemsize * width))))


def balanced_chunk(n_rows: int, cap: int) -> int:
    """Rows per chunk, at most ``cap``, cutting ``n_rows`` into 4·m nearly equal chunks.

    4·m chunks of ``ceil(n / 4m)`` rows (the last shorter; fewer chunks when
    ``n_rows`` is tiny), so 1, 2 or 4 threads get equal shares: 100,000 rows
    in chunks of 65,536 left one thread 65% of the work. The cut depends on
    ``n_rows`` and ``cap`` only, never on the threads, so sums come out the same.
    """
    n_chunks = 4 * max(1, -(-n_rows // (4 * max(cap, 1))))
    return max(1, -(-n_rows // n_chunks))


def resolve_chunk_size(chunk_size: int | None, n_components: int, n_features: int) -> int:
    """Validate a user chunk size or pick the default."""
    if chunk_size is None:
        return default_chunk_size(n_components, n_features)
    ok = isinstance(chunk_size, (int, np.integer)) and not isinstance(chunk_size, bool)
    if not ok or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    return int(chunk_size)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of threads: ``None`` or ``-1`` means every available core."""
    if n_jobs is None or n_jobs == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs!r}")
    return int(n_jobs)


_CONTROLLER: list[Any] = []


def _blas_controller() -> Any:
    """One threadpoolctl controller for the process: building one scans every
    loaded library (milliseconds), too slow to repeat for each small fit."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


@contextmanager
def parallel(n_jobs: int | None) -> Iterator[None]:
    """Run the enclosed block's chunk maps on ``n_jobs`` threads, BLAS on one each."""
    token = _N_THREADS.set(resolve_n_jobs(n_jobs))
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _N_THREADS.reset(token)


def _pool(n: int) -> ThreadPoolExecutor:
    pool = _POOLS.get(n)
    if pool is None:
        pool = _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="gaussmix")
    return pool


def current_n_jobs() -> int:
    """Threads the enclosing :func:`parallel` block asked for (1 outside one)."""
    return _N_THREADS.get()


def thread_pool(n: int) -> ThreadPoolExecutor:
    """The shared pool of ``n`` threads."""
    return _pool(n)


class RowSlices:
    """Stands in for an array in :func:`map_blocks`: indexing gives the slice itself.

    Lets a block function reach several row-aligned arrays (data, labels,
    per-row state) through one slice.
    """

    def __init__(self, n: int) -> None:
        self.shape = (n,)

    def __getitem__(self, sl: slice) -> slice:
        return sl


def iter_slices(n_rows: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def map_blocks(
    X: Any, w: np.ndarray, chunk_size: int, fn: Callable[[Any, np.ndarray], T]
) -> list[T]:
    """``[fn(X[rows], w[rows]) for each chunk]``, in chunk order, on the thread pool."""
    slices = list(iter_slices(X.shape[0], chunk_size))
    wpart = _weight_chunks(w, chunk_size)
    n = min(_N_THREADS.get(), len(slices))
    if n <= 1:
        return [fn(X[sl], wpart(sl)) for sl in slices]
    return list(_pool(n).map(lambda sl: fn(X[sl], wpart(sl)), slices))


def _weight_chunks(w: np.ndarray, chunk_size: int) -> Callable[[slice], np.ndarray]:
    """Each chunk's weights. A constant broadcast (unweighted fits keep no weight
    per row) is served as slices of one contiguous chunk-sized array: a
    stride-0 vector falls off BLAS, ``w @ M`` on it is ~10x slower."""
    value = constant_weight(w)
    if value is not None:
        const = np.full(min(chunk_size, w.shape[0]), value)
        return lambda sl: const[: sl.stop - sl.start]
    return lambda sl: w[sl]


def constant_weight(w: Any) -> float | None:
    """The value of a broadcast (stride-0) weight vector, else None."""
    if isinstance(w, np.ndarray) and w.ndim == 1 and w.size and w.strides == (0,):
        return float(w[0])
    return None


def map_blocks_sum(
    X: Any, w: np.ndarray | None, chunk_size: int, fn: Callable[[Any, np.ndarray], T]
) -> T:
    """Sum of ``fn(X[rows], w[rows])`` over row chunks, added in chunk order.

    ``fn`` must return something that supports ``+`` (statistics do). ``X``
    may also be a block source (anything with a ``map_sum`` method: files,
    Dask arrays), which then carries its own weights (``w`` is ignored).
    """
    if hasattr(X, "map_sum"):
        return X.map_sum(fn, chunk_size)  # type: ignore[no-any-return]
    assert w is not None
    parts = map_blocks(X, w, chunk_size, fn)
    if not parts:
        raise ValueError("no rows to process")
    total = parts[0]
    for part in parts[1:]:
        total = total + part  # type: ignore[operator]
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
    parts = map_blocks(X, np.empty(X.shape[0]), chunk_size, lambda Xb, _w: fn(Xb))
    if not parts:
        return np.empty((0,) if width is None else (0, width), dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def weighted_mean_variance(
    X: np.ndarray, w: np.ndarray, shift: np.ndarray, chunk_size: int
) -> float:
    """Mean over features of the weighted variance about ``shift`` (the weighted mean).

    Scales k-means' tolerance; weighted so that integer weights act as repeats.
    """

    def part(Xb: np.ndarray, wb: np.ndarray) -> float:
        return float(weighted_sq_dev(kernel_block(Xb), np.ascontiguousarray(wb),
                                     np.ascontiguousarray(shift, dtype=np.float64)))

    # Blocks of ~4 MiB, as for the mean: k-means' chunk can be 1,024 rows, and
    # 50 Python round trips made this pass 2.4 ms on W3 (50,000 x 64).
    rows = max(chunk_size, (4 << 20) // (8 * max(X.shape[1], 1)))
    return map_blocks_sum(X, w, rows, part) / (float(w.sum()) * X.shape[1])
