"""E-step kernels: one block of rows in, additive sufficient statistics out.

Soft assignment gives posterior responsibilities (computed in log space);
hard assignment replaces them by the one-hot argmax (classification EM).
The same kernel, without the reduction, gives log-densities and
responsibilities for ``predict``/``score_samples``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .covariance import CovarianceModel
from .stats import SuffStats, compute_stats, stats_from_labels


class GMMParams(NamedTuple):
    """Parameters of a Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray, shape given by the model's layout
    precisions_cholesky : ndarray, same shape as ``covariances``
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


_LOG_TINY = -700.0


def _exp_normalise(wlp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp of ``wlp``, and ``exp(wlp - lse)`` computed in its place.

    Faster than ``scipy.special.logsumexp`` on the (rows, components) blocks
    here, which the layouts return column-major so that row reductions run
    over contiguous columns.
    """
    mx = wlp.max(axis=1)
    mx[~np.isfinite(mx)] = 0.0
    np.subtract(wlp, mx[:, None], out=wlp)
    # exp of arguments in the subnormal range is ~40x slower; below e^-700 a
    # term is far under the precision of the row sum (>= 1) anyway.
    np.maximum(wlp, _LOG_TINY, out=wlp)
    np.exp(wlp, out=wlp)
    total = wlp.sum(axis=1)
    np.divide(wlp, total[:, None], out=wlp)
    with np.errstate(divide="ignore"):
        return np.log(total) + mx, wlp


def weighted_log_prob(
    X: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """``log π_k + log N(x | μ_k, Σ_k)`` for a block, shape (n_rows, n_components)."""
    Xc = np.asarray(X, dtype=np.float64) - shift
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    out = model.layout.log_gaussian(Xc, params.means - shift, params.precisions_cholesky)
    out += log_w
    return out


def log_resp(
    X: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-density of each row and its log-responsibilities.

    Returns
    -------
    log_density : ndarray of shape (n_rows,)
    log_resp : ndarray of shape (n_rows, n_components)
    """
    wlp = weighted_log_prob(X, params, model, shift)
    lse, _ = _exp_normalise(wlp.copy(order="K"))
    wlp -= lse[:, None]
    return lse, wlp


def estep_soft(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Soft E-step of a block reduced to statistics; objective is ``Σ w log p(x)``."""
    Xc = np.asarray(X, dtype=np.float64) - shift
    wlp = model.layout.log_gaussian(Xc, params.means - shift, params.precisions_cholesky)
    with np.errstate(divide="ignore"):
        wlp += np.log(params.weights)
    lse, resp = _exp_normalise(wlp)
    return compute_stats(Xc, w, resp, model.stats_kind, float(w @ lse))


def estep_hard(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Classification E-step: one-hot argmax; objective is the classification log-likelihood."""
    Xc = np.asarray(X, dtype=np.float64) - shift
    wlp = model.layout.log_gaussian(Xc, params.means - shift, params.precisions_cholesky)
    with np.errstate(divide="ignore"):
        wlp += np.log(params.weights)
    labels = np.argmax(wlp, axis=1)
    obj = float(w @ wlp[np.arange(wlp.shape[0]), labels])
    return stats_from_labels(Xc, w, labels, params.weights.shape[0], model.stats_kind, obj)


ESTEPS = {"soft": estep_soft, "hard": estep_hard}
