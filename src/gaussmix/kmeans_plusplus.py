"""k-means++ seeding (Arthur & Vassilvitskii 2007), weighted, greedy.

Each new centre is the best of a few candidates drawn with probability
proportional to ``w · D(x)²``, where ``D(x)`` is a row's distance to its
nearest chosen centre. Only ``D(x)²`` (and, from 32 features, the nearest
centre) is kept per row: one pass over the rows per centre lowers ``D(x)²``
to the centre chosen last and scores the next candidates, leaving sums per
1,024-row segment so that a draw reads one segment. The draws follow
scikit-learn's random stream, so both pick the same seeds. Distances are
taken in the rows' precision (float32 rows: float32 differences and sums,
which run ~1.2x faster than float64 ones; each distance is within
``(d + 2) 2^-24`` of exact), and summed into float64 potentials.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ._blocks import kernel_block
from ._jit import kernel
from .execution import RowSlices, map_blocks
from .kmeans import _kernel_chunk

# Rows per segment of k-means++'s draws: each pass leaves every segment's
# potential per candidate, so a draw scans one segment, not all the rows.
_SEGMENT = 1024


# k-means++ skips a row's distance to a point (the last centre, a candidate)
# when the triangle inequality shows that point is no closer than the row's
# nearest centre a: ||x - c|| >= ||a - c|| - ||x - a|| >= ||x - a|| once
# ||a - c||² >= 4 D(x)². The margin _PRUNE_MARGIN (far above the relative
# round-off of a float64 sum of squares) makes the computed distance, had it
# been taken, no smaller than the computed D(x)²: min() gives D(x)² either way,
# so a pass with skips adds exactly what a pass without them adds. Float32
# distances need a wider margin (see _margin).
_PRUNE_MARGIN = 1e-6
# Below this many features a distance costs less than the mispredicted
# branch that skips it (W1, W2: passes slower or no faster; W3: 35 -> 27 ms
# a seeding; benchmarks/NOTES.md #73).
_PRUNE_FEATURES = 32


def _margin(dtype: type, d: int) -> float:
    """The relative margin of :func:`_reach` for distances summed in ``dtype``.

    A float32 distance over d features is within about ``(d + 2) 2^-24``
    relative of exact (each difference, square and partial sum rounded
    once); four times that covers both distances compared.
    """
    if dtype == np.float32:
        return max(_PRUNE_MARGIN, 4.0 * (d + 2) * 2.0**-24)
    return _PRUNE_MARGIN


def _reach(centers: np.ndarray, points: np.ndarray, margin: float = _PRUNE_MARGIN) -> np.ndarray:
    """(n_centres, n_points): a row whose nearest centre is a may skip point c
    when its ``D(x)²`` is at most ``reach[a, c]``."""
    diff = centers[:, None, :] - points[None, :, :]
    return np.einsum("acj,acj->ac", diff, diff) * (0.25 / (1.0 + margin))


@kernel(reassociate=True)
def _pp_first(X, w, center, closest, start, seg_pot):  # type: ignore[no-untyped-def]
    """k-means++: each row's ``D(x)²``, its distance to the first centre.

    Adds ``Σ w D(x)²`` of each segment to ``seg_pot[segment, 0]`` (rows are
    numbered from ``start``). Distances are taken between raw rows and a raw
    row (the centres are data rows): each difference is rounded once, with no
    shift to cancel.
    """
    n, d = X.shape
    zero = X.dtype.type(0.0)  # float32 rows: float32 distances
    for i in range(n):
        dist = zero
        for j in range(d):
            t = X[i, j] - center[j]
            dist += t * t
        closest[i] = dist
        seg_pot[(start + i) // _SEGMENT, 0] += w[i] * dist


# k-means++'s scoring passes take a row's distances two or three at once
# (the last centre and two candidates, then candidates in pairs), so that each
# feature loaded serves several differences and several sums are in flight:
# W3's passes take 14-18% less time than one point at a time (benchmarks/
# NOTES.md #101).
# Both kernels below spell the same sweeps, so that the skipping pass takes
# exactly the distances the full pass takes (a shared compiled helper cost
# ~20 ns a call: 4x slower passes on W2).


@kernel(reassociate=True)
def _pp_scores(X, w, cand, closest, prev, start, seg_pots):  # type: ignore[no-untyped-def]
    """k-means++: lower ``D(x)²`` to the last chosen centre, then score the candidates.

    ``prev`` is the centre chosen last, (1, d) (empty: none); taking the
    minimum is idempotent, so segments a draw has already lowered come out
    the same up to rounding. Adds ``Σ w min(D(x)², ||x - c||²)`` of each
    segment and candidate ``c`` to ``seg_pots[segment, c]``. A direct loop
    beats a GEMM here: a handful of candidates leaves BLAS a (rows, d) x
    (d, 2-8) product that costs less than the shifted copy it needs.
    Branch-free (selects): whether a candidate is closer is a coin toss per
    row, and mispredictions cost 2-4x.
    """
    n, d = X.shape
    t = cand.shape[0]
    lower = prev.shape[0] > 0
    zero = X.dtype.type(0.0)
    for i in range(n):
        di = closest[i]
        wi = w[i]
        s = (start + i) // _SEGMENT
        c = 0
        if lower and t >= 2:
            sp = zero
            s0 = zero
            s1 = zero
            for j in range(d):
                x = X[i, j]
                up = x - prev[0, j]
                u0 = x - cand[0, j]
                u1 = x - cand[1, j]
                sp += up * up
                s0 += u0 * u0
                s1 += u1 * u1
            di = min(np.float64(sp), di)
            closest[i] = di
            seg_pots[s, 0] += wi * min(np.float64(s0), di)
            seg_pots[s, 1] += wi * min(np.float64(s1), di)
            c = 2
        elif lower:
            sp = zero
            for j in range(d):
                up = X[i, j] - prev[0, j]
                sp += up * up
            di = min(np.float64(sp), di)
            closest[i] = di
        while c + 1 < t:
            s0 = zero
            s1 = zero
            for j in range(d):
                x = X[i, j]
                u0 = x - cand[c, j]
                u1 = x - cand[c + 1, j]
                s0 += u0 * u0
                s1 += u1 * u1
            seg_pots[s, c] += wi * min(np.float64(s0), di)
            seg_pots[s, c + 1] += wi * min(np.float64(s1), di)
            c += 2
        if c < t:
            s0 = zero
            for j in range(d):
                u0 = X[i, j] - cand[c, j]
                s0 += u0 * u0
            seg_pots[s, c] += wi * min(np.float64(s0), di)


@kernel(reassociate=True)
def _pp_scores_skipping(X, w, cand, closest, nearest, prev, label, reach,  # type: ignore[no-untyped-def]
                        start, seg_pots):
    """:func:`_pp_scores` that skips the rows the triangle inequality rules out.

    ``nearest`` holds each row's nearest centre (updated here; ``prev`` is
    numbered ``label``). A row whose ``D(x)²`` is at most ``reach`` of its
    nearest centre (:func:`_reach`'s threshold, the smallest against
    ``prev`` and the candidates) is nearer that centre than any of them: it
    adds its ``D(x)²`` to every sum and is not read. Other rows take all
    their distances by :func:`_pp_scores`'s sweeps, so the sums are the same
    (a skip test per distance cost more in branches than it saved on W3; a
    separate kernel: the bookkeeping slows the unskipped loop on W2 and W4).
    """
    n, d = X.shape
    t = cand.shape[0]
    lower = prev.shape[0] > 0
    zero = X.dtype.type(0.0)
    for i in range(n):
        di = closest[i]
        wi = w[i]
        s = (start + i) // _SEGMENT
        a = nearest[i]
        if di <= reach[a]:
            for c in range(t):
                seg_pots[s, c] += wi * di
            continue
        c = 0
        if lower and t >= 2:
            sp = zero
            s0 = zero
            s1 = zero
            for j in range(d):
                x = X[i, j]
                up = x - prev[0, j]
                u0 = x - cand[0, j]
                u1 = x - cand[1, j]
                sp += up * up
                s0 += u0 * u0
                s1 += u1 * u1
            better = sp < di  # selects, as in _pp_scores
            di = np.float64(sp) if better else di
            closest[i] = di
            nearest[i] = label if better else a
            seg_pots[s, 0] += wi * min(np.float64(s0), di)
            seg_pots[s, 1] += wi * min(np.float64(s1), di)
            c = 2
        elif lower:
            sp = zero
            for j in range(d):
                up = X[i, j] - prev[0, j]
                sp += up * up
            better = sp < di
            di = np.float64(sp) if better else di
            closest[i] = di
            nearest[i] = label if better else a
        while c + 1 < t:
            s0 = zero
            s1 = zero
            for j in range(d):
                x = X[i, j]
                u0 = x - cand[c, j]
                u1 = x - cand[c + 1, j]
                s0 += u0 * u0
                s1 += u1 * u1
            seg_pots[s, c] += wi * min(np.float64(s0), di)
            seg_pots[s, c + 1] += wi * min(np.float64(s1), di)
            c += 2
        if c < t:
            s0 = zero
            for j in range(d):
                u0 = X[i, j] - cand[c, j]
                s0 += u0 * u0
            seg_pots[s, c] += wi * min(np.float64(s0), di)


@kernel  # a running sum: kept in order
def _pp_pick(X, w, prev, label, reach, closest, nearest, target):  # type: ignore[no-untyped-def]
    """k-means++'s draw inside one segment: the first row where ``Σ w D(x)²`` exceeds ``target``.

    The segment's ``D(x)²`` is first lowered to ``prev`` ((1, d); empty:
    none; ``label`` numbers it in ``nearest``), as the next pass would,
    skipping the rows whose ``D(x)²`` is at most ``reach[nearest]``. Like
    ``np.cumsum`` then ``searchsorted(side="right")``: a row of zero weight
    or zero distance is never drawn; a target that round-off puts past the
    segment's end gets its last row of positive mass.
    """
    n = X.shape[0]
    if prev.shape[0] > 0:
        d = X.shape[1]
        zero = X.dtype.type(0.0)
        for i in range(n):
            if closest[i] > reach[nearest[i]]:
                sp = zero  # as _pp_scores takes it
                for j in range(d):
                    v = X[i, j] - prev[0, j]
                    sp += v * v
                if sp < closest[i]:
                    closest[i] = sp
                    nearest[i] = label
    last = 0
    run = 0.0
    for i in range(n):
        mass = w[i] * closest[i]
        if mass > 0:
            last = i
        run += mass
        if run > target:
            return i
    return last


def _draws(X: Any, w: np.ndarray, closest: np.ndarray, nearest: np.ndarray, seg_pot: np.ndarray,
           us: np.ndarray | list[float], prev: np.ndarray, label: int,
           reach: np.ndarray) -> np.ndarray:
    """k-means++'s draws: for each ``u``, the row where ``Σ w D(x)²`` passes ``u`` of its total.

    ``seg_pot`` holds each ``_SEGMENT``-row segment's ``Σ w D(x)²`` once
    lowered to ``prev`` (the last centre, numbered ``label``; empty: none):
    each target's segment is found from them, then lowered and scanned by
    :func:`_pp_pick` (``reach``: its skips).
    """
    n = X.shape[0]
    cum = np.cumsum(seg_pot)
    targets = np.asarray(us) * cum[-1]
    rows = np.empty(len(targets), dtype=np.intp)
    for q, s in enumerate(np.searchsorted(cum, targets, side="right")):
        s = min(int(s), seg_pot.shape[0] - 1)
        while s > 0 and seg_pot[s] <= 0:  # round-off past the end: the last segment with mass
            s -= 1
        lo, hi = s * _SEGMENT, min(n, (s + 1) * _SEGMENT)
        below = cum[s - 1] if s else 0.0
        rows[q] = lo + int(_pp_pick(kernel_block(X[lo:hi]), np.ascontiguousarray(w[lo:hi]), prev,
                                    label, reach, closest[lo:hi], nearest[lo:hi],
                                    targets[q] - below))
    return rows


def kmeans_plusplus(
    X: np.ndarray,
    w: np.ndarray,
    n_clusters: int,
    rng: np.random.RandomState,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007), weighted.

    Each new centre is the best of ``2 + log(k)`` candidates drawn with
    probability proportional to ``w · D(x)²``. Returns centres in data units.
    Only ``D(x)²`` is kept per row. One pass over the rows per centre: it
    lowers ``D(x)²`` to the centre chosen last and scores the candidates,
    leaving each 1,024-row segment's sums, so that a draw reads one segment.
    """
    n, d = X.shape
    dt = kernel_block(X[:0]).dtype.type  # the rows' dtype as the kernels take them
    margin = _margin(dt, d)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, d))
    rows = RowSlices(n)
    # Blocks are whole segments, so no two threads add to one segment's sums
    # (rounding up to them can leave the last block short: 5,000 rows -> 2,048 x 2 + 904).
    chunk = -(-_kernel_chunk(n) // _SEGMENT) * _SEGMENT
    n_seg = -(-n // _SEGMENT)
    none = np.empty((0, d), dtype=dt)
    # The first centre is drawn by weight alone: the same draw with D(x)² = 1.
    closest = np.ones(n)
    nearest = np.zeros(n, dtype=np.intp)  # each row's nearest centre so far
    seg_w = np.add.reduceat(w, np.arange(0, n, _SEGMENT)) if n else np.zeros(0)
    never = np.zeros(n_clusters)  # no skips: reach 0 for every centre
    centers[0] = X[_draws(X, w, closest, nearest, seg_w, [float(rng.uniform())], none, 0, never)[0]]

    first = centers[0].astype(dt)

    def first_pass(sl: slice, wb: np.ndarray, out: np.ndarray) -> None:
        _pp_first(kernel_block(X[sl]), wb, first, closest[sl], sl.start, out)

    def scores(sl: slice, wb: np.ndarray, cand: np.ndarray, prev: np.ndarray, label: int,
               reach: np.ndarray | None, out: np.ndarray) -> None:
        if reach is None:
            _pp_scores(kernel_block(X[sl]), wb, cand, closest[sl], prev, sl.start, out)
        else:
            _pp_scores_skipping(kernel_block(X[sl]), wb, cand, closest[sl], nearest[sl], prev,
                                label, reach, sl.start, out)

    seg_pot = np.zeros((n_seg, 1))
    map_blocks(rows, w, chunk, partial(first_pass, out=seg_pot))
    pot, prev = seg_pot[:, 0], none  # each segment's Σ w D(x)², once lowered to prev
    skips = d >= _PRUNE_FEATURES
    for c in range(1, n_clusters):
        # (rows a draw has lowered already name prev itself: reach 0, never skipped)
        reach_prev = (np.ascontiguousarray(_reach(centers[:c], centers[c - 1:c], margin)[:, 0])
                      if skips and c > 1 else never)
        if pot.sum() <= 0:  # fewer distinct points than clusters: any point will do
            cand = rng.choice(n, size=n_local_trials)
        else:
            cand = _draws(X, w, closest, nearest, pot, rng.uniform(size=n_local_trials), prev,
                          c - 1, reach_prev)
        cand_x = np.asarray(X[cand], dtype=np.float64)
        reach = None
        if skips:  # a row is skipped when nearer its centre than prev and every candidate
            reach = _reach(centers[:c], cand_x, margin).min(axis=1)
            if c > 1:
                np.minimum(reach, reach_prev, out=reach)
        seg_pots = np.zeros((n_seg, n_local_trials))
        cand_k = cand_x.astype(dt)  # in the rows' dtype for the kernels
        map_blocks(rows, w, chunk, partial(scores, cand=cand_k, prev=prev,
                                           label=c - 1, reach=reach, out=seg_pots))
        best = int(np.argmin(seg_pots.sum(axis=0)))
        centers[c] = cand_x[best]
        pot, prev = seg_pots[:, best], cand_k[best:best + 1]
    return centers
