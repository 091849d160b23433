"""Lloyd's iterations with Hamerly's bounds, for in-memory arrays of few features.

Each row keeps an upper bound on the distance to its centre and a lower bound
on the distance to every other; rows whose bounds settle their label are not
recomputed (:func:`_bounded_step`). On small data the iterations run inside
one compiled call per thread (:func:`_bounded_run`), which meet at a barrier
(:mod:`gaussmix._barrier`) after each assignment.
"""

from __future__ import annotations

import math

import numpy as np

from ._barrier import FLAG_STRIDE, barrier, new_flags, run_together, usable_cpus
from ._blocks import kernel_block
from ._jit import kernel
from .execution.chunks import current_n_jobs, thread_pool

# Rows per tile of the bounds update and of the gathered rows' distances.
_TILE = 1024


# Hamerly's bounds are used where the plain pass takes the direct path
# (_DIRECT_FEATURES*): its labels come from the same exact float64 distances,
# so the iterates are the same. (Float32 rows with 5-8 features go through a
# float32 GEMM there, whose rounding can decide a close call differently;
# measured gains: benchmarks/NOTES.md #66.)
# Bounds are kept in float32 (8 bytes a row), the upper one rounded up and
# the lower one down by more than float32's half ulp (2^-24), so both stay
# bounds; a row is skipped only with a relative margin of _SKIP_MARGIN, so
# that rounding never decides a near tie (those rows get exact distances).
_UP = 1.0 + 2.0**-22
_DOWN = 1.0 - 2.0**-22
_SKIP_MARGIN = 1.0 - 1e-12
# Up to this many centres, the bounds update selects each row's drift (no gathers).
_SELECT_CENTRES = 16


@kernel(reassociate=True)
def _bounded_step(X, w, centers_c, shift, drift, half_sep, labels, upper, lower,  # type: ignore[no-untyped-def]
                  part_s, part_c, full, chunk, first, last):
    """One Lloyd assignment of blocks ``first`` to ``last - 1`` of ``chunk`` rows
    with Hamerly's bounds (exact: the same labels).

    ``upper[i]`` bounds the distance from row i to its centre ``labels[i]``
    from above, ``lower[i]`` the distance to every other centre from below.
    Moving the centres by ``drift`` loosens both; a row whose upper bound is
    below both its lower bound and half the distance from its centre to the
    nearest other (``half_sep``) keeps its label with no distance computed.
    Per 1,024-row tile, the bounds are updated in one vectorised loop, the
    rows left in doubt are gathered (transposed, float64, shifted) and their
    distances to every centre taken across them as in the direct Lloyd pass,
    giving the best and second-best distance: the new label and bounds. With
    ``full`` every row is computed and block b's ``part_s[b]``/``part_c[b]``
    (zeroed here) receive its sums and counts; otherwise they receive the
    changes, ``-w x`` to the old centre and ``+w x`` to the new one of each row
    that moved (the caller adds the blocks in block order, so any split of the
    blocks among threads gives the same totals). Returns the number of rows
    computed. An empty ``w`` means unit weights.
    """
    n, d = X.shape
    k = centers_c.shape[0]
    unweighted = w.shape[0] == 0
    top = -1  # the centre that moved most, and the two largest moves
    m1 = 0.0
    m2 = 0.0
    for c in range(k):
        if drift[c] > m1:
            m2 = m1
            m1 = drift[c]
            top = c
        elif drift[c] > m2:
            m2 = drift[c]
    # a row of centre c subtracts m2 (c == top) or m1 from its lower bound
    drift_t = np.empty(_TILE)
    sep_t = np.empty(_TILE)
    doubt = np.empty(_TILE, dtype=np.uint8)
    idx = np.empty(_TILE, dtype=np.intp)
    xt = np.empty((d, _TILE))
    acc = np.empty(_TILE)
    b1 = np.empty(_TILE)
    b2 = np.empty(_TILE)
    lab = np.zeros(_TILE, dtype=np.intp)
    computed = 0
    for blk in range(first, last):
        lo_row = blk * chunk
        hi_row = min(n, lo_row + chunk)
        sums = part_s[blk]
        counts = part_c[blk]
        sums[:] = 0.0
        counts[:] = 0.0
        for start in range(lo_row, hi_row, _TILE):
            m = min(_TILE, hi_row - start)
            if full:
                for i in range(m):
                    doubt[i] = 1
            else:
                # (the tile's views, indexed from 0: this loop runs 25% faster)
                lab_t = labels[start:start + m]
                up_t = upper[start:start + m]
                low_t = lower[start:start + m]
                # Each row's centre's drift and half separation: gathers keep the
                # loop below scalar, so with few centres they are picked by one
                # vectorised pass of selects per centre (W1: 0.26 -> ~0.1 ms a pass)
                for i in range(m):
                    drift_t[i] = drift[0]
                    sep_t[i] = half_sep[0]
                for c in range(1, k if k <= _SELECT_CENTRES else 1):
                    dc = drift[c]
                    hc = half_sep[c]
                    for i in range(m):
                        here = lab_t[i] == c
                        drift_t[i] = dc if here else drift_t[i]
                        sep_t[i] = hc if here else sep_t[i]
                if k > _SELECT_CENTRES:
                    for i in range(m):
                        drift_t[i] = drift[lab_t[i]]
                        sep_t[i] = half_sep[lab_t[i]]
                for i in range(m):
                    u = np.float64(up_t[i]) + drift_t[i]
                    lo = np.float64(low_t[i]) - (m2 if lab_t[i] == top else m1)
                    z = max(lo, sep_t[i]) * _SKIP_MARGIN
                    up_t[i] = np.float32(u * _UP)
                    low_t[i] = np.float32(max(lo, 0.0) * _DOWN)
                    doubt[i] = 1 if u > z else 0
            cnt = 0
            for i in range(m):
                if doubt[i]:
                    idx[cnt] = start + i
                    cnt += 1
            if cnt == 0:
                continue
            computed += cnt
            for j in range(d):
                sj = shift[j]
                for q in range(cnt):
                    xt[j, q] = np.float64(X[idx[q], j]) - sj
            for q in range(cnt):
                b1[q] = np.inf
                b2[q] = np.inf
            for c in range(k):
                for q in range(cnt):
                    acc[q] = 0.0
                for j in range(d):
                    cj = centers_c[c, j]
                    for q in range(cnt):
                        t = xt[j, q] - cj
                        acc[q] += t * t
                for q in range(cnt):  # selects: vectorised across the rows
                    v = acc[q]
                    old = b1[q]
                    better = v < old
                    b2[q] = old if better else min(b2[q], v)
                    b1[q] = v if better else old
                    lab[q] = c if better else lab[q]
            for q in range(cnt):
                i = idx[q]
                best = lab[q]
                a = labels[i]
                upper[i] = np.float32(math.sqrt(b1[q]) * _UP)
                lower[i] = np.float32(math.sqrt(b2[q]) * _DOWN)
                labels[i] = best
                if not full and best == a:
                    continue
                wi = 1.0 if unweighted else w[i]
                counts[best] += wi
                for j in range(d):
                    sums[best, j] += wi * xt[j, q]
                if not full:
                    counts[a] -= wi
                    for j in range(d):
                        sums[a, j] -= wi * xt[j, q]
    return computed


@kernel
def _half_separation(centers_c, out):  # type: ignore[no-untyped-def]
    """Half the distance from each centre to its nearest other (inf for k = 1), rounded down.

    Direct differences, not the Gram form: its cancellation could overstate
    the distance between close centres and skip a row that should move.
    """
    k, d = centers_c.shape
    for c in range(k):
        out[c] = np.inf
    for c in range(k):
        for e in range(c + 1, k):
            dist = 0.0
            for j in range(d):
                t = centers_c[c, j] - centers_c[e, j]
                dist += t * t
            out[c] = min(out[c], dist)
            out[e] = min(out[e], dist)
    for c in range(k):
        out[c] = 0.5 * math.sqrt(out[c]) * _DOWN


@kernel
def _bounded_finish(part_s, part_c, sums, counts, full, centers_c, drift, check):  # type: ignore[no-untyped-def]
    """The end of a bounded Lloyd iteration, in one call (NumPy's ten small
    calls cost ~60 µs an iteration, 2.5 ms of W1's 42).

    The blocks' sums are added in block order into ``sums``/``counts``
    (replacing them when ``full``). With ``check``, returns -1 if a cluster
    then holds at most 1e-9 of the weight (weighted counts updated by
    differences need not reach exactly 0 when it empties: the caller redoes
    the pass plainly). Otherwise moves the centres to ``sums / counts`` in
    place, writes each centre's move, rounded up, to ``drift`` and returns
    the summed squared move.
    """
    n_blocks, k, d = part_s.shape
    for c in range(k):
        tc = part_c[0, c]
        for blk in range(1, n_blocks):
            tc += part_c[blk, c]
        counts[c] = tc if full else counts[c] + tc
        for j in range(d):
            ts = part_s[0, c, j]
            for blk in range(1, n_blocks):
                ts += part_s[blk, c, j]
            sums[c, j] = ts if full else sums[c, j] + ts
    total = 0.0
    for c in range(k):
        total += counts[c]
    for c in range(k):
        if check and counts[c] <= 1e-9 * total:
            return -1.0
    moved_all = 0.0
    for c in range(k):
        nk = counts[c] if counts[c] > 0 else 1.0
        moved = 0.0
        for j in range(d):
            new = sums[c, j] / nk
            t = new - centers_c[c, j]
            moved += t * t
            centers_c[c, j] = new
        drift[c] = math.sqrt(moved) * _UP
        moved_all += moved
    return moved_all


# Above this many rows x centres, every block of a bounded Lloyd pass is its
# own task on the pool, for the balance (W4's first pass: 2 runs 56.7 ms,
# 16 tasks 47.3 ms). Below, each thread runs all the iterations over one
# contiguous run of blocks in one compiled call (_bounded_run), where pooled
# tasks cost as much as the kernels (W1: 27 -> ~16 ms to convergence with one
# task per thread and iteration; benchmarks/NOTES.md #108 for the barrier).
_ONE_RUN_CELLS = 2**22


@kernel
def _bounded_run(X, w, centers_c, shift, drift, half_sep, labels, upper, lower, part_s,  # type: ignore[no-untyped-def]
                 part_c, sums, counts, full, chunk, first, last, flags, stride, me, start,
                 max_iter, tol):
    """Bounded Lloyd iterations ``start + 1``, ... of blocks ``first`` to ``last - 1``,
    as thread ``me`` of those whose flags are ``flags`` (one every ``stride``).

    Each iteration is :func:`_bounded_step` on this thread's blocks, into the
    halves ``part_s[it % 2]`` / ``part_c[it % 2]`` (it: iterations done), then
    :func:`~gaussmix._barrier.barrier`. Each thread then adds every block's sums in block order
    (:func:`_bounded_finish`) into its own ``sums``, ``counts``,
    ``centers_c`` and ``drift``: the same numbers in every thread, so all
    stop at the same iteration. (A thread may start the next assignment while
    another still reads this one's sums: it writes the other half.) Stops
    after ``max_iter`` iterations in all, when the squared move is at most
    ``tol``, or when a cluster is nearly empty (move -1: the caller
    relocates). Returns the last move and the iterations done; -2 if another
    thread failed (the failed flag, last, is set).
    """
    moved = 0.0
    it = start
    while it < max_iter:
        _half_separation(centers_c, half_sep)
        par = it % 2
        _bounded_step(X, w, centers_c, shift, drift, half_sep, labels, upper, lower,
                      part_s[par], part_c[par], full, chunk, first, last)
        if not barrier(flags, stride, me, it):
            return -2.0, it
        moved = _bounded_finish(part_s[par], part_c[par], sums, counts, full, centers_c,
                                drift, True)
        full = False
        it += 1
        if moved <= tol:  # (also a nearly empty cluster's -1)
            break
    return moved, it


def lloyd_bounded(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, *, max_iter: int, tol: float,
    shift: np.ndarray, chunk: int,
) -> tuple[np.ndarray, int]:
    """Lloyd's iterations with Hamerly's bounds on an in-memory array.

    The same iterates as :func:`~gaussmix.kmeans.lloyd`'s plain passes (each
    row's label is decided by exact float64 distances whenever the bounds
    leave it in doubt), with the sums updated by the rows that change centre.
    An iteration that leaves a cluster empty is redone by the plain pass,
    which relocates it; the next one then recomputes every row. Up to
    ``_ONE_RUN_CELLS`` rows x centres, each thread runs all the iterations
    over a contiguous run of ``chunk``-row blocks (:func:`_bounded_run`, as
    many threads as CPUs at most); above, every block of every iteration is
    its own task on the pool. Block sums are added in block order, so the
    threads never change the result. Returns the final shifted centres and
    the number of iterations.
    """
    from .kmeans import _is_unit, _kernel_weights, _plain_pass

    n, d = X.shape
    k = centers_c.shape[0]
    unit = _is_unit(w)
    labels = np.zeros(n, dtype=np.intp)
    upper = np.empty(n, dtype=np.float32)
    lower = np.empty(n, dtype=np.float32)
    n_blocks = -(-n // chunk)
    # (validated rows are float32 or float64: any memory order is taken as it
    # is, no whole copy of a Fortran-ordered array)
    Xk = X if X.dtype in (np.float32, np.float64) else kernel_block(X)
    wk = _kernel_weights(w, unit)
    threads = min(current_n_jobs(), n_blocks)
    one_run = n * k <= _ONE_RUN_CELLS
    if one_run:
        threads = min(threads, usable_cpus())
    # each thread's own copy of the centres and sums (one when pooled)
    copies = threads if one_run else 1
    centers = np.repeat(np.asarray(centers_c, dtype=np.float64)[None], copies, axis=0)
    sums, counts = np.zeros((copies, k, d)), np.zeros((copies, k))
    drift, half_sep = np.zeros((copies, k)), np.empty((copies, k))
    part_s, part_c = np.empty((2, n_blocks, k, d)), np.empty((2, n_blocks, k))
    cuts = np.linspace(0, n_blocks, (threads if one_run else n_blocks) + 1).round().astype(int)
    flags = new_flags(threads)

    def run(t: int) -> tuple[float, int]:
        return _bounded_run(Xk, wk, centers[t], shift, drift[t], half_sep[t], labels,  # type: ignore[no-any-return]
                            upper, lower, part_s, part_c, sums[t], counts[t], full, chunk,
                            cuts[t], cuts[t + 1], flags, FLAG_STRIDE, t, n_iter, max_iter, tol)

    def step(first: int, last: int, full: bool) -> None:
        _bounded_step(Xk, wk, centers[0], shift, drift[0], half_sep[0], labels, upper, lower,
                      part_s[0], part_c[0], full, chunk, first, last)

    full = True
    n_iter = 0
    while n_iter < max_iter:
        if one_run:
            moved, n_iter = run_together(run, threads, flags)
        else:
            _half_separation(centers[0], half_sep[0])
            if threads <= 1:
                step(0, n_blocks, full)
            else:
                list(thread_pool(threads).map(step, cuts[:-1], cuts[1:], [full] * n_blocks))
            moved = _bounded_finish(part_s[0], part_c[0], sums[0], counts[0], full, centers[0],
                                    drift[0], True)
            n_iter += 1
        full = False
        if moved < 0:  # a nearly empty cluster: the plain pass decides exactly, relocates
            stats = _plain_pass(X, w, chunk, centers[0], shift, unit)
            moved = _bounded_finish(stats.sk[None], stats.nk[None], sums[0], counts[0], True,
                                    centers[0], drift[0], False)
            for a in (centers, sums, counts, drift):
                a[1:] = a[0]
            full = True  # the relocated row's label and bounds are stale: recompute all
        if moved <= tol:
            break
    return centers[0], n_iter
