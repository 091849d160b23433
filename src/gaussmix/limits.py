"""k-means as the vanishing-variance limit of a Gaussian mixture.

Soft EM for a mixture with equal weights and one shared spherical covariance
``σ² I`` held fixed gives each row the responsibilities
``r_k(x) ∝ exp(-|x - μ_k|² / 2σ²)``. As ``σ² → 0`` the nearest centre's term
dominates, ``r(x)`` becomes the one-hot nearest-centre assignment, and the
M-step (responsibility-weighted means) becomes the k-means centroid update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .cluster import KMeans
from .covariance import FixedSphericalVariance
from .mixture import GaussianMixture


class LimitStep(NamedTuple):
    """Soft EM at one fixed variance, measured against k-means.

    Attributes
    ----------
    variance : float
        The fixed shared variance ``σ²``.
    max_gap : float
        Largest ``1 - max_k r_k(x)`` over rows: distance from one-hot.
    mean_gap : float
        Mean of the same.
    max_shift : float
        Largest absolute difference between EM's means and k-means' centres.
    n_iter : int
        EM iterations to convergence.
    """

    variance: float
    max_gap: float
    mean_gap: float
    max_shift: float
    n_iter: int


def vanishing_variance(
    X: np.ndarray,
    n_clusters: int,
    variances: Sequence[float] = (1.0, 0.1, 0.01, 0.001),
    *,
    random_state: int | None = 0,
) -> list[LimitStep]:
    """Run soft EM with a fixed, shrinking shared variance from the k-means centres.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Best standardised, so that the variances are on a known scale.
    n_clusters : int
    variances : sequence of float
        Fixed variances ``σ²`` to try, typically decreasing.
    random_state : int or None, default=0
        Seed of the k-means fit.

    Returns
    -------
    steps : list of LimitStep
        One per variance.

    Examples
    --------
    >>> from gaussmix import load_faithful
    >>> from gaussmix.limits import vanishing_variance
    >>> X = load_faithful()[0]
    >>> X = (X - X.mean(0)) / X.std(0)
    >>> steps = vanishing_variance(X, 2, [1.0, 0.001])
    >>> steps[0].max_gap > steps[1].max_gap
    True
    """
    km = KMeans(n_clusters, n_init=5, random_state=random_state).fit(X)
    k = n_clusters
    steps = []
    for s2 in variances:
        gm = GaussianMixture(
            k,
            covariance_type=FixedSphericalVariance(s2),
            equal_weights=True,
            reg_covar=0.0,
            means_init=km.cluster_centers_,
            weights_init=np.full(k, 1.0 / k),
            precisions_init=np.full(k, 1.0 / s2),
            tol=1e-12,
            max_iter=5000,
        ).fit(X)
        gap = 1.0 - gm.predict_proba(X).max(axis=1)
        shift = float(np.max(np.abs(gm.means_ - km.cluster_centers_)))
        steps.append(LimitStep(float(s2), float(gap.max()), float(gap.mean()), shift, gm.n_iter_))
    return steps
