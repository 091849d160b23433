"""Parsimonious models whose M-step has no closed form: VEI, VEE, VEV, EVE, VVE.

With ``Σ_k = λ_k D_k A_k D_kᵀ`` (volume, shape, orientation) the M-step
minimises ``Σ_k [n_k log|Σ_k| + tr(W_k Σ_k⁻¹)]`` over the model's constraint.
For these five models that needs an inner iteration, run until the relative
change of the objective falls below ``inner_tol`` or ``inner_max_iter``
iterations are spent (class attributes; defaults ``sqrt(machine eps)`` as in
mclust, and 1000):

- VEI, VEE, VEV: alternate the shared shape (or shape-and-orientation) and the
  per-component volumes, each in closed form given the other (Celeux &
  Govaert 1995). The objective is convex in the log-parameters, so the fixed
  point is the maximum.
- EVE, VVE: a common orientation ``D`` with per-component shapes; ``D`` is
  updated by the two majorise-minimise steps of Browne & McNicholas (2014),
  then shapes and volumes in closed form. Each step never increases the
  objective.

Every model accepts the previous M-step's covariances and starts its inner
iteration there (warm start, as mclust's EM does), so after the first EM
iterations the inner loop needs only a few steps.
"""

from __future__ import annotations

import numpy as np

from ._closed import _check_positive, _geomean_rows, _Guarded, sorted_eigh
from ._layouts import LAYOUTS, SingularCovarianceError

_SQRT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


def _changed(new: float, old: float, tol: float, scale: float) -> bool:
    """Whether the objective moved by more than ``tol`` per unit of mass.

    The objectives below are in log-likelihood units and can sit near zero,
    so their change is measured against the total mass, not their value.
    """
    return not abs(new - old) <= tol * scale


def _unit_det(S: np.ndarray) -> np.ndarray:
    """``S / |S|^{1/d}`` for a positive definite matrix; raises if it is not."""
    sign, logdet = np.linalg.slogdet(S)
    if not (sign > 0 and np.isfinite(logdet)):
        raise SingularCovarianceError(0)
    return S / np.exp(logdet / S.shape[-1])


class _Iterative(_Guarded):
    uses_previous = True
    inner_tol: float = _SQRT_EPS
    inner_max_iter: int = 1000


class VEI(_Iterative):
    """Variable volume, equal shape, axis-aligned: ``Σ_k = λ_k A``.

    Alternates ``λ_k = tr(W_k A⁻¹) / (d n_k)`` and
    ``A ∝ diag(Σ_k W_k / λ_k)`` with ``|A| = 1``.
    """

    code = "VEI"
    layout = LAYOUTS["diag"]
    stats_kind = "diag"
    description = "diagonal, variable volume, equal shape"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        d = n_features
        _check_positive(scatter.sum(axis=1))
        if previous is not None and np.all(previous[0] > 0):
            shape = previous[0] / _geomean_rows(previous[0])
        else:
            shape = np.ones(d)
        obj = np.inf
        for _ in range(self.inner_max_iter):
            lam = (scatter / shape).sum(axis=1) / (d * nk)
            _check_positive(lam)
            s = (scatter / lam[:, None]).sum(axis=0)
            g = _geomean_rows(s)
            if not g > 0:
                raise SingularCovarianceError(0)
            shape = s / g
            # Objective with λ at its optimum for this shape: d Σ n_k log λ_k + const.
            new = float(d * np.sum(nk * np.log((scatter / shape).sum(axis=1) / (d * nk))))
            if not _changed(new, obj, self.inner_tol, float(np.sum(nk))):
                break
            obj = new
        lam = (scatter / shape).sum(axis=1) / (d * nk)
        return lam[:, None] * shape[None, :]

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components + (n_features - 1)


class VEE(_Iterative):
    """Variable volume, equal shape and orientation: ``Σ_k = λ_k C``, ``|C| = 1``.

    Alternates ``λ_k = tr(W_k C⁻¹) / (d n_k)`` and ``C ∝ Σ_k W_k / λ_k``.
    """

    code = "VEE"
    layout = LAYOUTS["full"]
    stats_kind = "full"
    description = "ellipsoidal, variable volume, equal shape and orientation"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        d = n_features
        C = np.eye(d)
        if previous is not None:
            try:
                C = _unit_det(previous[0])
            except SingularCovarianceError:
                pass
        obj = np.inf
        for _ in range(self.inner_max_iter):
            Cinv = np.linalg.inv(C)
            lam = np.einsum("kij,ji->k", scatter, Cinv) / (d * nk)
            _check_positive(lam)
            new = float(d * np.sum(nk * np.log(lam)))
            C = _unit_det(np.tensordot(1.0 / lam, scatter, axes=1))
            if not _changed(new, obj, self.inner_tol, float(np.sum(nk))):
                break
            obj = new
        lam = np.einsum("kij,ji->k", scatter, np.linalg.inv(C)) / (d * nk)
        _check_positive(lam)
        return lam[:, None, None] * C[None, :, :]

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components + (d - 1) + d * (d - 1) // 2


class VEV(_Iterative):
    """Variable volume and orientation, equal shape: ``Σ_k = λ_k D_k A D_kᵀ``.

    ``D_k`` are the eigenvectors of ``W_k`` (eigenvalues ``Ω_k`` decreasing);
    then ``λ_k = tr(Ω_k A⁻¹) / (d n_k)`` and ``A ∝ Σ_k Ω_k / λ_k`` alternate.
    """

    code = "VEV"
    layout = LAYOUTS["full"]
    stats_kind = "full"
    description = "ellipsoidal, variable volume and orientation, equal shape"

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        d = n_features
        omega, L = sorted_eigh(scatter)
        _check_positive(omega.sum(axis=1))
        shape = np.ones(d)
        if previous is not None and np.all(np.isfinite(previous)):
            prev = np.linalg.eigvalsh(previous[0])[::-1]
            if prev[-1] > 0:
                shape = prev / _geomean_rows(prev)
        obj = np.inf
        for _ in range(self.inner_max_iter):
            lam = (omega / shape).sum(axis=1) / (d * nk)
            _check_positive(lam)
            new = float(d * np.sum(nk * np.log(lam)))
            s = (omega / lam[:, None]).sum(axis=0)
            g = _geomean_rows(s)
            if not g > 0:
                raise SingularCovarianceError(0)
            shape = s / g
            if not _changed(new, obj, self.inner_tol, float(np.sum(nk))):
                break
            obj = new
        lam = (omega / shape).sum(axis=1) / (d * nk)
        _check_positive(lam)
        eig = lam[:, None] * shape[None, :]
        return np.matmul(L * eig[:, None, :], np.swapaxes(L, 1, 2))

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components + (d - 1) + n_components * d * (d - 1) // 2


def _common_orientation(previous: np.ndarray, d: int) -> np.ndarray:
    """Starting common orientation: the previous covariances' eigenvectors.

    Covariances that share an orientation ``D`` (plus ``reg_covar · I``,
    which keeps eigenvectors) are all diagonalised by ``D``; their sum breaks
    ties between equal eigenvalues of any one of them.
    """
    return np.linalg.eigh(previous.sum(axis=0))[1]


def _orientation_mm(
    scatter: np.ndarray, D: np.ndarray, WD: np.ndarray, inv_shape: np.ndarray,
    omega_max: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One round of the two MM updates of the common orientation.

    Minimises ``Σ_k tr(W_k D M_k Dᵀ)`` over orthogonal ``D``, with ``M_k =
    diag(inv_shape[k])``. Step 1 majorises with ``W_k ≼ ω_k I`` (largest
    eigenvalue), step 2 with ``M_k ≼ max(M_k) I``; each linearises the concave
    remainder, and the minimiser of a linear function over orthogonal
    matrices ``tr(Gᵀ D)`` is ``-U Vᵀ`` from the SVD ``G = U S Vᵀ``.
    ``WD`` is ``W_k D`` for the incoming ``D``; returns the new ``D`` and ``W_k D``.
    """
    # Step 1: G = Σ_k (W_k - ω_k I) D M_k.
    G = np.sum((WD - omega_max[:, None, None] * D) * inv_shape[:, None, :], axis=0)
    U, _, Vt = np.linalg.svd(G)
    D = -U @ Vt
    # Step 2: G = Σ_k W_k D (M_k - max(M_k) I).
    WD = np.matmul(scatter, D)
    m = inv_shape - inv_shape.max(axis=1, keepdims=True)
    G = np.sum(WD * m[:, None, :], axis=0)
    U, _, Vt = np.linalg.svd(G)
    D = -U @ Vt
    return D, np.matmul(scatter, D)


def _diag_in(D: np.ndarray, WD: np.ndarray) -> np.ndarray:
    """``diag(Dᵀ W_k D)`` for every component from ``WD = W_k D``, shape (k, d)."""
    c = np.sum(WD * D, axis=1)
    if not np.all(c > 0):
        _check_positive(c)
    return c


#: Inner iterations each cold-start candidate orientation gets before the best
#: one is iterated to convergence.
_COLD_ITER = 10


class _CommonOrientation(_Iterative):
    """EVE and VVE: shared orientation, per-component shape."""

    layout = LAYOUTS["full"]
    stats_kind = "full"
    variable_volume = False

    def _shapes(self, c: np.ndarray, nk: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-component eigenvalues from ``c = diag(Dᵀ W_k D)``, and the objective."""
        d = c.shape[1]
        if self.variable_volume:
            # Σ_k = D diag(c_k / n_k) Dᵀ; objective Σ_k n_k Σ_j log c_kj + const.
            return c / nk[:, None], float(np.sum(nk[:, None] * np.log(c)))
        g = _geomean_rows(c)
        lam = float(np.sum(g)) / float(np.sum(nk))
        # A_k = c_k / g_k; objective (λ at its optimum) n d log λ + const.
        return lam * c / g[:, None], float(np.sum(nk)) * d * np.log(lam)

    def _mm_weights(self, eig: np.ndarray) -> np.ndarray:
        """``M_k`` of the orientation objective ``Σ_k tr(W_k D M_k Dᵀ)``: ``Σ_k``'s
        inverse eigenvalues, which makes it the likelihood's orientation term."""
        return 1.0 / eig

    def _inner(
        self, nk: np.ndarray, scatter: np.ndarray, D: np.ndarray, omega_max: np.ndarray,
        max_iter: int,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Iterate from orientation ``D``; returns ``(D, eigenvalues (k, d), objective)``."""
        scale = float(np.sum(nk))
        WD = np.matmul(scatter, D)
        eig, obj = self._shapes(_diag_in(D, WD), nk)
        for _ in range(max_iter):
            D, WD = _orientation_mm(scatter, D, WD, self._mm_weights(eig), omega_max)
            eig, new = self._shapes(_diag_in(D, WD), nk)
            done = not _changed(new, obj, self.inner_tol, scale)
            obj = new
            if done:
                break
        return D, eig, obj

    def _mstep(
        self, nk: np.ndarray, scatter: np.ndarray, n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        d = n_features
        omega_max = np.linalg.eigvalsh(scatter)[:, -1]
        _check_positive(omega_max)
        if previous is not None and np.all(np.isfinite(previous)):
            D0 = _common_orientation(previous, d)
        else:
            # Cold start: the orientation problem has local optima, so try the
            # identity (mclust's start), the pooled scatter's and each
            # component's eigenvectors for a few iterations, and go on from the best.
            starts = [np.eye(d), np.linalg.eigh(scatter.sum(axis=0))[1]]
            starts += list(np.linalg.eigh(scatter)[1])
            trials = [self._inner(nk, scatter, D, omega_max, _COLD_ITER) for D in starts]
            D0 = min(trials, key=lambda t: t[2])[0]
        D, eig, _ = self._inner(nk, scatter, D0, omega_max, self.inner_max_iter)
        return np.matmul(D[None] * eig[:, None, :], D.T[None])


class EVE(_CommonOrientation):
    """Equal volume, variable shape, equal orientation: ``Σ_k = λ D A_k Dᵀ``.

    Given ``D``: ``A_k ∝ diag(Dᵀ W_k D)`` and ``λ = Σ_k |diag(Dᵀ W_k D)|^{1/d} / n``;
    ``D`` by Browne & McNicholas' MM steps.
    """

    code = "EVE"
    description = "ellipsoidal, equal volume and orientation, variable shape"
    variable_volume = False

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 + n_components * (d - 1) + d * (d - 1) // 2


class VVE(_CommonOrientation):
    """Variable volume and shape, equal orientation: ``Σ_k = λ_k D A_k Dᵀ``.

    Given ``D``: ``λ_k A_k = diag(Dᵀ W_k D) / n_k``; ``D`` by Browne &
    McNicholas' MM steps.
    """

    code = "VVE"
    description = "ellipsoidal, equal orientation, variable volume and shape"
    variable_volume = True

    def n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components * d + d * (d - 1) // 2
