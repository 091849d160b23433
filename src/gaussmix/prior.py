"""Conjugate prior for MAP EM (Fraley & Raftery 2007, mclust's ``priorControl``).

The prior on each component is normal on the mean given the covariance,
``μ_k | Σ_k ~ N(μ_P, Σ_k / κ_P)``, and inverse Wishart on the covariance,
``Σ_k ~ IW(ν_P, Λ_P)`` (inverse gamma on the variances of spherical and
diagonal models). EM then climbs the log posterior instead of the
log-likelihood: the M-step becomes a posterior mode, which keeps every
covariance at least ``Λ_P / (ν_P + n_k + d + 2)`` away from singular.

mclust's defaults (``defaultPrior``): shrinkage ``κ_P = 0.01``, mean the
data's mean, ``ν_P = d + 2`` and ``Λ_P = var(data) / G^(2/d)``.

Which covariance models have a closed-form MAP M-step is a property of the
model (``CovarianceModel.supports_prior``); see :func:`supported_models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .covariance import MODELS, CovarianceModel
from .estep import GMMParams
from .stats import SuffStats, scatter

#: mclust's default shrinkage of the means towards the prior mean.
DEFAULT_SHRINKAGE = 0.01

_KEYS = {"shrinkage", "mean", "dof", "scale"}


class ConjugatePrior(NamedTuple):
    """Hyperparameters of the conjugate prior.

    Attributes
    ----------
    shrinkage : float
        ``κ_P`` ≥ 0: the prior's weight on the means, in observations. 0 puts no
        prior on the means.
    mean : ndarray of shape (n_features,)
        ``μ_P``.
    dof : float
        ``ν_P`` > d - 1.
    scale : ndarray of shape (n_features, n_features)
        ``Λ_P``, symmetric positive definite. Spherical and diagonal models
        use the scalar ``trace(Λ_P) / d``.
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray


def supported_models() -> list[str]:
    """Codes of the registered models with a closed-form MAP M-step."""
    return sorted(code for code, m in MODELS.items() if m.supports_prior)


def data_moments(
    stats: SuffStats, shift: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and covariance (divisor ``W - 1``) of the data from any statistics.

    Works for statistics of every second-moment kind because the
    responsibilities of a row sum to 1; a kind without cross moments gives a
    diagonal covariance.
    """
    total = stats.total_weight
    g = stats.sk.sum(axis=0) / total
    S = np.asarray(stats.Sk)
    if kind == "full":
        second = S.sum(axis=0)
    elif kind == "diag":
        second = np.diag(S.sum(axis=0))
    elif kind == "pooled":
        second = S
    elif kind == "pooled_diag":
        second = np.diag(S)
    else:
        raise ValueError(f"statistics of kind {kind!r} carry no second moments")
    cov = second / total - np.outer(g, g)
    cov = 0.5 * (cov + cov.T)
    if total > 1.0:
        cov *= total / (total - 1.0)
    return g + shift, cov


def resolve_prior(
    spec: Any, *, mean: np.ndarray, cov: np.ndarray, n_components: int, model: CovarianceModel
) -> ConjugatePrior | None:
    """Turn ``GaussianMixture(prior=...)`` into hyperparameters (validated).

    Parameters
    ----------
    spec : None, "default" or dict
        A dict may set any of ``shrinkage``, ``mean``, ``dof``, ``scale``
        (scalar or (d, d) matrix); the rest take mclust's defaults.
    mean, cov : ndarray
        The data's weighted mean (d,) and covariance (d, d).
    """
    if spec is None:
        return None
    if not model.supports_prior:
        raise ValueError(
            f"covariance model {model.code} has no closed-form MAP M-step, so prior= is not "
            f"supported for it; models that support it: {', '.join(supported_models())}"
        )
    if isinstance(spec, str):
        if spec != "default":
            raise ValueError(f"prior must be None, 'default' or a dict, got {spec!r}")
        spec = {}
    if not isinstance(spec, Mapping):
        raise TypeError(f"prior must be None, 'default' or a dict, got {type(spec).__name__}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"unknown prior key(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    d = mean.shape[0]
    shrinkage = float(spec.get("shrinkage", DEFAULT_SHRINKAGE))
    if not (np.isfinite(shrinkage) and shrinkage >= 0):
        raise ValueError(f"prior shrinkage must be finite and >= 0, got {shrinkage}")
    mu = np.asarray(spec.get("mean", mean), dtype=np.float64)
    if mu.shape != (d,) or not np.all(np.isfinite(mu)):
        raise ValueError(f"prior mean must be finite with shape ({d},), got shape {mu.shape}")
    dof = float(spec.get("dof", d + 2))
    if not (np.isfinite(dof) and dof > d - 1):
        raise ValueError(f"prior dof must exceed n_features - 1 = {d - 1}, got {dof}")
    if "scale" in spec:
        scale = np.asarray(spec["scale"], dtype=np.float64)
        if scale.ndim == 0:
            scale = float(scale) * np.eye(d)
    else:
        var = cov
        if not np.trace(var) > 0:  # all rows identical: fall back to unit scale
            var = np.eye(d)
        elif np.min(np.linalg.eigvalsh(var)) <= 1e-12 * np.max(np.diag(var)):
            # constant or collinear columns: keep the prior proper along them.
            var = var + 1e-6 * np.trace(var) / d * np.eye(d)
        scale = var * n_components ** (-2.0 / d)
    if scale.shape != (d, d) or not np.all(np.isfinite(scale)):
        raise ValueError(f"prior scale must be a finite scalar or ({d}, {d}) matrix")
    if not np.allclose(scale, scale.T) or np.min(np.linalg.eigvalsh(scale)) <= 0:
        raise ValueError("prior scale must be symmetric positive definite")
    return ConjugatePrior(shrinkage, mu, dof, 0.5 * (scale + scale.T))


def map_means_and_scatter(
    stats: SuffStats, nk: np.ndarray, kind: str, prior: ConjugatePrior, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior-mode means (shifted) and the scatter plus the prior's mean term.

    ``μ_k = (n_k x̄_k + κ μ_P) / (n_k + κ)``; the mean term
    ``κ n_k / (κ + n_k) (x̄_k - μ_P)(x̄_k - μ_P)ᵀ`` is added in the shape of
    the model's second-moment ``kind``.
    """
    kappa = prior.shrinkage
    mu_p = prior.mean - shift
    xbar = stats.sk / nk[:, None]
    means_c = (stats.sk + kappa * mu_p) / (nk + kappa)[:, None]
    W = scatter(stats, nk, kind)
    if kappa == 0:
        return means_c, W
    c = kappa * nk / (kappa + nk)
    D = xbar - mu_p
    if kind == "full":
        W = W + c[:, None, None] * (D[:, :, None] * D[:, None, :])
    elif kind == "diag":
        W = W + c[:, None] * D * D
    elif kind == "pooled":
        W = W + (D * c[:, None]).T @ D
    elif kind == "pooled_diag":
        W = W + (c[:, None] * D * D).sum(axis=0)
    return means_c, W


def log_prior(params: GMMParams, model: CovarianceModel, prior: ConjugatePrior) -> float:
    """Log prior density of mixture parameters (means and covariances; weights flat)."""
    total = model.log_prior(params.covariances, prior)
    if prior.shrinkage > 0:
        # log N(μ_k | μ_P, Σ_k / κ): the layout's Gaussian with precision scaled by κ.
        pc = params.precisions_cholesky * np.sqrt(prior.shrinkage)
        total += float(np.sum(model.layout.log_gaussian(prior.mean[None, :], params.means, pc)))
    return total
