"""Storage layouts of covariance parameters and the math that depends only on them.

Every covariance model stores its covariances in one of four layouts, the
shapes scikit-learn uses for its four ``covariance_type`` values:

- ``"full"``: ``(n_components, n_features, n_features)``
- ``"tied"``: ``(n_features, n_features)``, shared by all components
- ``"diag"``: ``(n_components, n_features)``
- ``"spherical"``: ``(n_components,)``

The log-density, Cholesky factors of precisions and sampling depend only on the
layout, not on which of the (many more) covariance models produced the
parameters. So the 14 mclust models map onto these four pieces of math.
All functions here are private twins: they assume validated float64 input.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ..stats import _GATHER_MIN_FEATURES

_LOG_2PI = float(np.log(2.0 * np.pi))


class SingularCovarianceError(ValueError):
    """A component's covariance is not positive definite (it has collapsed)."""

    def __init__(self, component: int, message: str | None = None) -> None:
        self.component = component
        super().__init__(
            message
            or (
                f"covariance of component {component} is singular (not positive definite): "
                "the component has collapsed onto too few points. Increase reg_covar, "
                "reduce n_components, or scale the data."
            )
        )


def _inv_chol_upper(cov: np.ndarray, component: int) -> np.ndarray:
    """Upper-triangular U with U @ U.T equal to inv(cov)."""
    try:
        chol = linalg.cholesky(cov, lower=True)
    except linalg.LinAlgError:
        raise SingularCovarianceError(component) from None
    if not np.all(np.isfinite(chol)):
        raise SingularCovarianceError(component)
    eye = np.eye(cov.shape[0])
    return linalg.solve_triangular(chol, eye, lower=True).T


#: From this many features the full-covariance distances run in the tiled
#: kernel (:func:`gaussmix._estep_kernels.mahalanobis_block`).
_TILED_MIN_FEATURES = 3


def _triangle_blocks(d: int) -> list[tuple[int, int]]:
    """Row blocks ``[lo, hi)`` of a lower-triangular d x d factor, at least 16 rows each.

    Up to four blocks: smaller ones make GEMMs too thin to run at full rate.
    """
    nb = max(1, min(4, d // 16))
    edges = [round(b * d / nb) for b in range(nb + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


class Layout:
    """Math shared by all covariance models with one storage layout."""

    name: str = ""
    #: Target bytes of the widest temporary of one chunk (sets the default chunk
    #: with :meth:`row_width`) on data whose whole temporary would be at most
    #: ``big_chunks_up_to`` bytes; otherwise the default target, 4 MiB.
    chunk_bytes: int = 4 * 2**20
    big_chunks_up_to: int = 0

    def row_width(self, n_components: int, n_features: int) -> int:
        """Values per row of the E-step's widest temporary (sets the default chunk)."""
        return n_components * n_features

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def from_precisions(self, precisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(covariances, precisions_cholesky)`` from precision matrices."""
        raise NotImplementedError

    def log_det_chol(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        """Log-determinant of each component's precision Cholesky factor, shape (k,)."""
        raise NotImplementedError

    def mahalanobis_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        """Squared Mahalanobis distances, component-major: shape (n_components, n_samples).

        Component-major keeps every reduction over components a fast
        element-wise pass over contiguous rows (numpy reduces short rows slowly).
        """
        raise NotImplementedError

    def smallest_eigenvalues(self, cov: np.ndarray) -> np.ndarray | None:
        """Smallest eigenvalue of each component's covariance, shape (k,), where cheap.

        None where it would take an eigendecomposition (full, tied). Layouts that
        give them hold one variance or one row of variances per component (a
        leading k axis).
        """
        return None

    def covariance_cholesky(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        """Lower Cholesky factors of each component's covariance, shape (k, d, d)."""
        return np.linalg.cholesky(self.full(cov, k, d))

    def full(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        """Each component's covariance as a dense ``(k, d, d)`` array."""
        raise NotImplementedError

    def shape(self, k: int, d: int) -> tuple[int, ...]:
        raise NotImplementedError

    def add_reg(self, cov: np.ndarray, reg: float) -> np.ndarray:
        """Add ``reg`` to every variance (the diagonal), returning a new array."""
        raise NotImplementedError

    def log_gaussian_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        """log N(x | mean_k, cov_k), component-major: shape (n_components, n_samples)."""
        d = X.shape[1]
        out = self.mahalanobis_kn(X, means, prec_chol)
        out *= -0.5
        out += (self.log_det_chol(prec_chol, d) - 0.5 * d * _LOG_2PI)[:, None]
        return out

    def log_gaussian(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """log N(x | mean_k, cov_k) for every row and component, shape (n, k)."""
        return self.log_gaussian_kn(X, means, prec_chol).T

    def quadratic_form(
        self, means: np.ndarray, prec_chol: np.ndarray, dtype: type
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Squared Mahalanobis distances as ``s_k * max(W_k · [x², x, 1], 0)``, or None.

        For the fused soft E-step (:mod:`gaussmix._estep_kernels`): one GEMM
        of ``W`` against the shifted rows written as ``[x², x, 1]`` gives every
        distance. ``means`` (shifted) and ``prec_chol`` are float64. Returns
        ``(W, s)``: ``W`` of shape (k, 2d + 1) in ``dtype`` (or (k, d + 2)
        over ``[|x|², x, 1]`` where one scale serves every feature) and ``s``
        of shape (k,). Layouts whose distances are not of this form return None.
        """
        return None


class FullLayout(Layout):
    name = "full"

    def shape(self, k: int, d: int) -> tuple[int, ...]:
        return (k, d, d)

    def row_width(self, n_components: int, n_features: int) -> int:
        # No (n, k, d) array: the distances go tile by tile through L2
        # (mahalanobis_block). From _GATHER_MIN_FEATURES features, a row's
        # temporaries are a few (k, n) arrays and about one gathered copy of
        # it for the second moments (capped by stats._GATHER_BYTES): larger
        # chunks, less Python per row (W3 float32: 819 -> 8,334 rows, 93 ->
        # 62-66 ms an iteration on 2 threads; W2 float64 63 -> 43). Fewer
        # features keep k d: their dense moment passes run in L2 at that size
        # (W4 float32 at 2.7x the chunk: 109 -> 147 ms).
        if n_features < _GATHER_MIN_FEATURES:
            return n_components * n_features
        return 2 * n_components + n_features

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        # Batched first (one LAPACK call per step for all components); the
        # per-component path names the component that is not positive definite.
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            chol = None
        if chol is None or not np.all(np.isfinite(chol)):
            return np.stack([_inv_chol_upper(c, i) for i, c in enumerate(cov)])
        eye = np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
        # Contiguous, so a model reloaded from file computes bit-identically.
        return np.ascontiguousarray(np.swapaxes(np.linalg.solve(chol, eye), 1, 2))

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return np.matmul(prec_chol, np.swapaxes(prec_chol, 1, 2))

    def from_precisions(self, precisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chols = []
        for i, p in enumerate(precisions):
            try:
                chols.append(linalg.cholesky(p, lower=True))
            except linalg.LinAlgError:
                raise SingularCovarianceError(
                    i, f"precisions_init[{i}] is not positive definite"
                ) from None
        return np.stack([np.linalg.inv(p) for p in precisions]), np.stack(chols)

    def log_det_chol(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)

    def mahalanobis_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        from .._estep_kernels import mahalanobis_block

        k, d = means.shape
        n = X.shape[0]
        # GEMMs for all components at once: [x_1 … x_hi, 1] against columns of
        # [U_kᵀ | -U_kᵀ μ_k], so y_k = U_kᵀ (x - μ_k) comes out with the mean
        # folded in. U_kᵀ is lower triangular: rows in block [lo, hi) of
        # _triangle_blocks(d) need only x_1 … x_hi, so each block is its own
        # GEMM (four blocks do 5/8 of the dense flops; one block, d < 32, is
        # the dense GEMM), run tile by tile in a kernel that sums the squares
        # while the product is in cache.
        X = np.ascontiguousarray(X)
        UT = np.swapaxes(prec_chol, 1, 2)
        c = -np.einsum("kd,kde->ke", means, prec_chol)
        out = np.empty((k, n), dtype=X.dtype)  # float32 rows stay float32
        if d < _TILED_MIN_FEATURES:
            # A handful of coordinates per component: the kernel's per-row sums
            # are too short to pay; one product over the chunk, squares summed
            # across its rows (W1, 25,000 x 2, k = 5: 0.12 vs 0.27 ms float32).
            A = np.concatenate([UT, c[:, :, None]], axis=2).reshape(k * d, d + 1)
            Xa = np.empty((d + 1, n), dtype=X.dtype)
            Xa[:d] = X.T
            Xa[d] = 1.0
            y = (A.astype(X.dtype) @ Xa).reshape(k, d, n)
            return np.einsum("kdn,kdn->kn", y, y, out=out)
        for lo, hi in _triangle_blocks(d):
            A = np.empty((k, hi - lo, hi + 1), dtype=X.dtype)
            A[:, :, :hi] = UT[:, lo:hi, :hi]
            A[:, :, hi] = c[:, lo:hi]
            Bt = np.ascontiguousarray(A.reshape(k * (hi - lo), hi + 1).T)
            mahalanobis_block(X, Bt, hi, lo == 0, out)
        return out

    def full(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.asarray(cov)

    def add_reg(self, cov: np.ndarray, reg: float) -> np.ndarray:
        return cov + reg * np.eye(cov.shape[-1])


class TiedLayout(Layout):
    name = "tied"

    def row_width(self, n_components: int, n_features: int) -> int:
        # the shifted and the whitened rows and the (k, n) log-densities (the
        # E-step is the spherical form in whitened rows): chunks of k d values
        # a row were 962 rows on W3, and Python per chunk dominated (2 threads,
        # per iteration: W3 float32 19.4 -> 14.4 ms, W2 float64 26.7 -> 19.8)
        return 2 * n_features + n_components

    def shape(self, k: int, d: int) -> tuple[int, ...]:
        return (d, d)

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        return _inv_chol_upper(cov, 0)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return prec_chol @ prec_chol.T

    def from_precisions(self, precisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            chol = linalg.cholesky(precisions, lower=True)
        except linalg.LinAlgError:
            raise SingularCovarianceError(0, "precisions_init is not positive definite") from None
        return np.linalg.inv(precisions), chol

    def log_det_chol(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        return np.atleast_1d(np.sum(np.log(np.diag(prec_chol))))

    def mahalanobis_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        y = X @ prec_chol
        m = means @ prec_chol
        out = -2.0 * (m @ y.T)
        out += np.einsum("ij,ij->i", y, y)
        out += np.einsum("ij,ij->i", m, m)[:, None]
        return np.maximum(out, 0.0, out=out)

    def full(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.broadcast_to(cov, (k, *cov.shape)).copy()

    def add_reg(self, cov: np.ndarray, reg: float) -> np.ndarray:
        return cov + reg * np.eye(cov.shape[-1])


# The diagonal and spherical E-steps' chunks on small data: 16 MiB of
# [x², x, 1], 4x the default target. Fewer, larger chunks ran faster where
# the data made only a few of them (2 threads, per iteration: W3 float32 diag
# 7.0 -> 6.3 ms, W2 float64 15.5 -> 14.6; benchmarks/NOTES.md #95). On large
# data they gained nothing and took 4x the memory (1,000,000 x 16 float64:
# +11.6 -> +45.4 MiB at the peak, 68-70 ms an iteration either way; #100),
# so past 64 MiB of [x², x, 1] in all, chunks keep the 4 MiB target.
_QUADRATIC_CHUNK_BYTES = 16 * 2**20
_QUADRATIC_BIG_CHUNKS_UP_TO = 64 * 2**20


class DiagLayout(Layout):
    name = "diag"
    chunk_bytes = _QUADRATIC_CHUNK_BYTES
    big_chunks_up_to = _QUADRATIC_BIG_CHUNKS_UP_TO

    def row_width(self, n_components: int, n_features: int) -> int:
        # rows as [x², x, 1] and the (k, n) log-densities: no (n, k, d) array
        return max(2 * n_features + 1, n_components)

    def shape(self, k: int, d: int) -> tuple[int, ...]:
        return (k, d)

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        bad = np.argwhere(~(cov > 0.0))
        if bad.size:
            raise SingularCovarianceError(int(bad[0, 0]))
        return 1.0 / np.sqrt(cov)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return prec_chol**2

    def from_precisions(self, precisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.any(precisions <= 0):
            raise SingularCovarianceError(0, "precisions_init must be positive")
        return 1.0 / precisions, np.sqrt(precisions)

    def log_det_chol(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(prec_chol), axis=1)

    def mahalanobis_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        p = prec_chol**2
        out = p @ (X * X).T
        out -= 2.0 * ((means * p) @ X.T)
        out += np.sum(means**2 * p, axis=1)[:, None]
        return np.maximum(out, 0.0, out=out)

    def quadratic_form(
        self, means: np.ndarray, prec_chol: np.ndarray, dtype: type
    ) -> tuple[np.ndarray, np.ndarray]:
        # Σ p (x - μ)² = [p, -2 μ p, Σ p μ²] · [x², x, 1]
        p = prec_chol**2
        W = np.concatenate([p, -2.0 * means * p, np.sum(means**2 * p, axis=1)[:, None]],
                           axis=1)
        return W.astype(dtype), np.ones(means.shape[0])

    def full(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.stack([np.diag(c) for c in cov])

    def add_reg(self, cov: np.ndarray, reg: float) -> np.ndarray:
        return cov + reg

    def covariance_cholesky(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return self.full(np.sqrt(cov), k, d)

    def smallest_eigenvalues(self, cov: np.ndarray) -> np.ndarray:
        return np.asarray(cov).min(axis=1)


class SphericalLayout(Layout):
    name = "spherical"
    chunk_bytes = _QUADRATIC_CHUNK_BYTES
    big_chunks_up_to = _QUADRATIC_BIG_CHUNKS_UP_TO

    def row_width(self, n_components: int, n_features: int) -> int:
        # rows as [x², x, 1] and the (k, n) log-densities: no (n, k, d) array
        return max(2 * n_features + 1, n_components)

    def shape(self, k: int, d: int) -> tuple[int, ...]:
        return (k,)

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        bad = np.flatnonzero(~(cov > 0.0))
        if bad.size:
            raise SingularCovarianceError(int(bad[0]))
        return 1.0 / np.sqrt(cov)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        return prec_chol**2

    def from_precisions(self, precisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.any(precisions <= 0):
            raise SingularCovarianceError(0, "precisions_init must be positive")
        return 1.0 / precisions, np.sqrt(precisions)

    def log_det_chol(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        return n_features * np.log(prec_chol)

    def mahalanobis_kn(
        self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        out = -2.0 * (means @ X.T)
        out += np.einsum("ij,ij->i", X, X)
        out += np.sum(means**2, axis=1)[:, None]
        np.maximum(out, 0.0, out=out)
        out *= (prec_chol**2)[:, None]
        return out

    def quadratic_form(
        self, means: np.ndarray, prec_chol: np.ndarray, dtype: type
    ) -> tuple[np.ndarray, np.ndarray]:
        # |x - μ|² = [1, -2 μ, |μ|²] · [|x|², x, 1], times p: d + 2 columns, half
        # the GEMM of the diagonal form over [x², x, 1] (the E-step then builds
        # [x², |x|², x, 1]: its statistics still need x²).
        W = np.concatenate([np.ones((means.shape[0], 1)), -2.0 * means,
                            np.sum(means**2, axis=1)[:, None]], axis=1)
        return W.astype(dtype), prec_chol**2

    def full(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.asarray(cov)[:, None, None] * np.eye(d)

    def add_reg(self, cov: np.ndarray, reg: float) -> np.ndarray:
        return cov + reg

    def covariance_cholesky(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return self.full(np.sqrt(cov), k, d)

    def smallest_eigenvalues(self, cov: np.ndarray) -> np.ndarray:
        return np.asarray(cov, dtype=np.float64)


LAYOUTS: dict[str, Layout] = {
    "full": FullLayout(),
    "tied": TiedLayout(),
    "diag": DiagLayout(),
    "spherical": SphericalLayout(),
}
