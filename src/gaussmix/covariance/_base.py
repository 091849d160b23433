"""The covariance-model interface: one object per model code."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._layouts import Layout

#: Anything with ``shrinkage``, ``mean``, ``dof`` and ``scale`` (see ``gaussmix.prior``).
ConjugatePriorLike = Any


class CovarianceModel:
    """A parsimonious covariance model (one of mclust's codes).

    A model knows which second moments its M-step needs (``stats_kind``), how
    to turn summed statistics into covariances (``mstep``), how it stores them
    (``layout``, which brings log-density, precisions and sampling), and how
    many free parameters its covariances have (``n_cov_parameters``).

    Attributes
    ----------
    code : str
        mclust's three-letter code, e.g. ``"VVV"``.
    layout : Layout
        Storage layout of the covariances.
    stats_kind : str
        Second moments the M-step reads: ``"full"``, ``"diag"``, ``"pooled"``
        or ``"pooled_diag"``.
    description : str
        Volume / shape / orientation in words.
    """

    code: str = ""
    #: Whether ``mstep`` takes the previous covariances (iterative M-steps warm start).
    uses_previous: bool = False
    layout: Layout
    stats_kind: str = "full"
    description: str = ""

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Maximum-likelihood covariances from weighted counts and scatter.

        Parameters
        ----------
        nk : ndarray of shape (n_components,)
            Weighted responsibility mass per component (guarded against 0).
        scatter : ndarray
            Within-component scatter in the shape of ``stats_kind``.
        n_features : int
        previous : ndarray or None
            The previous M-step's covariances (layout shape), where iterative
            models start their inner iteration; closed forms ignore it.

        Returns
        -------
        covariances : ndarray in the shape of ``layout`` (before ``reg_covar``).
        """
        raise NotImplementedError

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        """Number of free parameters of the covariances."""
        raise NotImplementedError

    # -- reliability hooks (collapse detection, conjugate prior) ---------------
    #: Whether :meth:`mstep_map` and :meth:`log_prior` are implemented (a
    #: closed-form MAP M-step under Fraley & Raftery's conjugate prior).
    supports_prior: bool = False

    def min_count(self, n_features: int) -> float:
        """Fewest weighted points a component needs before it counts as degenerate.

        A component whose covariance is estimated from its own points needs
        ``d + 1`` points for a full matrix and 2 for variances; a component
        whose covariance is pooled over all components needs one point. Models
        override this where their constraint says otherwise.
        """
        if self.stats_kind == "full":
            return float(n_features + 1)
        if self.stats_kind == "diag":
            return 2.0
        return 1.0

    def mstep_map(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int, prior: ConjugatePriorLike
    ) -> np.ndarray:
        """Posterior-mode covariances under the conjugate prior (Fraley & Raftery 2007).

        Parameters
        ----------
        nk : ndarray of shape (n_components,)
        scatter : ndarray
            Within-component scatter plus the prior's mean term
            ``κ n_k / (κ + n_k) (x̄_k - μ_P)(x̄_k - μ_P)ᵀ`` in the shape of
            ``stats_kind``.
        n_features : int
        prior : ConjugatePrior
            With ``shrinkage`` κ, ``dof`` ν and ``scale`` Λ (a (d, d) matrix;
            spherical and diagonal models use ``trace(Λ) / d``).

        Returns
        -------
        covariances : ndarray in the shape of ``layout`` (before ``reg_covar``).
        """
        raise NotImplementedError(f"model {self.code} has no closed-form MAP M-step")

    def log_prior(self, covariances: np.ndarray, prior: ConjugatePriorLike) -> float:
        """Log prior density of the covariances (inverse Wishart / inverse gamma)."""
        raise NotImplementedError(f"model {self.code} has no conjugate prior")

    def __repr__(self) -> str:
        return f"<CovarianceModel {self.code}: {self.description}>"
