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

Entries more than 700 below their row's maximum become ``-inf`` (then 0):
their share of a row sum that is at least 1 is below 1e-304, exp is ~40x
slower on subnormal results, and exact zeros let :func:`sparse_moments`
skip them.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel

#: Log-ratio to the row maximum below which a responsibility is taken as 0.
CUTOFF = -700.0


@kernel
def augmented_rows(X, shift, A):  # type: ignore[no-untyped-def]
    """``A = [(X - shift)², X - shift, 1]``, shape (n, 2d + 1), in ``A``'s dtype."""
    n, d = X.shape
    for i in range(n):
        for c in range(d):
            x = X[i, c] - shift[c]
            A[i, c] = x * x
            A[i, d + c] = x
        A[i, 2 * d] = 1.0


@kernel
def log_prob_shifted(Q, s, c, m):  # type: ignore[no-untyped-def]
    """Weighted log-probabilities less their column maximum, in place, on (k, n).

    ``Q[j, i] <- c_j - s_j / 2 * max(Q[j, i], 0) - m_i`` where ``m_i``
    (stored) is column i's maximum (0 when not finite); entries below
    :data:`CUTOFF` become ``-inf``. The clamp at 0 guards a squared distance
    against cancellation; NaN propagates.
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
            Q[j, i] = -np.inf if v < CUTOFF else v


@kernel
def max_shifted(L, m):  # type: ignore[no-untyped-def]
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
            L[j, i] = -np.inf if v < CUTOFF else v


@kernel
def sparse_moments(R, A, out):  # type: ignore[no-untyped-def]
    """``out += R A`` (float64) for R (k, n), visiting only R's nonzero entries."""
    k, n = R.shape
    p = A.shape[1]
    for j in range(k):
        for i in range(n):
            r = R[j, i]
            if r != 0.0:
                for c in range(p):
                    out[j, c] += r * A[i, c]


@kernel
def column_sums(E, tot):  # type: ignore[no-untyped-def]
    """``tot[i] = Σ_j E[j, i]`` in float64 for E (k, n)."""
    k, n = E.shape
    for i in range(n):
        tot[i] = 0.0
    for j in range(k):
        for i in range(n):
            tot[i] += E[j, i]
