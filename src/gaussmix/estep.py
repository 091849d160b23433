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
from .stats import SuffStats, compute_stats_kn, stats_from_labels


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


def weighted_log_prob_kn(
    X: np.ndarray,
    params: GMMParams,
    model: CovarianceModel,
    shift: np.ndarray,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Shifted rows and ``log π_k + log N(x | μ_k, Σ_k)``, shape (k, n), in ``dtype``."""
    Xc: np.ndarray = np.asarray(X, dtype=dtype) - shift.astype(dtype)
    out = model.layout.log_gaussian_kn(
        Xc,
        (params.means - shift).astype(dtype),
        params.precisions_cholesky.astype(dtype),
    )
    with np.errstate(divide="ignore"):
        out += np.log(params.weights).astype(dtype)[:, None]
    return Xc, out


def compute_dtype(X: np.ndarray) -> type:
    """float32 rows are processed in float32 (statistics still add up in float64)."""
    return np.float32 if X.dtype == np.float32 else np.float64


def argmax_kn(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and value of the largest entry of each column of a (k, n) array.

    A fast column maximum, then a masked pass per component from the last to
    the first, so ties go to the first component, as with ``argmax``.
    """
    best = a.max(axis=0)
    labels = np.zeros(a.shape[1], dtype=np.intp)
    for j in range(a.shape[0] - 1, 0, -1):
        np.copyto(labels, j, where=a[j] == best)
    return labels, best


def _normalise_kn(wlp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities and log-sum-exp over components of a (k, n) array, one exp pass.

    Overwrites ``wlp`` with the responsibilities.
    """
    m = wlp.max(axis=0)
    # A row where every component has -inf log-probability cannot happen with
    # positive definite covariances; guard anyway so it gives no NaN.
    m[~np.isfinite(m)] = 0.0
    wlp -= m
    # exp is ~40x slower on arguments whose result is subnormal; a term below
    # e^-700 is far under the precision of the column sum (>= 1) anyway.
    np.maximum(wlp, -700.0, out=wlp)
    np.exp(wlp, out=wlp)
    s = wlp.sum(axis=0)
    wlp /= s
    return wlp, np.log(s) + m


def log_resp(
    X: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-density of each row and its log-responsibilities.

    Returns
    -------
    log_density : ndarray of shape (n_rows,)
    log_resp : ndarray of shape (n_rows, n_components)
    """
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    m = wlp.max(axis=0)
    m[~np.isfinite(m)] = 0.0
    lse = np.log(np.exp(wlp - m).sum(axis=0)) + m
    wlp -= lse
    return lse, wlp.T


def estep_soft(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Soft E-step of a block reduced to statistics; objective is ``Σ w log p(x)``.

    Float32 rows are processed in float32 (twice the BLAS rate, half the
    memory traffic); each block's statistics are then added in float64.
    """
    Xc, wlp = weighted_log_prob_kn(X, params, model, shift, compute_dtype(X))
    resp, lse = _normalise_kn(wlp)
    return compute_stats_kn(Xc, w, resp, model.stats_kind, float(w @ lse.astype(np.float64)))


def estep_hard(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Classification E-step: one-hot argmax; objective is the classification log-likelihood.

    Always in float64, so that hard partitions do not depend on the input dtype.
    """
    Xc, wlp = weighted_log_prob_kn(X, params, model, shift)
    labels, best = argmax_kn(wlp)
    return stats_from_labels(Xc, w, labels, params.weights.shape[0], model.stats_kind,
                             float(w @ best))


def rows_log_density(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """``log p(x)`` of every row of a block, shape (n_rows,)."""
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    return _normalise_kn(wlp)[1]


def rows_resp(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """Posterior responsibilities of a block, shape (n_rows, n_components)."""
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    return _normalise_kn(wlp)[0].T


def rows_label(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """Most probable component of every row of a block, shape (n_rows,).

    The argmax of the weighted log-probabilities: no exponentials needed.
    """
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    return argmax_kn(wlp)[0]


ESTEPS = {"soft": estep_soft, "hard": estep_hard}
