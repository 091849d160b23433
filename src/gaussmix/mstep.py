"""M-step: new mixture parameters from summed sufficient statistics only."""

from __future__ import annotations

import numpy as np

from .covariance import CovarianceModel
from .estep import GMMParams
from .stats import SuffStats, scatter

# Guards counts of empty components against division by zero (as scikit-learn).
_NK_EPS = 10 * np.finfo(np.float64).eps


def mstep(
    stats: SuffStats,
    model: CovarianceModel,
    *,
    reg_covar: float,
    shift: np.ndarray,
    equal_weights: bool = False,
    previous: np.ndarray | None = None,
) -> GMMParams:
    """Maximum-likelihood parameters from statistics.

    Parameters
    ----------
    stats : SuffStats
        Summed statistics, with second moments of ``model.stats_kind``.
    model : CovarianceModel
    reg_covar : float
        Added to every variance after the M-step.
    shift : ndarray of shape (n_features,)
        The shift the statistics were taken about.
    equal_weights : bool
        Hold mixing weights at ``1 / n_components``.
    previous : ndarray or None
        Covariances of the previous iteration: the warm start of models with
        an iterative M-step.

    Raises
    ------
    SingularCovarianceError
        If a covariance is not positive definite.
    """
    nk = stats.nk + _NK_EPS
    d = stats.sk.shape[1]
    means_c = stats.sk / nk[:, None]
    W = scatter(stats, nk, model.stats_kind)
    if getattr(model, "uses_previous", False):
        cov = model.mstep(nk, W, d, previous)
    else:
        cov = model.mstep(nk, W, d)
    cov = model.layout.add_reg(cov, reg_covar)
    prec_chol = model.layout.precisions_cholesky(cov)
    k = nk.shape[0]
    weights = np.full(k, 1.0 / k) if equal_weights else nk / nk.sum()
    return GMMParams(weights, means_c + shift, cov, prec_chol)
