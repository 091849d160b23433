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

from .estep import argmax_kn
from .execution import RowSlices, map_blocks, map_blocks_sum
from .stats import SuffStats, stats_from_labels


class KMeansResult(NamedTuple):
    centers: np.ndarray
    labels: np.ndarray | None
    inertia: float
    n_iter: int


def nearest_center(Xc: np.ndarray, centers_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label of the nearest centre and the squared distance to it, per row.

    Both arguments are shifted float64 arrays.
    """
    # ||x||² is constant per row, so the argmin needs only ||c||² - 2 x·c;
    # component-major (k, n) so the search over centres streams whole rows.
    neg = 2.0 * (centers_c @ Xc.T)
    neg -= np.einsum("ij,ij->i", centers_c, centers_c)[:, None]
    labels, best = argmax_kn(neg)
    d2 = np.einsum("ij,ij->i", Xc, Xc) - best
    return labels, np.maximum(d2, 0.0, out=d2)


def lloyd_block(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, shift: np.ndarray
) -> tuple[SuffStats, np.ndarray, np.ndarray]:
    """Assign a block to its nearest centres; statistics, labels, squared distances."""
    Xc = np.asarray(X, dtype=np.float64) - shift
    labels, d2 = nearest_center(Xc, centers_c)
    stats = stats_from_labels(Xc, w, labels, centers_c.shape[0], "none", -float(w @ d2))
    return stats, labels, d2


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


class _LloydPart(NamedTuple):
    stats: SuffStats
    far: _Farthest

    def __add__(self, other: object) -> _LloydPart:  # type: ignore[override]
        if not isinstance(other, _LloydPart):
            return NotImplemented
        return _LloydPart(self.stats + other.stats, self.far + other.far)


def _lloyd_part(X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray,
                shift: np.ndarray) -> _LloydPart:
    """Statistics of a block and its rows farthest from their centres (for relocation)."""
    stats, labels, d2 = lloyd_block(X, w, centers_c, shift)
    k = centers_c.shape[0]
    Xc = np.asarray(X, dtype=np.float64) - shift
    return _LloydPart(stats, _farthest(k, d2, Xc, labels, w))


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


def assign_labels(
    X: np.ndarray, centers: np.ndarray, shift: np.ndarray, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-centre label and squared distance of every row of an array."""
    cc = centers - shift

    def block(Xb: np.ndarray, _w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return nearest_center(np.asarray(Xb, dtype=np.float64) - shift, cc)

    parts = map_blocks(X, np.empty(X.shape[0]), chunk_size, block)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def lloyd(
    X: Any,
    w: np.ndarray | None,
    centers_init: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    shift: np.ndarray,
    chunk_size: int,
) -> KMeansResult:
    """Lloyd iterations from given centres (private: assumes validated input).

    ``X`` is an array (with weights ``w``) or a block source: each iteration
    is one pass through :func:`~gaussmix.execution.map_blocks_sum`. Stops when
    the summed squared centre shift falls to ``tol`` (already scaled to the
    data); unchanged labels give unchanged centres, a shift of exactly 0.
    Like scikit-learn's ``lloyd``, a final assignment makes labels match
    centres; ``labels`` is ``None`` for a block source (no per-row state).
    """
    centers_c = np.asarray(centers_init, dtype=np.float64) - shift
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        part = map_blocks_sum(X, w, chunk_size, partial(_lloyd_part, centers_c=centers_c,
                                                        shift=shift))
        stats = _relocate_empty(part.stats, part.far)
        new_c = stats.sk / np.where(stats.nk > 0, stats.nk, 1.0)[:, None]
        shift_tot = float(np.sum((new_c - centers_c) ** 2))
        centers_c = new_c
        if shift_tot <= tol:
            break
    centers = centers_c + shift
    if isinstance(X, np.ndarray):
        assert w is not None
        labels, d2 = assign_labels(X, centers, shift, chunk_size)
        return KMeansResult(centers, labels, float(w @ d2), n_iter)
    part = map_blocks_sum(X, w, chunk_size, partial(_lloyd_part, centers_c=centers_c,
                                                    shift=shift))
    return KMeansResult(centers, None, -part.stats.objective, n_iter)


def kmeans_plusplus(
    X: np.ndarray,
    w: np.ndarray,
    n_clusters: int,
    rng: np.random.RandomState,
    shift: np.ndarray,
    chunk_size: int,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007), weighted.

    Each new centre is the best of ``2 + log(k)`` candidates drawn with
    probability proportional to ``w · D(x)²``. Returns centres in data units.
    """
    n, d = X.shape
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, d))
    p = w / w.sum()
    first = rng.choice(n, p=p)
    centers[0] = np.asarray(X[first], dtype=np.float64) - shift

    def sqdist(sl: slice, c: np.ndarray) -> np.ndarray:
        Xc = np.asarray(X[sl], dtype=np.float64) - shift
        out = np.einsum("ij,ij->i", Xc, Xc)[:, None] - 2.0 * Xc @ c.T + np.sum(c * c, axis=1)
        return np.maximum(out, 0.0, out=out)

    # Only D(x)² is kept per row; candidates are scored chunk by chunk, so no
    # (n, n_local_trials) array is formed.
    rows = RowSlices(n)
    closest = np.empty(n)

    def first_pass(sl: slice, wb: np.ndarray) -> float:
        closest[sl] = sqdist(sl, centers[:1])[:, 0]
        return float(wb @ closest[sl])

    def candidate_pots(sl: slice, wb: np.ndarray, c: np.ndarray) -> np.ndarray:
        return wb @ np.minimum(sqdist(sl, c), closest[sl, None])

    def take(sl: slice, wb: np.ndarray, c: np.ndarray) -> float:
        np.minimum(closest[sl], sqdist(sl, c)[:, 0], out=closest[sl])
        return float(wb @ closest[sl])

    pot: float = map_blocks_sum(rows, w, chunk_size, first_pass)
    for c in range(1, n_clusters):
        if pot <= 0:  # fewer distinct points than clusters: any point will do
            cand = rng.choice(n, size=n_local_trials)
        else:
            cum = np.cumsum(w * closest)
            cand = np.searchsorted(cum, rng.uniform(size=n_local_trials) * cum[-1])
            np.clip(cand, None, n - 1, out=cand)
        cand_c = np.asarray(X[cand], dtype=np.float64) - shift
        pots = map_blocks_sum(rows, w, chunk_size, partial(candidate_pots, c=cand_c))
        best = int(np.argmin(pots))
        pot = map_blocks_sum(rows, w, chunk_size, partial(take, c=cand_c[best : best + 1]))
        centers[c] = cand_c[best]
    return centers + shift
