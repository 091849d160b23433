"""Lloyd's algorithm on the shared block machinery.

The k-means E-step is nearest-centroid assignment; its statistics are the
counts and sums of :class:`~gaussmix.stats.SuffStats` with no second moment,
and its objective is minus the inertia. This is the GMM E-step with one shared
spherical covariance, equal weights and hard responsibilities.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from ._barrier import FLAG_STRIDE, barrier, new_flags, run_together, usable_cpus
from ._blocks import kernel_block
from ._jit import kernel
from ._lloyd_bounded import _ONE_RUN_CELLS, lloyd_bounded
from .execution import RowSlices, map_blocks_sum
from .execution.chunks import balanced_chunk, constant_weight, current_n_jobs
from .stats import SuffStats


class KMeansResult(NamedTuple):
    centers: np.ndarray
    labels: np.ndarray | None
    inertia: float
    n_iter: int


# Rows per tile of the assignment kernel: its (tile, d) and (tile, k) buffers
# stay in L2 cache while one GEMM gives all the tile's dot products. Measured
# per pass against 256 rows (1 thread, best of 20): W3 float32 4.1 -> 3.0 ms,
# W3 float64 5.7 -> 4.7 ms, W4 8-10% less, W2 the same.
_TILE = 1024


# Up to this many features, distances are taken directly (vectorised across
# a tile's rows) rather than by GEMM: with d this small the GEMM's shifted
# copy and call cost more than the arithmetic (measured a pass, 1 thread:
# W1 d = 2, 0.88 -> 0.39 ms; W4 d = 8 float64, 17.0 -> 13.6 ms; float32 rows
# keep their twice-as-fast float32 GEMM from d = 5).
_DIRECT_FEATURES = 4
_DIRECT_FEATURES_F64 = 8
# Up to this many k (d + 1) the direct path sums by masks across the tile
# (W1, k = 5, d = 2: a pass 0.52 -> 0.35 ms, 1 thread).
_MASKED_SUMS = 24


@kernel(reassociate=True)
def _assign_kernel(X, w, centers_c, shift, sums, counts, labels, d2, inertia,  # type: ignore[no-untyped-def]
                   buf, raw, delta):
    """Nearest centre of each row; weighted counts and sums per centre; inertia.

    One pass per tile of rows: shift into a buffer in the input's dtype
    (float32 rows get a float32 GEMM, twice the rate, as in scikit-learn),
    one GEMM against the centres, then argmin, and the sums accumulated in
    float64 from the rows themselves (so float32 rounding of the buffer only
    touches the choice of centre; float64 rows read the buffer, which holds
    x - shift exactly). With few columns (``_DIRECT_FEATURES*``) the tile is
    transposed into float64 instead and the distances summed directly,
    centre by centre, across the tile's rows (``buf``, the GEMM path's
    (tile, d) buffer, is then unused). ``labels``/``d2`` are written when they
    have a row each (an empty array skips either); the inertia (returned,
    else 0) is summed only when ``inertia`` is true. Ties go to the first
    centre. An empty ``w`` means unit weights. With ``raw`` (C-ordered rows
    whose shift is small beside their spread, see :func:`lloyd`) the GEMM
    path reads the rows as given, against the unshifted centres: no shifted
    copy of the tile (W3 float32 pass, 1 thread: 3.0 -> 2.4 ms). With
    ``delta`` (GEMM path only) ``labels`` holds each row's label from the
    previous pass (-1: none) and ``sums``/``counts`` receive only the changes:
    ``+w x`` to the new centre and ``-w x`` to the old one of each row that
    moved (a settled pass adds nothing; the float64 sums were 30% of a W3
    float32 pass).
    """
    n, d = X.shape
    k = centers_c.shape[0]
    wide = X.itemsize == 8
    direct = d <= _DIRECT_FEATURES or (d <= _DIRECT_FEATURES_F64 and wide)
    masked = direct and k * (d + 1) <= _MASKED_SUMS
    raw = raw and not direct
    delta = delta and not direct
    ct = np.empty((d, k), dtype=X.dtype)
    csq = np.zeros(k)
    for c in range(k):
        for j in range(d):
            v = centers_c[c, j] + shift[j] if raw else centers_c[c, j]
            ct[j, c] = v
            csq[c] += v * v
    keep_labels = labels.shape[0] > 0
    keep_d2 = d2.shape[0] > 0
    dots = np.empty((_TILE if not direct else 0, k), dtype=X.dtype)
    xt = np.empty((d if direct else 0, _TILE))
    best = np.empty(_TILE)
    acc = np.empty(_TILE)
    lab = np.zeros(_TILE, dtype=np.intp)
    unweighted = 1 if w.shape[0] == 0 else 0  # an empty w stands for unit weights
    total = 0.0
    for start in range(0, n, _TILE):
        m = min(_TILE, n - start)
        if direct:
            # column by column: a loop over the tile's rows vectorises (strided
            # loads); one over a row's few columns does not (W1 pass 0.55 -> 0.43 ms,
            # W4 float64 31 -> 25 ms, 1 thread)
            for j in range(d):
                sj = shift[j]
                for i in range(m):
                    xt[j, i] = np.float64(X[start + i, j]) - sj
            best[:m] = np.inf
            for c in range(k):
                acc[:m] = 0.0
                for j in range(d):
                    cj = centers_c[c, j]
                    for i in range(m):
                        t = xt[j, i] - cj
                        acc[i] += t * t
                for i in range(m):  # selects, not a branch: vectorised (W1 pass -17%)
                    a = acc[i]
                    b = best[i]
                    better = a < b
                    best[i] = a if better else b
                    lab[i] = c if better else lab[i]
            if masked:
                # Few centres and columns: per centre, masked sums across the
                # tile (vectorised) beat a scattered update per row, whose
                # store-to-load chains stall when neighbours share a label.
                for i in range(m):
                    acc[i] = w[start + i] if unweighted == 0 else 1.0
                for c in range(k):
                    cnt = 0.0
                    for i in range(m):
                        cnt += acc[i] if lab[i] == c else 0.0
                    counts[c] += cnt
                    for j in range(d):
                        s = 0.0
                        for i in range(m):
                            s += acc[i] * xt[j, i] if lab[i] == c else 0.0
                        sums[c, j] += s
                for i in range(m):
                    total += acc[i] * best[i]
                    if keep_d2:
                        d2[start + i] = best[i]
                    if keep_labels:
                        labels[start + i] = lab[i]
                continue
            for i in range(m):
                li = lab[i]
                wi = w[start + i] if unweighted == 0 else 1.0
                counts[li] += wi
                for j in range(d):
                    sums[li, j] += wi * xt[j, i]
                total += wi * best[i]
                if keep_d2:
                    d2[start + i] = best[i]
                if keep_labels:
                    labels[start + i] = li
            continue
        if raw:
            np.dot(X[start:start + m], ct, dots[:m])
        else:
            for i in range(m):
                for j in range(d):
                    buf[i, j] = X[start + i, j] - shift[j]
            # (a leading slice keeps C order: one buffer serves the short last tile)
            np.dot(buf[:m], ct, dots[:m])
        for i in range(m):
            # ||x||² is the same for every centre: the argmin needs ||c||² - 2 x·c.
            low = np.inf
            li = 0
            for c in range(k):
                v = csq[c] - 2.0 * dots[i, c]
                if v < low:
                    low = v
                    li = c
            wi = w[start + i] if unweighted == 0 else 1.0
            old = labels[start + i] if delta else -1
            if not delta or old != li:
                counts[li] += wi
                if old >= 0:
                    counts[old] -= wi
                if wide and not raw:  # float64 rows: the buffer holds exactly x - shift
                    for j in range(d):
                        sums[li, j] += wi * buf[i, j]
                    if old >= 0:
                        for j in range(d):
                            sums[old, j] -= wi * buf[i, j]
                else:
                    for j in range(d):
                        sums[li, j] += wi * (np.float64(X[start + i, j]) - shift[j])
                    if old >= 0:
                        for j in range(d):
                            sums[old, j] -= wi * (np.float64(X[start + i, j]) - shift[j])
            if inertia or keep_d2:
                dist = 0.0  # to the chosen centre directly: no cancellation
                for j in range(d):
                    t = (np.float64(X[start + i, j]) - shift[j]) - centers_c[li, j]
                    dist += t * t
                total += wi * dist
                if keep_d2:
                    d2[start + i] = dist
            if keep_labels:
                labels[start + i] = li
    return total if inertia else 0.0


def _tile_buffers(dtype: np.dtype, d: int) -> tuple[np.ndarray]:
    """The kernel's (tile, d) buffer, in the dtype of the rows."""
    return (np.empty((_TILE, d), dtype=np.float32 if dtype == np.float32 else np.float64),)


def _is_unit(w: Any) -> bool:
    """Whether ``w`` is the broadcast 1.0 of an unweighted fit."""
    return constant_weight(w) == 1.0


def _kernel_weights(w: np.ndarray, unit: bool = False) -> np.ndarray:
    """Weights for the kernel: an empty array stands for unit weights (nothing read per row).

    ``unit`` says so for blocks whose weights the chunk map has already made
    contiguous (it serves a broadcast as slices of one array).
    """
    if unit or _is_unit(w):
        return _UNIT_WEIGHTS
    return np.ascontiguousarray(w, dtype=np.float64)


_NO_LABELS = np.empty(0, dtype=np.intp)
_NO_D2 = np.empty(0)
_UNIT_WEIGHTS = np.empty(0)  # the kernel reads an empty w as unit weights


def _assign(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, shift: np.ndarray, rows: bool,
    inertia: bool = True, unit: bool = False, raw: bool = False,
) -> tuple[SuffStats, np.ndarray, np.ndarray]:
    """Run :func:`_assign_kernel` on a block; statistics (objective: -inertia), labels, d2."""
    X = kernel_block(X)
    k, d = centers_c.shape
    n = X.shape[0]
    sums, counts = np.zeros((k, d)), np.zeros(k)
    labels = np.empty(n, dtype=np.intp) if rows else _NO_LABELS
    d2 = np.empty(n) if rows else _NO_D2
    inertia = _assign_kernel(X, _kernel_weights(w, unit),
                             np.ascontiguousarray(centers_c, dtype=np.float64),
                             np.ascontiguousarray(shift, dtype=np.float64),
                             sums, counts, labels, d2, inertia, *_tile_buffers(X.dtype, d), raw,
                             False)
    return SuffStats(counts, sums, np.zeros(()), -float(inertia)), labels, d2


def nearest_center(Xc: np.ndarray, centers_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label of the nearest centre and the squared distance to it, per row.

    Both arguments are shifted float64 arrays.
    """
    _, labels, d2 = _assign(Xc, np.broadcast_to(1.0, (Xc.shape[0],)), centers_c,
                            np.zeros(centers_c.shape[1]), rows=True)
    return labels, d2


def lloyd_block(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, shift: np.ndarray
) -> tuple[SuffStats, np.ndarray, np.ndarray]:
    """Assign a block to its nearest centres; statistics, labels, squared distances."""
    return _assign(X, w, centers_c, shift, rows=True)


class _Farthest(NamedTuple):
    """The rows farthest from their centres, most distant first (ties: earlier row)."""

    size: int
    d2: np.ndarray
    rows: np.ndarray
    labels: np.ndarray
    w: np.ndarray

    def __add__(self, other: object) -> _Farthest:  # type: ignore[override]
        if not isinstance(other, _Farthest):
            return NotImplemented
        pairs = zip(self[1:], other[1:], strict=True)
        return _farthest(self.size, *(np.concatenate([a, b]) for a, b in pairs))


def _farthest(size: int, d2: np.ndarray, rows: np.ndarray, labels: np.ndarray,
              w: np.ndarray) -> _Farthest:
    n = d2.shape[0]
    if n > size:  # candidates: every row at least as far as the size-th farthest
        cand = np.flatnonzero(d2 >= np.partition(d2, n - size)[n - size])
    else:
        cand = np.arange(n)
    keep = cand[np.argsort(-d2[cand], kind="stable")][:size]
    return _Farthest(size, d2[keep], rows[keep], labels[keep], w[keep])


def _lloyd_stats(X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray,
                 shift: np.ndarray, inertia: bool = False, unit: bool = False,
                 raw: bool = False) -> SuffStats:
    return _assign(X, w, centers_c, shift, rows=False, inertia=inertia, unit=unit, raw=raw)[0]


def _lloyd_far(X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray,
               shift: np.ndarray) -> _Farthest:
    """A block's rows farthest from their centres (candidates for empty clusters)."""
    _, labels, d2 = _assign(X, w, centers_c, shift, rows=True)
    Xc = np.asarray(X, dtype=np.float64) - shift
    return _farthest(centers_c.shape[0], d2, Xc, labels, w)


def _relocate_empty(stats: SuffStats, far: _Farthest) -> SuffStats:
    """Move each empty cluster onto one of the points farthest from its centre."""
    nk, sk = stats.nk.copy(), stats.sk.copy()
    empty = np.flatnonzero(nk == 0)
    if empty.size == 0:
        return stats
    for j, new_id in enumerate(empty):
        x, old_id, wi = far.rows[j], far.labels[j], far.w[j]
        sk[old_id] -= wi * x
        nk[old_id] -= wi
        sk[new_id] = wi * x
        nk[new_id] = wi
    return SuffStats(nk, sk, stats.Sk, stats.objective)


def _kernel_chunk(n_rows: int) -> int:
    """Rows per call of the assignment kernel on an in-memory array.

    The kernel's temporaries are per tile, so blocks need not follow the
    chunk that bounds (chunk, k, d) temporaries elsewhere: up to 65,536 rows
    (few enough calls that their Python cost stays small beside the pass),
    cut evenly for the threads.
    """
    return balanced_chunk(n_rows, 65536)


def assign_labels(
    X: np.ndarray, w: np.ndarray, centers: np.ndarray, shift: np.ndarray, raw: bool = False,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Nearest-centre label of every row of an array, and the weighted inertia.

    Only the labels are kept per row (distances are summed block by block).
    ``raw``: GEMMs over the rows as given (see :func:`lloyd`). ``previous``
    (labels of a pass from nearby centres, overwritten) spares the GEMM path
    the per-centre sums of the rows that keep their label, which no one reads.
    """
    n = X.shape[0]
    delta = previous is not None
    labels = previous if previous is not None else np.empty(n, dtype=np.intp)
    cc = centers - shift
    k, d = cc.shape
    unit = _is_unit(w)

    def block(sl: slice, wb: np.ndarray) -> float:
        Xb = kernel_block(X[sl])
        return float(_assign_kernel(Xb, _kernel_weights(wb, unit), cc, shift,
                                    np.zeros((k, d)), np.zeros(k), labels[sl], _NO_D2, True,
                                    *_tile_buffers(Xb.dtype, d), raw, delta))

    inertia = map_blocks_sum(RowSlices(n), w, _kernel_chunk(n), block)
    return labels, inertia


@kernel
def _delta_finish(change_s, change_c, sums, counts, centers_c):  # type: ignore[no-untyped-def]
    """The end of a pass of :func:`_lloyd_delta`: adds the pass's changes to the
    running ``sums``/``counts``; returns -1 if a cluster then holds at most 1e-9
    of the weight (the caller redoes the pass plainly), else moves
    ``centers_c`` to ``sums / counts`` in place and returns the squared move.
    (One compiled routine for the pooled and the one-call paths: the same bits.)
    """
    k, d = sums.shape
    sums += change_s
    counts += change_c
    total = 0.0
    for c in range(k):
        total += counts[c]
    for c in range(k):
        if counts[c] <= 1e-9 * total:
            return -1.0
    moved = 0.0
    for c in range(k):
        nk = counts[c] if counts[c] > 0 else 1.0
        for j in range(d):
            new = sums[c, j] / nk
            t = new - centers_c[c, j]
            moved += t * t
            centers_c[c, j] = new
    return moved


@kernel
def _delta_run(X, w, centers_c, shift, labels, part_s, part_c, sums, counts, buf, no_d2,  # type: ignore[no-untyped-def]
               raw, chunk, first, last, flags, stride, me, start, max_iter, tol):
    """:func:`_lloyd_delta`'s iterations ``start + 1``, ... over blocks ``first`` to
    ``last - 1``, as thread ``me`` of those whose flags are ``flags`` (one every
    ``stride``).

    Each pass is :func:`_assign_kernel` (``delta``) on this thread's blocks
    into the halves ``part_s[it % 2]`` / ``part_c[it % 2]``, then
    :func:`~gaussmix._barrier.barrier`; each thread then adds every block's
    changes in block order and :func:`_delta_finish` into its own ``sums``,
    ``counts`` and ``centers_c``: the same numbers in every thread (``no_d2``:
    an empty array, no distances kept). Stops after ``max_iter`` iterations in
    all or when the squared move is at most ``tol``. Returns the last move and
    the iterations done: move -1 when a cluster holds at most 1e-9 of the
    weight (the caller redoes that pass plainly), -2 when another thread failed.
    """
    n, d = X.shape
    k = centers_c.shape[0]
    n_blocks = part_s.shape[1]
    unweighted = w.shape[0] == 0
    change_s = np.empty((k, d))
    change_c = np.empty(k)
    moved = 0.0
    it = start
    while it < max_iter:
        par = it % 2
        for blk in range(first, last):
            lo = blk * chunk
            hi = min(n, lo + chunk)
            ps = part_s[par, blk]
            pc = part_c[par, blk]
            ps[:] = 0.0
            pc[:] = 0.0
            _assign_kernel(X[lo:hi], w if unweighted else w[lo:hi], centers_c, shift, ps, pc,
                           labels[lo:hi], no_d2, False, buf, raw, True)
        if not barrier(flags, stride, me, it):
            return -2.0, it
        change_s[:] = part_s[par, 0]
        change_c[:] = part_c[par, 0]
        for blk in range(1, n_blocks):
            change_s += part_s[par, blk]
            change_c += part_c[par, blk]
        moved = _delta_finish(change_s, change_c, sums, counts, centers_c)
        it += 1
        if moved <= tol:  # (also a nearly empty cluster's -1)
            break
    return moved, it


def _lloyd_delta(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, *, max_iter: int, tol: float,
    shift: np.ndarray, chunk: int, raw: bool,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Lloyd's GEMM passes on an in-memory array, the sums kept from pass to pass.

    Each row's label is kept; a pass adds to the running sums only the rows
    that changed centre (``delta`` in :func:`_assign_kernel`), block sums in
    block order, so the threads never change the result. The labels are those
    of the plain passes; the sums differ from fresh ones by round-off. A pass
    that leaves a cluster with at most 1e-9 of the weight (weighted counts
    updated by differences need not reach exactly 0) is redone by the plain
    pass, which relocates an empty cluster; the next pass then adds every row
    afresh. A C-ordered float array of up to ``_ONE_RUN_CELLS`` rows x centres
    runs its iterations in one compiled call per thread (:func:`_delta_run`);
    otherwise each pass is a map of blocks on the pool. Returns the final
    shifted centres, the number of iterations and the labels of the last pass.
    """
    n, d = X.shape
    k = centers_c.shape[0]
    unit = _is_unit(w)
    labels = np.full(n, -1, dtype=np.intp)
    shift64 = np.ascontiguousarray(shift, dtype=np.float64)
    n_blocks = -(-n // chunk)
    one_run = (n * k <= _ONE_RUN_CELLS and X.flags.c_contiguous
               and X.dtype in (np.float32, np.float64))
    threads = min(current_n_jobs(), n_blocks, usable_cpus()) if one_run else 1
    # each thread's own copy of the centres and sums (one when pooled)
    centers = np.repeat(np.asarray(centers_c, dtype=np.float64)[None], threads, axis=0)
    sums, counts = np.zeros((threads, k, d)), np.zeros((threads, k))
    n_iter = 0
    if one_run:
        wk = _kernel_weights(w, unit)
        part_s, part_c = np.empty((2, n_blocks, k, d)), np.empty((2, n_blocks, k))
        cuts = np.linspace(0, n_blocks, threads + 1).round().astype(int)
        bufs = [_tile_buffers(X.dtype, d)[0] for _ in range(threads)]
        flags = new_flags(threads)

        def run(t: int) -> tuple[float, int]:
            return _delta_run(X, wk, centers[t], shift64, labels, part_s, part_c, sums[t],  # type: ignore[no-any-return]
                              counts[t], bufs[t], _NO_D2, raw, chunk, cuts[t], cuts[t + 1], flags,
                              FLAG_STRIDE, t, n_iter, max_iter, tol)
    else:
        def block(sl: slice, wb: np.ndarray) -> SuffStats:
            Xb = kernel_block(X[sl])
            s, c = np.zeros((k, d)), np.zeros(k)
            _assign_kernel(Xb, _kernel_weights(wb, unit), centers[0], shift64, s, c,
                           labels[sl], _NO_D2, False, *_tile_buffers(Xb.dtype, d), raw, True)
            return SuffStats(c, s, np.zeros(()), 0.0)

    while n_iter < max_iter:
        if one_run:
            shift_tot, n_iter = run_together(run, threads, flags)
        else:
            change = map_blocks_sum(RowSlices(n), w, chunk, block)
            shift_tot = _delta_finish(change.sk, change.nk, sums[0], counts[0], centers[0])
            n_iter += 1
        if shift_tot == -1.0:  # the plain pass relocates; a relocated row's label is stale
            stats = _plain_pass(X, w, chunk, centers[0], shift, unit, raw)
            new_c = stats.sk / np.where(stats.nk > 0, stats.nk, 1.0)[:, None]
            shift_tot = float(np.sum((new_c - centers[0]) ** 2))
            centers[:] = new_c
            labels[:] = -1  # the next pass adds every row afresh
            sums[:] = 0.0
            counts[:] = 0.0
        if shift_tot <= tol:
            break
    return centers[0], n_iter, labels


def _plain_pass(X: Any, w: np.ndarray | None, chunk: int, centers_c: np.ndarray,
                shift: np.ndarray, unit: bool, raw: bool = False) -> SuffStats:
    """One plain Lloyd pass's statistics; an empty cluster takes a farthest row."""
    stats = map_blocks_sum(X, w, chunk, partial(_lloyd_stats, centers_c=centers_c, shift=shift,
                                                unit=unit, raw=raw))
    if np.any(stats.nk == 0):
        far = map_blocks_sum(X, w, chunk, partial(_lloyd_far, centers_c=centers_c, shift=shift))
        stats = _relocate_empty(stats, far)
    return stats


def lloyd(
    X: Any,
    w: np.ndarray | None,
    centers_init: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    shift: np.ndarray,
    chunk_size: int,
    bounds: bool | None = None,
    spread: float = 0.0,
) -> KMeansResult:
    """Lloyd iterations from given centres (private: assumes validated input).

    ``X`` is an array (with weights ``w``) or a block source: each iteration
    is one pass through :func:`~gaussmix.execution.map_blocks_sum`. Stops when
    the summed squared centre shift falls to ``tol`` (already scaled to the
    data); unchanged labels give unchanged centres, a shift of exactly 0.
    Like scikit-learn's ``lloyd``, a final assignment makes labels match
    centres; ``labels`` is ``None`` for a block source (no per-row state).
    An empty cluster takes one of the rows farthest from their centres, found
    by a second pass with the same centres (rare, so not tracked every pass).
    ``bounds`` (default: arrays whose plain pass computes direct distances,
    at most 4 float32 or 8 float64 columns) runs the same iterations with
    Hamerly's bounds (:func:`~gaussmix._lloyd_bounded.lloyd_bounded`). ``spread`` is the data's
    ``Σ_j var_j`` (0: unknown); where the squared shift is at most that, a
    C-ordered array's GEMM passes read its rows as given: a dot product's
    rounding error, ~eps·|x||c| against ~eps·|x - s||c - s| shifted, is then at
    most about twice the shifted form's.
    """
    centers_c = np.asarray(centers_init, dtype=np.float64) - shift
    chunk = _kernel_chunk(X.shape[0]) if isinstance(X, np.ndarray) else chunk_size
    unit = _is_unit(w)
    n_iter = 0
    previous = None
    if bounds is None:
        bounds = isinstance(X, np.ndarray) and X.shape[1] <= (
            _DIRECT_FEATURES if X.dtype == np.float32 else _DIRECT_FEATURES_F64)
    raw = isinstance(X, np.ndarray) and X.flags.c_contiguous and float(shift @ shift) <= spread
    gemm = isinstance(X, np.ndarray) and X.shape[1] > (
        _DIRECT_FEATURES if X.dtype == np.float32 else _DIRECT_FEATURES_F64)
    if bounds and max_iter > 0:
        assert isinstance(X, np.ndarray) and w is not None
        centers_c, n_iter = lloyd_bounded(X, w, centers_c, max_iter=max_iter, tol=tol,
                                           shift=shift, chunk=chunk)
    elif gemm and max_iter > 0:
        assert isinstance(X, np.ndarray) and w is not None
        centers_c, n_iter, previous = _lloyd_delta(X, w, centers_c, max_iter=max_iter, tol=tol,
                                                   shift=shift, chunk=chunk, raw=raw)
    else:
        for n_iter in range(1, max_iter + 1):
            stats = _plain_pass(X, w, chunk, centers_c, shift, unit, raw)
            new_c = stats.sk / np.where(stats.nk > 0, stats.nk, 1.0)[:, None]
            shift_tot = float(np.sum((new_c - centers_c) ** 2))
            centers_c = new_c
            if shift_tot <= tol:
                break
    centers = centers_c + shift
    if isinstance(X, np.ndarray):
        assert w is not None
        labels, inertia = assign_labels(X, w, centers, shift, raw, previous)
        return KMeansResult(centers, labels, inertia, n_iter)
    stats = map_blocks_sum(X, w, chunk, partial(_lloyd_stats, centers_c=centers_c, shift=shift,
                                                inertia=True, unit=unit))
    return KMeansResult(centers, None, -stats.objective, n_iter)
