"""Closed-form covariance models: EII, VII, VVI, EEE, VVV.

Each M-step maximises the expected complete-data log-likelihood over the
model's constraint, given ``nk`` and the within-component scatter ``W``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, multigammaln

from ._base import ConjugatePriorLike, CovarianceModel
from ._layouts import LAYOUTS

# MAP M-steps: Fraley & Raftery (2007), Table 2 (corrected in their 2009 technical
# report 486). Each mode is (prior scale + scatter incl. the mean term) / (prior
# dof + the power of |Σ| collected from data, mean prior and inverse-Wishart /
# inverse-gamma density). ``m`` is 1 when the means have a prior (shrinkage > 0).


def _mean_prior(prior: ConjugatePriorLike) -> int:
    return 1 if prior.shrinkage > 0 else 0


def _sphere_scale(prior: ConjugatePriorLike) -> float:
    """mclust's scalar scale for spherical/diagonal models: the mean prior variance."""
    scale = np.asarray(prior.scale)
    return float(np.trace(scale)) / scale.shape[0]


def _log_invgamma(var: np.ndarray, prior: ConjugatePriorLike) -> float:
    """Σ log IG(var | ν/2, ς²/2) over all entries."""
    a, b = prior.dof / 2.0, _sphere_scale(prior) / 2.0
    v = np.asarray(var, dtype=np.float64)
    return float(np.sum(a * np.log(b) - gammaln(a) - (a + 1.0) * np.log(v) - b / v))


def _log_invwishart(cov: np.ndarray, prior: ConjugatePriorLike) -> float:
    """Σ log IW(Σ_k | ν, Λ) over a stack of (d, d) matrices."""
    covs = np.asarray(cov, dtype=np.float64)
    covs = covs[None] if covs.ndim == 2 else covs
    lam = np.asarray(prior.scale, dtype=np.float64)
    nu, d = float(prior.dof), lam.shape[0]
    const = 0.5 * nu * np.linalg.slogdet(lam)[1] - 0.5 * nu * d * np.log(2.0) - multigammaln(
        0.5 * nu, d
    )
    total = 0.0
    for c in covs:
        logdet = np.linalg.slogdet(c)[1]
        total += const - 0.5 * (nu + d + 1.0) * logdet - 0.5 * np.trace(np.linalg.solve(c, lam))
    return float(total)


class EII(CovarianceModel):
    """Equal volume, spherical: ``Σ_k = λ I``; the k-means-equivalent model."""

    code = "EII"
    layout = LAYOUTS["spherical"]
    stats_kind = "pooled_diag"
    description = "spherical, equal volume"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        lam = float(np.sum(scatter)) / (float(np.sum(nk)) * n_features)
        return np.full(nk.shape[0], lam)

    supports_prior = True

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        k, d = nk.shape[0], n_features
        denom = prior.dof + (float(np.sum(nk)) + _mean_prior(prior) * k) * d + 2.0
        lam = (_sphere_scale(prior) + float(np.sum(scatter))) / denom
        return np.full(k, lam)

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        return _log_invgamma(covariances[:1], prior)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return 1


class VII(CovarianceModel):
    """Variable volume, spherical: ``Σ_k = λ_k I`` (scikit-learn's ``spherical``)."""

    code = "VII"
    layout = LAYOUTS["spherical"]
    stats_kind = "diag"
    description = "spherical, variable volume"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return np.mean(scatter / nk[:, None], axis=1)

    supports_prior = True

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        d = n_features
        denom = prior.dof + (nk + _mean_prior(prior)) * d + 2.0
        return (_sphere_scale(prior) + scatter.sum(axis=1)) / denom

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        return _log_invgamma(covariances, prior)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components


class VVI(CovarianceModel):
    """Variable volume and shape, axis-aligned: ``Σ_k = diag`` (``diag``)."""

    code = "VVI"
    layout = LAYOUTS["diag"]
    stats_kind = "diag"
    description = "diagonal, variable volume and shape"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return scatter / nk[:, None]

    supports_prior = True

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        denom = prior.dof + nk + _mean_prior(prior) + 2.0
        return (_sphere_scale(prior) + scatter) / denom[:, None]

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        return _log_invgamma(covariances, prior)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features


class EEE(CovarianceModel):
    """One full covariance shared by all components (scikit-learn's ``tied``)."""

    code = "EEE"
    layout = LAYOUTS["tied"]
    stats_kind = "pooled"
    description = "ellipsoidal, equal volume, shape and orientation"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return scatter / float(np.sum(nk))

    supports_prior = True

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        k, d = nk.shape[0], n_features
        denom = prior.dof + float(np.sum(nk)) + _mean_prior(prior) * k + d + 1.0
        return (np.asarray(prior.scale) + scatter) / denom

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        return _log_invwishart(covariances, prior)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features * (n_features + 1) // 2


class VVV(CovarianceModel):
    """A full covariance per component (scikit-learn's ``full``)."""

    code = "VVV"
    layout = LAYOUTS["full"]
    stats_kind = "full"
    description = "ellipsoidal, variable volume, shape and orientation"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return scatter / nk[:, None, None]

    supports_prior = True

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        denom = prior.dof + nk + _mean_prior(prior) + n_features + 1.0
        return (np.asarray(prior.scale) + scatter) / denom[:, None, None]

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        return _log_invwishart(covariances, prior)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features * (n_features + 1) // 2


class FixedSphericalVariance(CovarianceModel):
    """``Σ_k = σ² I`` with ``σ²`` held fixed, not estimated.

    Not in the registry (it has a parameter): pass an instance as
    ``GaussianMixture(covariance_type=FixedSphericalVariance(0.01))``, usually
    with ``equal_weights=True`` and ``reg_covar=0``. As ``σ² → 0`` soft EM with
    this model becomes k-means: responsibilities tend to the nearest-centre
    assignment (see ``examples/vanishing_variance.py``).

    Parameters
    ----------
    variance : float
        The fixed variance ``σ² > 0``.

    Examples
    --------
    >>> from gaussmix.covariance import FixedSphericalVariance
    >>> FixedSphericalVariance(0.5).code
    'EII(var=0.5)'
    """

    layout = LAYOUTS["spherical"]
    stats_kind = "none"
    description = "spherical, equal and fixed volume"

    def __init__(self, variance: float) -> None:
        if not variance > 0:
            raise ValueError(f"variance must be positive, got {variance!r}")
        self.variance = float(variance)
        self.code = f"EII(var={self.variance:g})"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return np.full(nk.shape[0], self.variance)

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return 0
