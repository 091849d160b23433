"""E-step kernels: one block of rows in, additive sufficient statistics out.

Soft assignment gives posterior responsibilities (computed in log space);
hard assignment replaces them by the one-hot argmax (classification EM).
The same kernel, without the reduction, gives log-densities and
responsibilities for ``predict``/``score_samples``.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from . import _estep_kernels as _k
from ._blocks import kernel_block
from .covariance import CovarianceModel
from .covariance._layouts import _LOG_2PI
from .stats import (
    SuffStats,
    stats_from_augmented,
    stats_from_labels,
    stats_from_shifted_rows,
    weighted_stats_kn,
)


class GMMParams(NamedTuple):
    """Parameters of a Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray, shape given by the model's layout
    precisions_cholesky : ndarray, same shape as ``covariances``
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def weighted_log_prob_kn(
    X: np.ndarray,
    params: GMMParams,
    model: CovarianceModel,
    shift: np.ndarray,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Shifted rows and ``log π_k + log N(x | μ_k, Σ_k)``, shape (k, n), in ``dtype``."""
    Xc: np.ndarray = np.asarray(X, dtype=dtype) - shift.astype(dtype)
    out = model.layout.log_gaussian_kn(
        Xc,
        (params.means - shift).astype(dtype),
        params.precisions_cholesky.astype(dtype),
    )
    with np.errstate(divide="ignore"):
        out += np.log(params.weights).astype(dtype)[:, None]
    return Xc, out


def compute_dtype(X: np.ndarray) -> type:
    """float32 rows are processed in float32 (statistics still add up in float64)."""
    return np.float32 if X.dtype == np.float32 else np.float64


def argmax_kn(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and value of the largest entry of each column of a (k, n) array.

    A fast column maximum, then a masked pass per component from the last to
    the first, so ties go to the first component, as with ``argmax``.
    """
    best = a.max(axis=0)
    labels = np.zeros(a.shape[1], dtype=np.intp)
    for j in range(a.shape[0] - 1, 0, -1):
        np.copyto(labels, j, where=a[j] == best)
    return labels, best


_SCRATCH = threading.local()


def _buffer(name: str, shape: tuple[int, ...], dtype: type, scratch: bool) -> np.ndarray:
    """A new array, or with ``scratch`` this thread's reusable one of that name.

    Reusing the block temporaries avoids the page faults of fresh large
    allocations, which cost as much as the arithmetic on a chunk (measured
    on 52,428 x 5 float64: a 2 MiB product 0.15 ms into a reused buffer,
    ~1 ms into a fresh one). Only for arrays that do not leave the E-step.
    """
    if not scratch:
        return np.empty(shape, dtype=dtype)
    pool = _SCRATCH.__dict__
    buf = pool.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = pool[name] = np.empty(shape, dtype=dtype)
    return buf


def _normalise_kn(wlp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities and log-sum-exp over components of a (k, n) array.

    Overwrites ``wlp`` with the responsibilities (entries far below their
    column's maximum become 0, see :mod:`gaussmix._estep_kernels`).
    """
    m = np.empty(wlp.shape[1])
    _k.max_shifted(wlp, m)
    lse, _, _ = _normalise_shifted(wlp, m, np.ones(wlp.shape[1]), False)
    return wlp, lse


def _normalise_shifted(
    E: np.ndarray, m: np.ndarray, w: np.ndarray, scratch: bool
) -> tuple[np.ndarray, float, int]:
    """Shifted log-probabilities ``E`` (k, n) to weighted responsibilities, in place.

    Returns the log-sum-exp of each column (float64), ``Σ w lse`` and the
    number of nonzero responsibilities.
    """
    n = E.shape[1]
    ints = np.int32 if E.dtype == np.float32 else np.int64  # as wide as E's floats
    _k.exp_cut(E, _buffer("bits", (n,), ints, scratch))
    tot = _buffer("tot", (n,), np.float64, scratch)
    nnz = _k.normalise_columns(E, m, w, tot, _buffer("scale", (n,), E.dtype.type, scratch))
    lse = np.log(tot, out=tot)
    lse += m
    return lse, float(w @ lse), int(nnz)


class _Quadratic(NamedTuple):
    """Per-parameter constants of the fused soft E-step (see ``Layout.quadratic_form``)."""

    W: np.ndarray  # (k, 2d + 1) over [x², x, 1], or (k, d + 2) over [|x|², x, 1]; compute dtype
    s: np.ndarray  # (k,) scale of each distance
    c: np.ndarray  # (k,) log π_k + log-normalising constant
    shift: np.ndarray  # (d,) in the compute dtype
    # Distances |y|² - 2 y·M + b from one GEMM: spherical over the raw rows
    # (y = x, see _raw_spherical), tied over the whitened shifted rows
    # (y = (x - shift) L, M = (μ - shift) L, b = |M|²):
    M: np.ndarray | None  # (k, d) in the compute dtype, or None
    b: np.ndarray | None  # (k,) float64
    L: np.ndarray | None = None  # tied: (d, d) precision factor in the compute dtype
    # full, up to _SMALL_FULL_FEATURES: (k, d, d) float64 factors (M: (μ - shift) P, float64)
    P: np.ndarray | None = None
    # The one-kernel E-steps: diag statistics of diagonal components up to
    # _FUSED_DIAG_CELLS (diag_soft_small: Md the shifted means and H half the
    # precisions per feature, (k, d) in the compute dtype), full or pooled ones
    # of full covariances up to _FUSED_FULL_FEATURES (full_soft_small, with P
    # and M above); cd is c in the compute dtype
    Md: np.ndarray | None = None
    H: np.ndarray | None = None
    cd: np.ndarray | None = None


# Up to this many features, full covariances take full_distances_small (rows
# transposed by tiles, every loop across rows) instead of one NumPy product
# or the tiled GEMMs and the log-density passes (W1 float32 25,000-row chunk:
# ~0.48 -> 0.1 ms; benchmarks/NOTES.md #80).
_SMALL_FULL_FEATURES = 4
# Up to this many features, full and tied soft E-steps are one kernel over row
# tiles (full_soft_small: distances, exponentials, normalisation and moments
# in one pass; W1 25,000-row chunk, float32 0.54 -> 0.34 ms, float64 0.64 ->
# 0.40; benchmarks/NOTES.md #110).
_FUSED_FULL_FEATURES = _SMALL_FULL_FEATURES


# Diagonal or spherical components with at most this many (component, feature)
# cells, and diag statistics, take the whole soft E-step in one kernel over
# row tiles (diag_soft_small) instead of [x², x, 1], GEMMs and passes over
# (k, n) arrays: 25,000-row chunks 1.3-1.8x faster up to k d = 512 (W1 float32
# 0.44 -> 0.25 ms), the GEMMs ahead beyond (64 x 20 float64: 8.6 against
# 12.4 ms; benchmarks/NOTES.md #107).
_FUSED_DIAG_CELLS = 512


# Spherical distances |x - μ|² = |x - s|² - 2 x·(μ - s) + b need no copy of the
# rows: one GEMM over them as given, against the shifted means, instead of
# building [x², |x|², x, 1] and a GEMM over its last d + 2 columns (W3 float32,
# one thread: 7.6 -> ~2.7 ms a pass; benchmarks/NOTES.md #75). The product
# x·(μ - s) is rounded relative to |x| rather than |x - s|, so the raw rows are
# used only where that costs at most a factor _RAW_OFFSET (float32; float64:
# _RAW_OFFSET64) in the rounding of the distances: |s|² p_max below its square,
# the data's offset a few standard deviations of the tightest component. Few
# columns keep the augmented rows (their product is cheap; below 16 columns
# the statistics need them anyway).
_RAW_FEATURES = 16
_RAW_OFFSET = 16.0
_RAW_OFFSET64 = 2.0**20


def _raw_spherical(
    means_c: np.ndarray, shift: np.ndarray, s: np.ndarray, dtype: type
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(μ - shift, b)`` for :func:`~gaussmix._estep_kernels.spherical_distances`, or Nones."""
    d = means_c.shape[1]
    limit = _RAW_OFFSET if dtype == np.float32 else _RAW_OFFSET64
    if d < _RAW_FEATURES or not float(shift @ shift) * float(np.max(s)) <= limit**2:
        return None, None
    b = np.einsum("kj,kj->k", means_c, means_c) + 2.0 * (means_c @ shift)
    return np.ascontiguousarray(means_c, dtype=dtype), b


_LAST: list[tuple[object, ...]] = []


def _quadratic(
    params: GMMParams, model: CovarianceModel, shift: np.ndarray, dtype: type
) -> _Quadratic | None:
    """The fused E-step's constants, or None where the generic path serves
    (full covariances from ``_SMALL_FULL_FEATURES + 1`` features).

    Every chunk of an E-step has the same parameters: the constants are kept
    for the last ``(params, model, shift, dtype)`` seen (by identity; the
    cache holds them, so their ids cannot be reused), which saves ~10 small
    NumPy calls per chunk.
    """
    last = _LAST[0] if _LAST else None
    if (last is not None and last[0] is params and last[1] is model and last[2] is shift
            and last[3] is dtype):
        return last[4]  # type: ignore[return-value]
    layout = model.layout
    prec_chol = params.precisions_cholesky
    means_c = params.means - shift
    form = layout.quadratic_form(means_c, prec_chol, dtype)
    q = None
    k, d = params.means.shape
    # few features: full factors per component, or the tied one repeated
    small_full = layout.name in ("full", "tied") and d <= _SMALL_FULL_FEATURES
    if form is not None or layout.name == "tied" or small_full:
        with np.errstate(divide="ignore"):
            c = (layout.log_det_chol(prec_chol, d) - 0.5 * d * _LOG_2PI
                 + np.log(params.weights))
    if form is not None:
        spherical = form[0].shape[1] == d + 2
        M, b = _raw_spherical(means_c, shift, form[1], dtype) if spherical else (None, None)
        q = _Quadratic(form[0], form[1], c, shift.astype(dtype), M, b)
        if model.stats_kind == "diag" and k * d <= _FUSED_DIAG_CELLS:  # (the E-step's)
            p = prec_chol**2
            H = 0.5 * (p if p.ndim == 2 else p[:, None] * np.ones(d))
            q = q._replace(Md=np.ascontiguousarray(means_c, dtype=dtype), H=H.astype(dtype),
                           cd=c.astype(dtype))
    elif small_full:
        P = np.ascontiguousarray(np.broadcast_to(prec_chol, (k, d, d)), dtype=np.float64)
        fused = model.stats_kind in ("full", "pooled") and d <= _FUSED_FULL_FEATURES
        c = np.broadcast_to(c, (k,))
        q = _Quadratic(np.empty((k, 0), dtype=dtype), np.ones(k), c,
                       shift.astype(dtype), np.einsum("kd,kde->ke", means_c, P), None, P=P,
                       cd=c.astype(dtype) if fused else None)
    elif layout.name == "tied":
        # one shared factor: the spherical form with unit scale, in whitened rows
        Mw = means_c @ prec_chol
        q = _Quadratic(np.empty((k, 0), dtype=dtype), np.ones(k), np.broadcast_to(c, (k,)),
                       shift.astype(dtype), np.ascontiguousarray(Mw, dtype=dtype),
                       np.einsum("kj,kj->k", Mw, Mw),
                       np.ascontiguousarray(prec_chol, dtype=dtype))
    _LAST[:] = [(params, model, shift, dtype, q)]
    return q


class _SoftRows(NamedTuple):
    """One block's soft E-step before the statistics."""

    # [x², x, 1] or [x², |x|², x, 1] for quadratic layouts, else shifted rows;
    # None when the distances came from the raw rows (statistics from them too)
    A: np.ndarray | None
    quadratic: bool
    wr: np.ndarray  # weighted responsibilities w_i r_ij, (k, n)
    lse: np.ndarray  # float64 (n,)
    objective: float
    nnz: int  # nonzero entries of wr


# From this many columns, float32 products W @ A.T run as (A @ W.T).T: OpenBLAS
# takes the thin float32 product ~1.45x faster with the rows' dimension first
# (W3 chunk, 6,250 x 129 by 20: 0.49 -> 0.34 ms, one thread), and a tiled
# transposition costs 0.035 ms. Float64 and narrower products lost by it
# (benchmarks/NOTES.md #93).
_TRANSPOSED_PRODUCT_COLUMNS = 32


def _product_kn(A: np.ndarray, W: np.ndarray, dtype: type, scratch: bool) -> np.ndarray:
    """``W @ A.T``, (k, n), into this thread's buffer."""
    n, k = A.shape[0], W.shape[0]
    L = _buffer("Q", (k, n), dtype, scratch)
    if dtype != np.float32 or A.shape[1] < _TRANSPOSED_PRODUCT_COLUMNS:
        return np.matmul(W, A.T, out=L)
    Lt = np.matmul(A, W.T, out=_buffer("Qt", (n, k), dtype, scratch))
    _k.transpose_into(Lt, L)
    return L


def _soft_rows(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel,
    shift: np.ndarray, dtype: type, scratch: bool = False,
) -> _SoftRows:
    """Weighted responsibilities and log-densities of a block.

    Layouts whose distances have a quadratic form (diag, spherical) go through
    the fused kernels: rows are shifted and squared in one pass, one GEMM
    gives the distances, one kernel the log-densities less their maxima
    (spherical from 16 features: one GEMM over the rows as given). Tied
    covariances take the spherical form in whitened rows; full ones up to
    ``_SMALL_FULL_FEATURES`` one kernel over transposed tiles. Others compute
    their log-probabilities as before. With ``scratch`` the returned arrays
    are this thread's buffers, overwritten by its next call.
    """
    n, d = X.shape
    m = _buffer("m", (n,), np.float64, scratch)
    q = _quadratic(params, model, shift, dtype)
    A: np.ndarray | None
    if q is None:
        A, L = weighted_log_prob_kn(X, params, model, shift, dtype)
        _k.max_shifted(L, m)
    elif q.P is not None:  # full, few features: shifted rows for the statistics
        assert q.M is not None
        L = _buffer("Q", (q.M.shape[0], n), dtype, scratch)
        _k.full_distances_small(np.asarray(X), np.asarray(shift, dtype=np.float64), q.P, q.M, L)
        _k.log_prob_shifted(L, q.s, q.c, m)
        A = _buffer("Xc", (n, d), dtype, scratch)
        _k.shifted_rows(kernel_block(X), q.shift, A)  # (NumPy's d-wide broadcast: ~5x slower)
    elif q.M is not None:
        Y: np.ndarray = np.asarray(X, dtype=dtype)
        y_shift = np.asarray(shift, dtype=np.float64)
        A = None
        if q.L is not None:  # tied: whiten the shifted rows (they serve the statistics)
            A = np.subtract(Y, q.shift, out=_buffer("Xc", (n, d), dtype, scratch))
            Y = np.matmul(A, q.L, out=_buffer("Y", (n, d), dtype, scratch))
            y_shift = np.zeros(d)
        L = _product_kn(Y, q.M, dtype, scratch)
        _k.spherical_distances(L, Y, y_shift, q.b, _buffer("r", (n,), np.float64, scratch))
        _k.log_prob_shifted(L, q.s, q.c, m)
    else:
        # [x², x, 1], or [x², |x|², x, 1] when W reads only [|x|², x, 1] (spherical)
        width = 2 * d + 1 if q.W.shape[1] == 2 * d + 1 else 2 * d + 2
        A = _buffer("A", (n, width), dtype, scratch)
        _k.augmented_rows(np.asarray(X), q.shift, A)
        L = _product_kn(A[:, width - q.W.shape[1]:], q.W, dtype, scratch)
        _k.log_prob_shifted(L, q.s, q.c, m)
    lse, obj, nnz = _normalise_shifted(L, m, w, scratch)
    return _SoftRows(A, q is not None and q.L is None and q.P is None, L, lse, obj, nnz)


def log_resp(
    X: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-density of each row and its log-responsibilities.

    Returns
    -------
    log_density : ndarray of shape (n_rows,)
    log_resp : ndarray of shape (n_rows, n_components)
    """
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    lse = _normalise_kn(wlp.copy())[1]
    wlp -= lse
    return lse, wlp.T


def estep_soft(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Soft E-step of a block reduced to statistics; objective is ``Σ w log p(x)``.

    Float32 rows are processed in float32 (twice the BLAS rate, half the
    memory traffic); each block's statistics are then added in float64.
    """
    dtype = compute_dtype(X)
    q = _quadratic(params, model, shift, dtype)
    if q is not None and q.H is not None:
        return _fused_diag(kernel_block(X), np.asarray(w, dtype=np.float64), q, shift)
    if q is not None and q.P is not None and q.cd is not None:
        return _fused_full(kernel_block(X), np.asarray(w, dtype=np.float64), q, shift,
                           model.stats_kind == "pooled")
    r = _soft_rows(X, w, params, model, shift, dtype, scratch=True)
    if r.A is None:
        return stats_from_shifted_rows(np.asarray(X, dtype=dtype), shift.astype(dtype), w, r.wr,
                                       model.stats_kind, r.objective, r.nnz)
    if not r.quadratic:
        return weighted_stats_kn(r.A, w, r.wr, model.stats_kind, r.objective)
    return stats_from_augmented(r.A, w, r.wr, model.stats_kind, r.objective, r.nnz)


def _fused_diag(X: np.ndarray, w: np.ndarray, q: _Quadratic, shift: np.ndarray) -> SuffStats:
    """:func:`estep_soft` of diagonal components in one kernel (``q.H`` is set)."""
    assert q.Md is not None and q.H is not None and q.cd is not None
    n, d = X.shape
    k = q.Md.shape[0]
    like, tot, m = _one_kernel_scratch(n, q.cd.dtype)
    G = np.zeros((k, 2 * d + 1))
    _k.diag_soft_small(X, w, np.asarray(shift, dtype=np.float64), q.Md, q.H, q.cd, like, tot,
                       m, G)
    # moments about each component's mean (as the kernel read it), moved to the shift
    mu = q.Md.astype(np.float64)
    nk, s1, s2 = G[:, -1].copy(), G[:, d:2 * d], G[:, :d]
    return SuffStats(nk, s1 + nk[:, None] * mu, s2 + mu * (2.0 * s1 + nk[:, None] * mu),
                     _objective(w, tot, m))


def _fused_full(X: np.ndarray, w: np.ndarray, q: _Quadratic, shift: np.ndarray,
                pooled: bool) -> SuffStats:
    """:func:`estep_soft` of full or tied covariances up to 4 features in one kernel."""
    assert q.P is not None and q.M is not None and q.cd is not None
    n, d = X.shape
    k = q.M.shape[0]
    like, tot, m = _one_kernel_scratch(n, q.cd.dtype)
    G0, G1, G2 = np.zeros(k), np.zeros((k, d)), np.zeros((1 if pooled else k, d, d))
    _k.full_soft_small(X, w, np.asarray(shift, dtype=np.float64), q.P, q.M, q.cd, like,
                       pooled, tot, m, G0, G1, G2)
    G2 += np.triu(G2, 1).swapaxes(1, 2)  # the lower triangles
    return SuffStats(G0, G1, G2[0] if pooled else G2, _objective(w, tot, m))


def _one_kernel_scratch(n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A one-kernel E-step's arguments beside the rows: an empty integer array as wide
    as the compute dtype (the kernel's exponent scratch takes its kind), and this
    thread's column sums and maxima, (n,) float64."""
    like = np.empty(0, np.int32 if dtype == np.float32 else np.int64)
    return like, _buffer("tot", (n,), np.float64, True), _buffer("m", (n,), np.float64, True)


def _objective(w: np.ndarray, tot: np.ndarray, m: np.ndarray) -> float:
    """``Σ w (m + log tot)``: the block's log-likelihood from column sums and maxima
    (``tot`` is overwritten)."""
    lse = np.log(tot, out=tot)
    lse += m
    return float(w @ lse)


def estep_hard(
    X: np.ndarray, w: np.ndarray, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> SuffStats:
    """Classification E-step: one-hot argmax; objective is the classification log-likelihood.

    Always in float64, so that hard partitions do not depend on the input dtype.
    """
    Xc, wlp = weighted_log_prob_kn(X, params, model, shift)
    labels, best = argmax_kn(wlp)
    return stats_from_labels(Xc, w, labels, params.weights.shape[0], model.stats_kind,
                             float(w @ best))


def rows_log_density(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """``log p(x)`` of every row of a block, shape (n_rows,)."""
    return _soft_rows(X, np.ones(X.shape[0]), params, model, shift, np.float64).lse


def rows_resp(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """Posterior responsibilities of a block, shape (n_rows, n_components)."""
    return _soft_rows(X, np.ones(X.shape[0]), params, model, shift, np.float64).wr.T


def rows_label(
    X: np.ndarray, *, params: GMMParams, model: CovarianceModel, shift: np.ndarray
) -> np.ndarray:
    """Most probable component of every row of a block, shape (n_rows,).

    The argmax of the weighted log-probabilities: no exponentials needed.
    """
    _, wlp = weighted_log_prob_kn(X, params, model, shift)
    return argmax_kn(wlp)[0]


ESTEPS = {"soft": estep_soft, "hard": estep_hard}
