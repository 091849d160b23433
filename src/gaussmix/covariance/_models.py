"""Closed-form covariance models: EII, VII, VVI, EEE, VVV.

Each M-step maximises the expected complete-data log-likelihood over the
model's constraint, given ``nk`` and the within-component scatter ``W``.
"""

from __future__ import annotations

import numpy as np

from ._base import CovarianceModel
from ._layouts import LAYOUTS


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
