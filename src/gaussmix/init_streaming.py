"""Starting points for data read in blocks: seeds from a sample, statistics from one pass.

The seeding methods of :mod:`gaussmix.init` need random access to rows (and
``kmeans`` many passes), so for a block source they run on the weighted
row sample drawn during the summary pass (:mod:`gaussmix.execution.summary`);
one more pass then assigns every row to its nearest seed and reduces the
partition to statistics. ``random`` draws responsibilities per block from a
generator keyed by the block's first row.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .covariance import CovarianceModel
from .execution import map_blocks_sum
from .execution.summary import RowSample
from .kmeans import kmeans_plusplus, lloyd, nearest_center
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
    if method == "random_from_data" or method == "random":
        return rows[rng.choice(rows.shape[0], size=n_clusters, replace=False)].copy()
    centers = kmeans_plusplus(rows, ones, n_clusters, rng, shift, chunk_size)
    if method == "kmeans":
        tol = float(np.mean(np.var(rows, axis=0))) * 1e-4
        centers = lloyd(rows, ones, centers, max_iter=300, tol=tol, shift=shift,
                        chunk_size=chunk_size).centers
    return centers


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
    centers = seeds_from_sample(method, sample_rows(sample), n_components, rng, chunk_size)
    fn2 = partial(_nearest_stats, centers_c=centers - shift, shift=shift, kind=kind)
    return map_blocks_sum(source, None, chunk_size, fn2)
