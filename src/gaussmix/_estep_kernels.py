"""Compiled kernels of the soft E-step (numba, compiled on first call).

The soft E-step of a block is a log-density for every row and component,
their log-sum-exp over components and the normalised, weighted
responsibilities. In NumPy the log-densities alone take half a dozen passes
over (k, n) temporaries; :func:`log_prob_shifted` does them, the row maximum
and its subtraction in two. Arrays are component-major, ``(n_components,
n_rows)``, and every loop runs over rows innermost, so that LLVM vectorises
it (no floating-point reduction in an inner loop). The exponentials stay
with NumPy, whose SIMD ``exp`` is ~6x faster than the scalar one numba
calls. All kernels release the GIL.

Entries more than 700 (float32: 87) below their column's maximum become
exactly 0 responsibilities: their share of a column sum that is at least 1 is
below 1e-304 (1e-38), arithmetic on the subnormal results of exp is ~40x
slower, and exact zeros let :func:`sparse_moments` skip them. Before the
exponential they hold :func:`fill_below`: ``-inf`` for float32, but for
float64 a finite value just below the cut, because NumPy's float64 ``exp``
leaves its vectorised path for ``-inf`` (5x slower per entry);
:func:`normalise_columns` then zeroes what falls below ``exp(cut)``.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel

#: Log-ratio to the column maximum below which a responsibility is taken as 0.
CUTOFF = -700.0
#: The same for float32, whose exp is subnormal below about -87.3.
CUTOFF32 = -87.0


def cutoff(dtype: type) -> float:
    """:data:`CUTOFF` or :data:`CUTOFF32` for log-probabilities held in ``dtype``."""
    return CUTOFF32 if dtype == np.float32 else CUTOFF


def fill_below(dtype: type) -> float:
    """What entries below the cut hold until the exponential (see the module docstring)."""
    return -np.inf if dtype == np.float32 else CUTOFF - 1.0


_FLOOR64 = float(np.exp(CUTOFF))


def floor(dtype: type) -> float:
    """Exponentials below this are entries that were cut: :func:`normalise_columns` zeroes them."""
    return 0.0 if dtype == np.float32 else _FLOOR64


@kernel
def augmented_rows(X, shift, A):  # type: ignore[no-untyped-def]
    """``A = [x², x, 1]`` of the shifted rows ``x = X - shift``, in ``A``'s dtype.

    With 2d + 2 columns, ``A = [x², |x|², x, 1]``: spherical distances are
    then one GEMM over its last d + 2 columns.
    """
    n, d = X.shape
    off = A.shape[1] - d - 1  # first column of x: d, or d + 1 after |x|²
    # Two loops: |x|² is a sequential sum (no reassociation here), which the
    # diagonal form's loop should not carry.
    if off > d:
        for i in range(n):
            sq = 0.0
            for c in range(d):
                x = X[i, c] - shift[c]
                A[i, c] = x * x
                A[i, off + c] = x
                sq += x * x
            A[i, d] = sq
            A[i, off + d] = 1.0
    else:
        for i in range(n):
            for c in range(d):
                x = X[i, c] - shift[c]
                A[i, c] = x * x
                A[i, d + c] = x
            A[i, 2 * d] = 1.0


@kernel
def log_prob_shifted(Q, s, c, m, cut, fill):  # type: ignore[no-untyped-def]
    """Weighted log-probabilities less their column maximum, in place, on (k, n).

    ``Q[j, i] <- c_j - s_j / 2 * max(Q[j, i], 0) - m_i`` where ``m_i``
    (stored) is column i's maximum (0 when not finite); entries below
    ``cut`` (see :func:`cutoff`) become ``fill`` (:func:`fill_below`). The
    clamp at 0 guards a squared distance against cancellation; NaN propagates.
    """
    k, n = Q.shape
    for i in range(n):
        m[i] = -np.inf
    for j in range(k):
        cj = c[j]
        hj = 0.5 * s[j]
        for i in range(n):
            v = Q[j, i]
            v = 0.0 if v < 0.0 else v
            lp = cj - hj * v
            Q[j, i] = lp
            m[i] = lp if lp > m[i] else m[i]
    for i in range(n):
        if not math.isfinite(m[i]):
            m[i] = 0.0
    for j in range(k):
        for i in range(n):
            v = Q[j, i] - m[i]
            Q[j, i] = fill if v < cut else v


@kernel
def max_shifted(L, m, cut, fill):  # type: ignore[no-untyped-def]
    """Like :func:`log_prob_shifted` for complete log-probabilities ``L`` (k, n)."""
    k, n = L.shape
    for i in range(n):
        m[i] = -np.inf
    for j in range(k):
        for i in range(n):
            v = L[j, i]
            m[i] = v if v > m[i] else m[i]
    for i in range(n):
        if not math.isfinite(m[i]):
            m[i] = 0.0
    for j in range(k):
        for i in range(n):
            v = L[j, i] - m[i]
            L[j, i] = fill if v < cut else v


@kernel
def sparse_moments(R, A, out):  # type: ignore[no-untyped-def]
    """``out += R A`` (float64) for R (k, n), visiting only R's nonzero entries.

    Partial sums over up to 4,096 rows are in ``A``'s dtype, as in the dense
    path's GEMM (float32 rows: twice the lanes, no conversion per entry);
    each is added to ``out`` in float64, which bounds float32's rounding.
    Rows are the outer loop, so each row of ``A`` is read once, while the
    k cache lines of R's column stay in L1 (component-major, every row of
    ``A`` was fetched again for each component: 15% slower on W3).
    """
    k, n = R.shape
    p = A.shape[1]
    acc = np.zeros((k, p), dtype=A.dtype)
    for lo in range(0, n, 4096):
        acc[:] = 0.0
        for i in range(lo, min(n, lo + 4096)):
            for j in range(k):
                r = R[j, i]
                if r != 0.0:
                    for c in range(p):
                        acc[j, c] += r * A[i, c]
        for j in range(k):
            for c in range(p):
                out[j, c] += acc[j, c]


@kernel
def normalise_columns(E, m, w, tot, scale, low):  # type: ignore[no-untyped-def]
    """Exponentials ``E`` (k, n) to weighted responsibilities ``w_i E_ji / Σ_j E_ji``.

    Entries below ``low`` (:func:`floor`: those that were cut) become exactly 0.
    Writes the column sums to ``tot`` (float64) and ``w / tot`` to ``scale`` (in
    ``E``'s dtype, so that float32 multiplies stay float32);
    returns the number of nonzero responsibilities. A column with every
    entry zero (every component at -inf, which positive definite covariances
    exclude) becomes uniform, and its ``m`` is lowered by :data:`CUTOFF`, so
    that ``m + log(tot)`` is the log-sum-exp of entries at the cutoff: no NaN.
    """
    k, n = E.shape
    for i in range(n):
        tot[i] = 0.0
    for j in range(k):
        for i in range(n):
            e = E[j, i]
            e = 0.0 if e < low else e
            E[j, i] = e
            tot[i] += e
    empty = False
    for i in range(n):
        empty |= tot[i] == 0.0
    if empty:
        for i in range(n):
            if tot[i] == 0.0:
                for j in range(k):
                    E[j, i] = 1.0
                tot[i] = k
                m[i] += CUTOFF
    for i in range(n):
        scale[i] = w[i] / tot[i]
    nnz = 0
    for j in range(k):
        for i in range(n):
            r = E[j, i] * scale[i]
            E[j, i] = r
            nnz += r != 0.0
    return nnz
