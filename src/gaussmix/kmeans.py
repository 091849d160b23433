"""Lloyd's algorithm on the shared block machinery.

The k-means E-step is nearest-centroid assignment; its statistics are the
counts and sums of :class:`~gaussmix.stats.SuffStats` with no second moment,
and its objective is minus the inertia. This is the GMM E-step with one shared
spherical covariance, equal weights and hard responsibilities.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from .estep import argmax_kn
from .execution import map_blocks
from .stats import SuffStats, stats_from_labels


class KMeansResult(NamedTuple):
    centers: np.ndarray
    labels: np.ndarray
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


def _assign_all(
    X: np.ndarray, w: np.ndarray, centers_c: np.ndarray, shift: np.ndarray, chunk_size: int
) -> tuple[SuffStats, np.ndarray, np.ndarray]:
    parts = map_blocks(X, w, chunk_size, partial(lloyd_block, centers_c=centers_c, shift=shift))
    total = parts[0][0]
    for st, _, _ in parts[1:]:
        total = total + st
    labels = np.concatenate([p[1] for p in parts])
    d2 = np.concatenate([p[2] for p in parts])
    return total, labels, d2


def _relocate_empty(
    stats: SuffStats, X: np.ndarray, w: np.ndarray, labels: np.ndarray, d2: np.ndarray,
    shift: np.ndarray,
) -> SuffStats:
    """Move each empty cluster onto one of the points farthest from its centre."""
    nk, sk = stats.nk.copy(), stats.sk.copy()
    empty = np.flatnonzero(nk == 0)
    if empty.size == 0:
        return stats
    far = np.argsort(-d2, kind="stable")[: empty.size]
    for new_id, idx in zip(empty, far, strict=False):
        x = np.asarray(X[idx], dtype=np.float64) - shift
        old_id = labels[idx]
        sk[old_id] -= w[idx] * x
        nk[old_id] -= w[idx]
        sk[new_id] = w[idx] * x
        nk[new_id] = w[idx]
    return SuffStats(nk, sk, stats.Sk, stats.objective)


def lloyd(
    X: np.ndarray,
    w: np.ndarray,
    centers_init: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    shift: np.ndarray,
    chunk_size: int,
) -> KMeansResult:
    """Lloyd iterations from given centres (private: assumes validated input).

    Stops when labels no longer change, or when the summed squared centre
    shift falls to ``tol`` (already scaled to the data). Like
    scikit-learn's ``lloyd``, a final assignment makes labels match centres.
    """
    centers_c = np.asarray(centers_init, dtype=np.float64) - shift
    labels_old: np.ndarray | None = None
    strict = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats, labels, d2 = _assign_all(X, w, centers_c, shift, chunk_size)
        stats = _relocate_empty(stats, X, w, labels, d2, shift)
        new_c = stats.sk / np.where(stats.nk > 0, stats.nk, 1.0)[:, None]
        shift_tot = float(np.sum((new_c - centers_c) ** 2))
        centers_c = new_c
        if labels_old is not None and np.array_equal(labels, labels_old):
            strict = True
            break
        if shift_tot <= tol:
            break
        labels_old = labels
    if not strict:
        stats, labels, d2 = _assign_all(X, w, centers_c, shift, chunk_size)
    inertia = float(w @ d2)
    return KMeansResult(centers_c + shift, labels, inertia, n_iter)


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

    def block_sqdist(Xb: np.ndarray, wb: np.ndarray, c: np.ndarray) -> np.ndarray:
        Xc = np.asarray(Xb, dtype=np.float64) - shift
        out = np.einsum("ij,ij->i", Xc, Xc)[:, None] - 2.0 * Xc @ c.T + np.sum(c * c, axis=1)
        return np.maximum(out, 0.0, out=out)

    def sqdist_to(c: np.ndarray) -> np.ndarray:
        return np.concatenate(map_blocks(X, w, chunk_size, partial(block_sqdist, c=c)))

    closest = sqdist_to(centers[:1])[:, 0]
    pot = float(w @ closest)
    for c in range(1, n_clusters):
        if pot <= 0:  # fewer distinct points than clusters: any point will do
            cand = rng.choice(n, size=n_local_trials)
        else:
            cum = np.cumsum(w * closest)
            cand = np.searchsorted(cum, rng.uniform(size=n_local_trials) * cum[-1])
            np.clip(cand, None, n - 1, out=cand)
        cand_c = np.asarray(X[cand], dtype=np.float64) - shift
        dist = np.minimum(closest[:, None], sqdist_to(cand_c))
        pots = w @ dist
        best = int(np.argmin(pots))
        pot, closest = float(pots[best]), dist[:, best]
        centers[c] = cand_c[best]
    return centers + shift
