"""Closed-form parsimonious models beyond scikit-learn's four: EEI, EVI, EEV, EVV.

mclust parameterises a covariance as ``Σ_k = λ_k D_k A_k D_kᵀ``: volume
``λ_k = |Σ_k|^{1/d}``, shape ``A_k`` (diagonal, determinant 1) and
orientation ``D_k`` (orthogonal). Each M-step here maximises the expected
complete-data log-likelihood ``-½ Σ_k [n_k log|Σ_k| + tr(W_k Σ_k⁻¹)]`` over the
model's constraint in closed form (Celeux & Govaert 1995), where ``W_k`` is the
within-component scatter and ``n_k`` its (weighted) mass.
"""

from __future__ import annotations

import numpy as np

from ._base import CovarianceModel
from ._layouts import LAYOUTS, SingularCovarianceError


def _geomean_rows(a: np.ndarray) -> np.ndarray:
    """Geometric mean along the last axis; 0 where any entry is <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.exp(np.mean(np.log(a), axis=-1))
    return np.where(np.all(a > 0, axis=-1), out, 0.0)


def _check_positive(values: np.ndarray) -> None:
    """Raise for the first component whose volume or variances are not positive."""
    v = np.asarray(values)
    bad = ~(v > 0) if v.ndim == 1 else ~np.all(v.reshape(v.shape[0], -1) > 0, axis=1)
    idx = np.flatnonzero(bad)
    if idx.size:
        raise SingularCovarianceError(int(idx[0]))


def sorted_eigh(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues in decreasing order and matching eigenvectors of each ``W_k``.

    Returns ``(values (k, d), vectors (k, d, d))`` with ``W_k = V diag(w) Vᵀ``.
    """
    w, V = np.linalg.eigh(W)
    w = np.maximum(w[..., ::-1], 0.0)  # round-off can make a PSD scatter's eigenvalue < 0
    return w, V[..., ::-1]


#: Relative ridge for the fallback M-step of a degenerate scatter (see _Guarded).
_RIDGE = 1e-10


class _Guarded(CovarianceModel):
    """A model whose M-step normalises by a volume or shape that a degenerate
    component (empty, or on fewer than ``d + 1`` points) leaves undefined.

    The exact M-step (``_mstep``) is tried first; if a component's scatter
    is singular there, the M-step is taken again on scatters with a ridge of
    ``1e-10`` times the mean within-component variance, which is the limit
    of the exact solution as the component degenerates. ``reg_covar`` then
    regularises it as for any model; with ``reg_covar=0`` the fit carries a
    near-singular component, which :func:`gaussmix.select` reports as
    degenerate.
    """

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None,
    ) -> np.ndarray:
        raise NotImplementedError

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                out = self._mstep(nk, scatter, n_features, previous)
            if np.all(np.isfinite(out)):
                return out
        except (SingularCovarianceError, np.linalg.LinAlgError):
            pass
        total = float(np.sum(nk)) * n_features
        if scatter.ndim == 3:
            var = float(np.einsum("kii->", scatter)) / total
            ridge = _RIDGE * var * nk[:, None, None] * np.eye(n_features)
        else:
            var = float(np.sum(scatter)) / total
            ridge = _RIDGE * var * nk[:, None]
        if not var > 0:
            raise SingularCovarianceError(0, "every component's scatter is zero: "
                                          "the data have no spread")
        return self._mstep(nk, scatter + ridge, n_features, None)


class EEI(CovarianceModel):
    """Equal volume and shape, axis-aligned: ``Σ_k = λ A`` (one diagonal covariance).

    M-step: the pooled within-component variances divided by the total mass.
    """

    code = "EEI"
    layout = LAYOUTS["diag"]
    stats_kind = "pooled_diag"
    description = "diagonal, equal volume and shape"

    def mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        var = scatter / float(np.sum(nk))
        return np.tile(var, (nk.shape[0], 1))

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features


class EVI(_Guarded):
    """Equal volume, variable shape, axis-aligned: ``Σ_k = λ A_k``.

    M-step: ``A_k = diag(W_k) / |diag(W_k)|^{1/d}`` and
    ``λ = Σ_k |diag(W_k)|^{1/d} / n``.
    """

    code = "EVI"
    layout = LAYOUTS["diag"]
    stats_kind = "diag"
    description = "diagonal, equal volume, variable shape"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        g = _geomean_rows(scatter)
        _check_positive(g)
        lam = float(np.sum(g)) / float(np.sum(nk))
        return lam * scatter / g[:, None]

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return 1 + n_components * (n_features - 1)


class EEV(_Guarded):
    """Equal volume and shape, variable orientation: ``Σ_k = λ D_k A D_kᵀ``.

    M-step (Celeux & Govaert 1995): with ``W_k = L_k Ω_k L_kᵀ`` (eigenvalues
    in decreasing order), ``D_k = L_k`` and ``λ A = Σ_k Ω_k / n``.
    """

    code = "EEV"
    layout = LAYOUTS["full"]
    stats_kind = "full"
    description = "ellipsoidal, equal volume and shape, variable orientation"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        omega, L = sorted_eigh(scatter)
        lam_a = omega.sum(axis=0) / float(np.sum(nk))
        _check_positive(lam_a[None, :])
        return np.matmul(L * lam_a[None, None, :], np.swapaxes(L, 1, 2))

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 + (d - 1) + n_components * d * (d - 1) // 2


class EVV(_Guarded):
    """Equal volume, variable shape and orientation: ``Σ_k = λ C_k``, ``|C_k| = 1``.

    M-step: ``C_k = W_k / |W_k|^{1/d}`` and ``λ = Σ_k |W_k|^{1/d} / n``.
    """

    code = "EVV"
    layout = LAYOUTS["full"]
    stats_kind = "full"
    description = "ellipsoidal, equal volume, variable shape and orientation"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        sign, logdet = np.linalg.slogdet(scatter)
        g = np.where(sign > 0, np.exp(logdet / n_features), 0.0)
        _check_positive(g)
        lam = float(np.sum(g)) / float(np.sum(nk))
        return lam * scatter / g[:, None, None]

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 + n_components * (d * (d + 1) // 2 - 1)
