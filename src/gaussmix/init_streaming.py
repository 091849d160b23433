"""Starting points for data read in blocks: seeds from a sample, statistics from one pass.

The seeding methods of :mod:`gaussmix.init` need random access to rows (and
``kmeans`` many passes), so for a block source they run on the weighted
row sample drawn during the summary pass (:mod:`gaussmix.execution.summary`);
one more pass then assigns every row to its nearest seed and reduces the
partition to statistics. ``random`` draws responsibilities per block from a
generator keyed by the block's first row.

A distributed source (Dask) seeds by k-means|| (Bahmani et al. 2012)
instead, on the cluster: a few passes each add ``ℓ = 2k`` rows drawn with
probability proportional to ``w · D(x)²`` (here exactly ``ℓ`` rows, without
replacement, by Efraimidis-Spirakis keys), one pass weighs every candidate
by the weight of the rows nearest to it, and weighted k-means++ and Lloyd
on the few candidates give the ``k`` seeds.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .covariance import CovarianceModel
from .execution import map_blocks_sum
from .execution.summary import RowSample, row_uniforms, top_keyed
from .kmeans import lloyd, nearest_center
from .kmeans_plusplus import kmeans_plusplus
from .stats import SuffStats, compute_stats, stats_from_labels


def sample_rows(sample: RowSample) -> np.ndarray:
    """The sampled rows that have positive weight (weight-0 rows have key -inf)."""
    keep = np.isfinite(sample.keys)
    return sample.rows[keep] if keep.sum() > 0 else sample.rows


def seeds_from_sample(
    method: str, rows: np.ndarray, n_clusters: int, rng: np.random.RandomState,
    chunk_size: int,
) -> np.ndarray:
    """Centres in data units chosen on the sample (rows are already weighted by sampling)."""
    ones = np.ones(rows.shape[0])
    shift = rows.mean(axis=0)
    if method == "hc":
        from .hc import hc_centers

        return hc_centers(rows, n_clusters, rng)
    if method == "random_from_data" or method == "random":
        return rows[rng.choice(rows.shape[0], size=n_clusters, replace=False)].copy()
    centers = kmeans_plusplus(rows, ones, n_clusters, rng)
    if method == "kmeans":
        tol = float(np.mean(np.var(rows, axis=0))) * 1e-4
        centers = lloyd(rows, ones, centers, max_iter=300, tol=tol, shift=shift,
                        chunk_size=chunk_size).centers
    return centers


class _Candidates:
    """Sum of ``w · D²`` and the ``size`` rows with the largest keys ``log(u) / (w D²)``."""

    def __init__(self, phi: float, sample: RowSample) -> None:
        self.phi, self.sample = phi, sample

    def __add__(self, other: _Candidates) -> _Candidates:
        return _Candidates(self.phi + other.phi, self.sample + other.sample)


def _candidates_block(
    offset: int, X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray, shift: np.ndarray,
    size: int, seed: int,
) -> _Candidates:
    Xc = np.asarray(X, dtype=np.float64) - shift
    d2 = nearest_center(Xc, centers_c)[1]
    wd2 = w * d2
    with np.errstate(divide="ignore"):
        keys = np.log(row_uniforms(seed, offset, X.shape[0])) / wd2
    idx = np.arange(offset, offset + X.shape[0])
    return _Candidates(float(wd2.sum()), top_keyed(size, keys, idx, Xc))


def _nearest_weight(
    X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    labels = nearest_center(np.asarray(X, dtype=np.float64) - shift, centers_c)[0]
    return np.bincount(labels, weights=w, minlength=centers_c.shape[0])


def kmeans_parallel(
    source: Any, sample: RowSample, n_clusters: int, rng: np.random.RandomState,
    shift: np.ndarray, chunk_size: int, *, rounds: int = 5, oversampling: float = 2.0,
    refine: bool = True,
) -> np.ndarray:
    """k-means|| seeds over a block source: ``rounds + 1`` passes; centres in data units.

    The first centre is the sample's top-keyed row (a weighted random row).
    ``refine`` runs Lloyd on the weighted candidates after k-means++.
    """
    first = sample.rows[int(np.argmax(sample.keys))]
    cands = [first - shift]
    size = max(1, int(round(oversampling * n_clusters)))
    seed = int(rng.randint(2**31 - 1))
    for r in range(rounds):
        fn = partial(_candidates_block, centers_c=np.vstack(cands), shift=shift, size=size,
                     seed=seed + r)
        part = source.map_sum_indexed(fn, chunk_size)
        new = part.sample.rows[np.isfinite(part.sample.keys)]
        if part.phi <= 0 or new.shape[0] == 0:
            break
        cands.extend(new)
    C = np.vstack(cands)
    weights = map_blocks_sum(source, None, chunk_size,
                             partial(_nearest_weight, centers_c=C, shift=shift))
    keep = weights > 0
    C, weights = C[keep], weights[keep]
    if C.shape[0] <= n_clusters:  # fewer distinct candidates than clusters
        extra = sample_rows(sample)[rng.choice(sample.rows.shape[0], n_clusters - C.shape[0])]
        return np.vstack([C + shift, extra])
    zero = np.zeros(C.shape[1])
    centers = kmeans_plusplus(C, weights, n_clusters, rng)
    if refine:
        tol = 1e-4 * float(weights @ np.sum((C - weights @ C / weights.sum()) ** 2, axis=1)
                           / (weights.sum() * C.shape[1]))
        centers = lloyd(C, weights, centers, max_iter=300, tol=tol, shift=zero,
                        chunk_size=chunk_size).centers
    return centers + shift


def seeds_for_source(
    method: str, source: Any, sample: RowSample, n_clusters: int,
    rng: np.random.RandomState, shift: np.ndarray, chunk_size: int,
) -> np.ndarray:
    """Seeds for a block source: k-means|| on a distributed one (for ``kmeans`` and
    ``k-means++``), else from the one-pass sample."""
    if getattr(source, "distributed", False) and method in ("kmeans", "k-means++"):
        return kmeans_parallel(source, sample, n_clusters, rng, shift, chunk_size,
                               refine=method == "kmeans")
    return seeds_from_sample(method, sample_rows(sample), n_clusters, rng, chunk_size)


def _nearest_stats(
    X: np.ndarray, w: np.ndarray, *, centers_c: np.ndarray, shift: np.ndarray, kind: str
) -> SuffStats:
    Xc = np.asarray(X, dtype=np.float64) - shift
    labels = nearest_center(Xc, centers_c)[0]
    return stats_from_labels(Xc, w, labels, centers_c.shape[0], kind)


def _random_stats(
    offset: int, X: np.ndarray, w: np.ndarray, *, seed: int, n_components: int, shift: np.ndarray,
    kind: str,
) -> SuffStats:
    r = np.random.default_rng([seed, offset]).uniform(size=(X.shape[0], n_components))
    r /= r.sum(axis=1, keepdims=True)
    return compute_stats(np.asarray(X, dtype=np.float64) - shift, w, r, kind)


def initial_stats_streaming(
    method: str,
    source: Any,
    sample: RowSample,
    n_components: int,
    model: CovarianceModel,
    rng: np.random.RandomState,
    shift: np.ndarray,
    chunk_size: int,
) -> SuffStats:
    """Statistics of the starting partition of ``method`` over a block source (one pass).

    ``kmeans`` runs k-means++ and Lloyd on the sample; ``k-means++`` and
    ``random_from_data`` pick seeds from it; every row then joins its nearest
    seed. ``random`` draws uniform responsibilities per row.
    """
    kind = model.stats_kind
    if method == "random":
        seed = int(rng.randint(2**31 - 1))
        fn = partial(_random_stats, seed=seed, n_components=n_components, shift=shift, kind=kind)
        return source.map_sum_indexed(fn, chunk_size)  # type: ignore[no-any-return]
    centers = seeds_for_source(method, source, sample, n_components, rng, shift, chunk_size)
    fn2 = partial(_nearest_stats, centers_c=centers - shift, shift=shift, kind=kind)
    return map_blocks_sum(source, None, chunk_size, fn2)
