"""Starting points for EM: partitions or responsibilities, then one M-step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_array_shape, check_weights_init
from .covariance import CovarianceModel
from .estep import GMMParams
from .execution import (
    RowSlices,
    iter_slices,
    map_blocks_sum,
    weighted_mean_variance,
)
from .kmeans import assign_labels, lloyd
from .kmeans_plusplus import kmeans_plusplus
from .stats import SuffStats, compute_stats, partition_stats

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc")


def stats_from_partition(
    X: np.ndarray, w: np.ndarray, labels: np.ndarray, n_components: int, kind: str,
    shift: np.ndarray, chunk_size: int,
) -> SuffStats:
    """Statistics of a hard partition given as integer labels."""
    # Labels travel with their rows: map over (X, labels) chunk by chunk.
    def block(sl: slice, wb: np.ndarray) -> SuffStats:
        return partition_stats(X[sl], wb, labels[sl], n_components, kind, shift)

    return map_blocks_sum(RowSlices(X.shape[0]), w, chunk_size, block)


def stats_from_resp(
    X: np.ndarray, w: np.ndarray, resp: Callable[[slice], np.ndarray] | np.ndarray,
    kind: str, shift: np.ndarray, chunk_size: int,
) -> SuffStats:
    """Statistics of soft responsibilities, given as an array or per-chunk callable."""
    total: SuffStats | None = None
    for sl in iter_slices(X.shape[0], chunk_size):
        Xc = np.asarray(X[sl], dtype=np.float64) - shift
        r = resp(sl) if callable(resp) else np.asarray(resp[sl], dtype=np.float64)
        st = compute_stats(Xc, w[sl], r, kind)
        total = st if total is None else total + st
    assert total is not None
    return total


def nearest_labels(X: np.ndarray, centers: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every row."""
    unit = np.broadcast_to(1.0, (X.shape[0],))
    return assign_labels(X, unit, centers, shift)[0]


def initial_stats(
    method: str,
    X: np.ndarray,
    w: np.ndarray,
    n_components: int,
    model: CovarianceModel,
    rng: np.random.RandomState,
    shift: np.ndarray,
    chunk_size: int,
    hc_tree: object | None = None,
) -> tuple[SuffStats, np.ndarray | None]:
    """Statistics of the starting partition or responsibilities of ``method``.

    ``kmeans`` runs Lloyd from k-means++ seeds; ``k-means++`` and
    ``random_from_data`` assign every row to the nearest of the seeds (rather
    than giving each seed alone to its component, which leaves EM starting
    from covariances equal to ``reg_covar``); ``random`` draws uniform
    responsibilities, normalised per row; ``hc`` cuts mclust's model-based
    hierarchical tree (:mod:`gaussmix.hc`; ``hc_tree`` reuses a built one).
    Also returns the partition's labels (None for ``hc`` and ``random``).
    """
    kind = model.stats_kind
    if method == "hc":
        from .hc import hc_initial_stats
        from .hc import hc_tree as build_tree

        tree = hc_tree if hc_tree is not None else build_tree(X, random_state=rng)
        return hc_initial_stats(X, w, n_components, model, tree, shift, chunk_size), None  # type: ignore[arg-type]
    if method == "random":
        def draw(sl: slice) -> np.ndarray:
            r = rng.uniform(size=(sl.stop - sl.start, n_components))
            return r / r.sum(axis=1, keepdims=True)

        return stats_from_resp(X, w, draw, kind, shift, chunk_size), None
    if method == "kmeans":
        centers = kmeans_plusplus(X, w, n_components, rng)
        mean_var = weighted_mean_variance(X, w, shift, chunk_size)
        res = lloyd(X, w, centers, max_iter=300, tol=mean_var * 1e-4, shift=shift,
                    chunk_size=chunk_size, spread=X.shape[1] * mean_var)
        assert res.labels is not None
        labels = res.labels
    elif method == "k-means++":
        centers = kmeans_plusplus(X, w, n_components, rng)
        labels = nearest_labels(X, centers, shift)
    elif method == "random_from_data":
        idx = rng.choice(X.shape[0], size=n_components, replace=False)
        labels = nearest_labels(X, np.asarray(X[idx], dtype=np.float64), shift)
    else:
        raise ValueError(f"init_params must be one of {INIT_METHODS}, got {method!r}")
    return stats_from_partition(X, w, labels, n_components, kind, shift, chunk_size), labels


def with_given(
    params: GMMParams | None, weights_init: Any, means_init: Any, precisions_init: Any,
    model: CovarianceModel, k: int, d: int,
) -> GMMParams:
    """Starting parameters with the user's ``*_init`` arrays (checked) in place of the found ones.

    ``params`` may be None only when all three arrays are given.
    """
    weights = params.weights if params is not None else None
    means = params.means if params is not None else None
    cov = params.covariances if params is not None else None
    pc = params.precisions_cholesky if params is not None else None
    if weights_init is not None:
        weights = check_weights_init(weights_init, k)
    if means_init is not None:
        means = check_array_shape(means_init, (k, d), "means_init")
    if precisions_init is not None:
        prec = check_array_shape(precisions_init, model.layout.shape(k, d), "precisions_init")
        cov, _ = model.layout.from_precisions(prec)
        pc = model.layout.precisions_cholesky(cov)
    assert weights is not None and means is not None and cov is not None and pc is not None
    return GMMParams(weights, means, cov, pc)
