"""The covariance-model interface: one object per model code."""

from __future__ import annotations

import numpy as np

from ._layouts import Layout


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

    def __repr__(self) -> str:
        return f"<CovarianceModel {self.code}: {self.description}>"
