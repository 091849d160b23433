"""M-step: new mixture parameters from summed sufficient statistics only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .covariance import CovarianceModel
from .estep import GMMParams
from .stats import SuffStats, scatter

if TYPE_CHECKING:
    from .prior import ConjugatePrior

# Guards counts of empty components against division by zero (as scikit-learn).
_NK_EPS = 10 * np.finfo(np.float64).eps


def mstep_raw(
    stats: SuffStats,
    model: CovarianceModel,
    *,
    shift: np.ndarray,
    prior: ConjugatePrior | None = None,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Guarded counts, means and covariances before regularisation.

    Maximum likelihood, or the posterior mode under ``prior``. Returns
    ``(nk, means, covariances)`` with means in data units. ``previous`` (the
    last covariances) warm-starts models with an iterative M-step.
    """
    nk = stats.nk + _NK_EPS
    d = stats.sk.shape[1]
    if prior is None:
        means_c = stats.sk / nk[:, None]
        W = scatter(stats, nk, model.stats_kind)
        if getattr(model, "uses_previous", False):
            cov = model.mstep(nk, W, d, previous)
        else:
            cov = model.mstep(nk, W, d)
    else:
        from .prior import map_means_and_scatter

        means_c, W = map_means_and_scatter(stats, nk, model.stats_kind, prior, shift)
        cov = model.mstep_map(nk, W, d, prior)
    return nk, means_c + shift, cov


def finish_mstep(
    nk: np.ndarray,
    means: np.ndarray,
    cov: np.ndarray,
    model: CovarianceModel,
    *,
    reg_covar: float,
    equal_weights: bool = False,
) -> GMMParams:
    """Add ``reg_covar``, factor the precisions and set the weights.

    Raises
    ------
    SingularCovarianceError
        If a covariance is not positive definite.
    """
    cov = model.layout.add_reg(cov, reg_covar)
    prec_chol = model.layout.precisions_cholesky(cov)
    k = nk.shape[0]
    weights = np.full(k, 1.0 / k) if equal_weights else nk / nk.sum()
    return GMMParams(weights, means, cov, prec_chol)


def mstep(
    stats: SuffStats,
    model: CovarianceModel,
    *,
    reg_covar: float,
    shift: np.ndarray,
    equal_weights: bool = False,
    prior: ConjugatePrior | None = None,
    previous: np.ndarray | None = None,
) -> GMMParams:
    """Maximum-likelihood (or, with ``prior``, posterior-mode) parameters from statistics.

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
    prior : ConjugatePrior or None
        Conjugate prior of :mod:`gaussmix.prior`; the model must support it.
    previous : ndarray or None
        Covariances of the previous iteration: the warm start of models with
        an iterative M-step.

    Raises
    ------
    SingularCovarianceError
        If a covariance is not positive definite.
    """
    nk, means, cov = mstep_raw(stats, model, shift=shift, prior=prior, previous=previous)
    return finish_mstep(nk, means, cov, model, reg_covar=reg_covar, equal_weights=equal_weights)
