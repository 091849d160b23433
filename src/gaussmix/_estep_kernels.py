"""Compiled kernels of the soft E-step (numba, compiled on first call).

The soft E-step of a block is a log-density for every row and component,
their log-sum-exp over components and the normalised, weighted
responsibilities. In NumPy the log-densities alone take half a dozen passes
over (k, n) temporaries; :func:`log_prob_shifted` does them, the row maximum
and its subtraction in two. Arrays are component-major, ``(n_components,
n_rows)``, and every loop runs over rows innermost, so that LLVM vectorises
it (no floating-point reduction in an inner loop). All kernels release the GIL.

The exponentials are our own (:func:`exp_cut`): a Cody-Waite reduction to
``r`` in [-ln 2 / 2, ln 2 / 2], a polynomial in ``r`` and the power of two
written into an exponent field, all in vectorised loops. numba's ``exp``
is a scalar call, and NumPy's float64 ``exp`` has no AVX2 SIMD loop (5 ns per
entry here; ours 2-3x faster, and float32 ~1.5x NumPy's SIMD one).

Entries more than 700 (float32: 87) below their column's maximum become
exactly 0 responsibilities: their share of a column sum that is at least 1 is
below 1e-304 (1e-38), arithmetic on subnormals is ~40x slower, and exact
zeros let :func:`sparse_moments` skip them.
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
def log_prob_shifted(Q, s, c, m):  # type: ignore[no-untyped-def]
    """Weighted log-probabilities less their column maximum, in place, on (k, n).

    ``Q[j, i] <- c_j - s_j / 2 * max(Q[j, i], 0) - m_i`` where ``m_i``
    (stored) is column i's maximum (0 when not finite). The clamp at 0 guards
    a squared distance against cancellation; NaN propagates.
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
            Q[j, i] -= m[i]


@kernel(reassociate=True)
def spherical_distances(G, X, shift, b, r):  # type: ignore[no-untyped-def]
    """Spherical squared distances, in place, from a GEMM over the raw rows.

    ``G`` (k, n) holds ``x_i · (μ_j - shift)`` for the rows ``x_i`` of ``X``
    as given (no shifted copy); ``b_j = |μ_j - shift|² + 2 shift · (μ_j -
    shift)``. ``G[j, i] <- |x_i - shift|² - 2 G[j, i] + b_j``, with
    ``|x_i - shift|²`` summed per row in float64 (into ``r``); then
    :func:`log_prob_shifted` as for the GEMM over ``[|x|², x, 1]``.
    """
    k, n = G.shape
    d = X.shape[1]
    for i in range(n):
        acc = 0.0
        for t in range(d):
            v = np.float64(X[i, t]) - shift[t]
            acc += v * v
        r[i] = acc
    for j in range(k):
        bj = b[j]
        for i in range(n):
            G[j, i] = r[i] - 2.0 * G[j, i] + bj


# Rows per tile of :func:`full_distances_small` (transposed into float64).
_SMALL_FULL_TILE = 512


@kernel
def shifted_rows(X, shift, out):  # type: ignore[no-untyped-def]
    """``out = X - shift`` in ``out``'s dtype, for rows of a few features."""
    n, d = X.shape
    for i in range(n):
        for c in range(d):
            out[i, c] = X[i, c] - shift[c]


@kernel
def full_distances_small(X, shift, P, Mc, out):  # type: ignore[no-untyped-def]
    """Full-covariance squared Mahalanobis distances into ``out`` (k, n), for up to 4 features.

    ``P[j]`` is component j's upper triangular precision factor and
    ``Mc[j] = (μ_j - shift) P[j]``: ``y_a = Σ_{b ≤ a} (x_b - shift_b) P[j, b, a]
    - Mc[j, a]`` and ``out[j, i] <- Σ y_a²`` (then :func:`log_prob_shifted`).
    Rows go a tile at a time, transposed into float64 (a row's 2-4
    coordinates are too few to vectorise); for each component one loop across
    the tile's rows forms every ``y_a`` in registers. Features are padded
    with zeros to 2 or 4 so that loop has fixed width (the padding adds
    exact zeros).
    """
    n, d = X.shape
    T = _SMALL_FULL_TILE
    xt = np.zeros((4, T))
    q = np.zeros((4, 4))
    mc = np.zeros(4)
    for s in range(0, n, T):
        t = min(T, n - s)
        for a in range(d):
            sa = shift[a]
            for i in range(t):
                xt[a, i] = np.float64(X[s + i, a]) - sa
        _tile_full_distances(xt, d, P, Mc, q, mc, out, s, t)


@kernel
def _tile_full_distances(xt, d, P, Mc, q, mc, out, s, t):  # type: ignore[no-untyped-def]
    """Squared Mahalanobis distances of a transposed tile's first ``t`` rows into
    columns ``s`` to ``s + t - 1`` of ``out`` (k, n).

    ``xt`` (4, tile) holds the shifted rows in float64, features padded with
    zeros to 4 (the padding adds exact zeros); ``q`` (4, 4) and ``mc`` (4,)
    are zeroed scratch. For each component one loop across the rows forms
    every ``y_a`` in registers (see :func:`full_distances_small`).
    """
    k = Mc.shape[0]
    x0, x1, x2, x3 = xt[0], xt[1], xt[2], xt[3]
    for j in range(k):
        for a in range(d):
            mc[a] = Mc[j, a]
            for b in range(a + 1):
                q[b, a] = P[j, b, a]
        o = out[j, s:s + t]
        if d <= 2:
            m0, m1, q00, q01, q11 = mc[0], mc[1], q[0, 0], q[0, 1], q[1, 1]
            for i in range(t):
                y0 = -m0 + x0[i] * q00
                y1 = (-m1 + x0[i] * q01) + x1[i] * q11
                o[i] = (0.0 + y0 * y0) + y1 * y1
        else:
            m0, m1, m2, m3 = mc[0], mc[1], mc[2], mc[3]
            q00, q01, q11 = q[0, 0], q[0, 1], q[1, 1]
            q02, q12, q22 = q[0, 2], q[1, 2], q[2, 2]
            q03, q13, q23, q33 = q[0, 3], q[1, 3], q[2, 3], q[3, 3]
            for i in range(t):
                y0 = -m0 + x0[i] * q00
                y1 = (-m1 + x0[i] * q01) + x1[i] * q11
                y2 = ((-m2 + x0[i] * q02) + x1[i] * q12) + x2[i] * q22
                y3 = (((-m3 + x0[i] * q03) + x1[i] * q13) + x2[i] * q23) + x3[i] * q33
                o[i] = (((0.0 + y0 * y0) + y1 * y1) + y2 * y2) + y3 * y3


@kernel
def transpose_into(Qt, Q):
    """``Q[j, i] = Qt[i, j]``: a GEMM's (n, k) product into the component-major layout.

    By 16-row tiles, so that the tile's k columns are written while its rows
    are in L1.
    """
    n, k = Qt.shape
    for lo in range(0, n, 16):
        hi = min(n, lo + 16)
        for i in range(lo, hi):
            for j in range(k):
                Q[j, i] = Qt[i, j]


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
            L[j, i] -= m[i]


@kernel(contract=True)
def _exp_cut64(E, bits, cut):  # type: ignore[no-untyped-def]
    """float64 ``E <- exp(E)`` in place, 0 below ``cut`` (see :func:`exp_cut`)."""
    k, n = E.shape
    scale = bits.view(np.float64)
    for j in range(k):
        for i in range(n):
            x0 = E[j, i]
            x = -708.0 if x0 < -708.0 else x0  # 2^n stays a normal number
            x = 709.0 if x > 709.0 else x
            # n = round(x / ln 2) by the 1.5 * 2^52 rounding constant
            nf = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0
            r = x - nf * 6.93147180369123816490e-01  # ln 2 in two parts: r is exact
            r = r - nf * 1.90821492927058770002e-10
            # Taylor to r^13: below 1e-17 relative on |r| <= ln 2 / 2
            p = 1.0 / 6227020800.0
            p = p * r + 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = p * r + 1.0
            p = p * r + 1.0
            # 2^n as the bits of a float64 (int32 first: AVX2 converts those in vectors)
            bits[i] = np.int64(np.int32(nf) + np.int32(1023)) << 52
            E[j, i] = 0.0 if x0 < cut else p  # NaN is not below the cut: it propagates
        for i in range(n):
            E[j, i] *= scale[i]


@kernel(contract=True)
def _exp_cut32(E, bits, cut):  # type: ignore[no-untyped-def]
    """float32 ``E <- exp(E)`` in place, 0 below ``cut`` (see :func:`exp_cut`)."""
    k, n = E.shape
    scale = bits.view(np.float32)
    lo, hi = np.float32(-87.0), np.float32(88.0)
    big = np.float32(12582912.0)  # 1.5 * 2^23
    for j in range(k):
        for i in range(n):
            x0 = E[j, i]
            x = lo if x0 < lo else x0
            x = hi if x > hi else x
            nf = (x * np.float32(1.4426950408889634) + big) - big
            r = x - nf * np.float32(0.693359375)
            r = r - nf * np.float32(-2.12194440e-4)  # ln 2 - 0.693359375
            # Taylor to r^7: below 6e-9 relative on |r| <= ln 2 / 2 (float32's ulp: 6e-8)
            p = np.float32(1.0 / 5040.0)
            p = p * r + np.float32(1.0 / 720.0)
            p = p * r + np.float32(1.0 / 120.0)
            p = p * r + np.float32(1.0 / 24.0)
            p = p * r + np.float32(1.0 / 6.0)
            p = p * r + np.float32(0.5)
            p = p * r + np.float32(1.0)
            p = p * r + np.float32(1.0)
            bits[i] = (np.int32(nf) + np.int32(127)) << np.int32(23)
            E[j, i] = np.float32(0.0) if x0 < cut else p
        for i in range(n):
            E[j, i] *= scale[i]


def exp_cut(E: np.ndarray, bits: np.ndarray) -> None:
    """``E <- exp(E)`` in place for shifted log-probabilities ``E`` (k, n), float32 or float64.

    Entries below :func:`cutoff` become exactly 0; NaN propagates. ``bits``
    is scratch of n integers of ``E``'s width (int64 for float64, int32 for
    float32). Accurate to about 1 ulp over the range that is kept.
    """
    cut = cutoff(E.dtype.type)
    if E.dtype == np.float32:
        _exp_cut32(E, bits, cut)
    else:
        _exp_cut64(E, bits, cut)


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
def sparse_moments_rows(R, X, shift, out):  # type: ignore[no-untyped-def]
    """:func:`sparse_moments` of ``A = [x², x, 1]``, ``x = X - shift``, never built.

    The same sums as building ``A`` (:func:`augmented_rows`, in ``X``'s
    dtype) and visiting R's nonzero entries, without the (n, 2d + 1) array:
    each row is shifted and squared into one row buffer, which its nonzero
    entries then add (W3 float32, one thread: 3.1 ms a pass against 3.9 ms
    for building ``A`` and :func:`sparse_moments`).
    """
    k, n = R.shape
    d = X.shape[1]
    p = 2 * d + 1
    acc = np.zeros((k, p), dtype=X.dtype)
    row = np.empty(p, dtype=X.dtype)
    row[2 * d] = 1.0
    for lo in range(0, n, 4096):
        acc[:] = 0.0
        for i in range(lo, min(n, lo + 4096)):
            xi = X[i]
            for c in range(d):  # two loops: each vectorises on its own
                x = xi[c] - shift[c]
                row[c] = x * x
            for c in range(d):
                row[d + c] = xi[c] - shift[c]
            for j in range(k):
                r = R[j, i]
                if r != 0.0:
                    for c in range(p):
                        acc[j, c] += r * row[c]
        for j in range(k):
            for c in range(p):
                out[j, c] += acc[j, c]


@kernel
def normalise_columns(E, m, w, tot, scale):  # type: ignore[no-untyped-def]
    """Exponentials ``E`` (k, n) to weighted responsibilities ``w_i E_ji / Σ_j E_ji``.

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
            tot[i] += E[j, i]
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


# Rows per tile of :func:`mahalanobis_block`: its (tile, k (hi - lo)) product
# stays in L2 cache between the GEMM that writes it and the sums that read it.
_MAHALANOBIS_TILE = 256


@kernel(reassociate=True)
def mahalanobis_block(X, Bt, hi, first, out):  # type: ignore[no-untyped-def]
    """Squared norms of one row block of every component's whitened rows, into ``out`` (k, n).

    ``Bt`` (hi + 1, k w) holds, for each component, ``w`` rows of its
    triangular factor and folded-in mean, transposed: tile by tile, the rows
    ``[x_1 … x_hi, 1]`` times ``Bt`` (one GEMM, in X's dtype) give each
    component's ``w`` whitened coordinates, whose squares are summed into
    ``out`` (written when ``first``, else added). The (n, k, d) product is
    never formed: each tile's is read back from cache (NumPy's GEMM then
    ``einsum`` over a whole chunk went through memory; 1.3-2.2x slower).
    """
    n = X.shape[0]
    kw = Bt.shape[1]
    k = out.shape[0]
    w = kw // k
    tile = _MAHALANOBIS_TILE
    T = np.empty((tile, hi + 1), dtype=X.dtype)
    Y = np.empty((tile, kw), dtype=X.dtype)
    for s in range(0, n, tile):
        m = min(tile, n - s)
        for i in range(m):
            for j in range(hi):
                T[i, j] = X[s + i, j]
            T[i, hi] = 1.0
        np.dot(T[:m], Bt, Y[:m])
        for i in range(m):
            for c in range(k):
                acc = 0.0
                for r in range(w):
                    v = Y[i, c * w + r]
                    acc += v * v
                if first:
                    out[c, s + i] = acc
                else:
                    out[c, s + i] += acc


# Rows per tile of :func:`diag_soft_small`: its (k, tile) exponentials and the
# tile's transposed rows stay in L1/L2 from the distances to the sums.
_DIAG_SMALL_TILE = 512

# float32 responsibilities whose exponential is below 2^-100 (69.3 nats under
# the row's best, in place of CUTOFF32's 87) become 0 in diag_soft_small: their
# products with x and x² in its float32 sums would otherwise be subnormal
# (~100x slower each). They weigh at most k 2^-100 in a row's total, invisible
# in its float64 log-sum-exp and in float32 statistics.
_MOMENTS_CUTOFF32 = -69.0


@kernel
def _tile_normalise(E, mt, ints, w, s, t, tot, m, tt, sc):  # type: ignore[no-untyped-def]
    """A one-kernel E-step's tile of log-probabilities ``E`` (k, tile) to exponentials.

    ``mt`` holds each column's maximum (made 0 where not finite, then
    subtracted); :func:`exp_cut` below the cut (float32 where ``ints`` is
    int32: :data:`_MOMENTS_CUTOFF32`); the padded columns from ``t`` on are
    zeroed. The column sums go to ``tt`` and, for the tile's rows (from
    ``s``), to ``tot``, the maxima to ``m``, and ``w / tot`` to ``sc`` (0 for
    the padding), as :func:`normalise_columns` (an all-zero column becomes
    uniform, its ``m`` lowered by :data:`CUTOFF`).
    """
    k, T = E.shape
    for i in range(T):
        mt[i] = mt[i] if math.isfinite(mt[i]) else 0.0
    for j in range(k):
        e = E[j]
        for i in range(T):
            e[i] -= mt[i]
    if ints.itemsize == 4:
        _exp_cut32(E, ints, _MOMENTS_CUTOFF32)
    else:
        _exp_cut64(E, ints, CUTOFF)
    for j in range(k):
        for i in range(t, T):
            E[j, i] = 0.0
    for i in range(T):
        tt[i] = 0.0
    for j in range(k):
        e = E[j]
        for i in range(T):
            tt[i] += e[i]
    for i in range(t):
        m[s + i] = mt[i]
        if tt[i] == 0.0:
            for j in range(k):
                E[j, i] = 1.0
            tt[i] = k
            m[s + i] += CUTOFF
        tot[s + i] = tt[i]
        sc[i] = w[s + i] / tt[i]
    for i in range(t, T):
        sc[i] = 0.0


@kernel(reassociate=True)
def diag_soft_small(X, w, shift, Mc, H, c, like, tot, m, G):  # type: ignore[no-untyped-def]
    """The whole soft E-step of a block for diagonal components and few features.

    ``Mc`` (k, d) holds the shifted means, ``H`` (k, d) half of each
    component's precision per feature and ``c`` (k,) ``log π_j`` plus the
    log-normalising constant, all in the compute dtype (``X``'s, or float64);
    ``shift`` is float64 (rows are shifted in float64, then rounded, like
    ``Mc``). Tile by tile, transposed rows give the log-probabilities
    ``c_j - Σ_f H_jf (x_f - μ_jf)²`` directly (no ``[x², x, 1]``, no GEMM),
    less their column maximum (stored in ``m``, 0 when not finite); then
    :func:`exp_cut` and the column sums (``tot``, float64, as
    :func:`normalise_columns`: an all-zero column becomes uniform, its ``m``
    lowered by the cutoff), and the weighted responsibilities' moments about
    each component's mean, ``[Σ r u², Σ r u, Σ r]`` with ``u = x - μ_j``,
    summed over the tile and added to ``G`` (k, 2d + 1) in float64 (about the
    shift, float32 sums of a component far from it would lose its variance to
    the cancellation in ``S - n m²``; the caller moves them to the shift). The
    objective is then ``Σ w (m + log tot)``. ``like`` is an integer array as
    wide as the compute dtype (int32 or int64: the exponentials' scratch is of
    its kind; it may be empty). Every tile is full width (a short last one is
    padded with zero rows of zero weight, whose exponentials are zeroed), so
    that every loop has one fixed length.
    """
    n, d = X.shape
    k = Mc.shape[0]
    T = _DIAG_SMALL_TILE
    dt = Mc.dtype
    ints = np.empty(T, dtype=like.dtype)  # float32: int32 exponent bits
    xt = np.zeros((d, T), dtype=dt)
    E = np.empty((k, T), dtype=dt)
    mt = np.empty(T, dtype=dt)
    tt = np.empty(T)
    sc = np.empty(T, dtype=dt)
    for s in range(0, n, T):
        t = min(T, n - s)
        for f in range(d):
            sf = shift[f]
            x = xt[f]
            for i in range(t):
                x[i] = np.float64(X[s + i, f]) - sf
            for i in range(t, T):
                x[i] = 0.0
        for i in range(T):
            mt[i] = -np.inf
        for j in range(k):
            e = E[j]
            cj = c[j]
            for i in range(T):
                e[i] = cj
            for f in range(d):
                mu = Mc[j, f]
                h = H[j, f]
                x = xt[f]
                for i in range(T):
                    v = x[i] - mu
                    e[i] -= h * (v * v)
            for i in range(T):
                mt[i] = e[i] if e[i] > mt[i] else mt[i]
        _tile_normalise(E, mt, ints, w, s, t, tot, m, tt, sc)
        for j in range(k):
            e = E[j]
            r0 = dt.type(0.0)
            for i in range(T):
                r = e[i] * sc[i]
                e[i] = r
                r0 += r
            G[j, 2 * d] += r0
            for f in range(d):
                x = xt[f]
                mu = Mc[j, f]
                r1 = dt.type(0.0)
                r2 = dt.type(0.0)
                for i in range(T):
                    u = x[i] - mu
                    ru = e[i] * u
                    r1 += ru
                    r2 += ru * u
                G[j, d + f] += r1
                G[j, f] += r2


@kernel(reassociate=True)
def full_soft_small(X, w, shift, P, Mc, c, like, pooled, tot, m, G0, G1, G2):  # type: ignore[no-untyped-def]
    """The whole soft E-step of a block for full (or tied) covariances and up to 4 features.

    As :func:`diag_soft_small`, tile by tile, with the distances of
    :func:`full_distances_small` on the tile's rows in registers (``P``
    (k, d, d) upper triangular factors, ``Mc[j] = μ_j P[j]``, float64) and
    ``c`` in the compute dtype; ``shift`` float64. Adds to ``G0`` (k,) ``Σ r``, to ``G1`` (k, d)
    ``Σ r x`` and to ``G2`` the upper triangle of ``Σ r x xᵀ`` (k, d, d), or
    with ``pooled`` (tied) of ``Σ w x xᵀ`` (1, d, d), all of shifted rows and
    all in float64 (float32 products would lose a far component's scatter to
    the cancellation in ``S - n m mᵀ``).
    """
    n, d = X.shape
    k = Mc.shape[0]
    T = _DIAG_SMALL_TILE
    dt = c.dtype
    ints = np.empty(T, dtype=like.dtype)
    xt = np.zeros((4, T))  # features padded with zeros to 2 or 4, as full_distances_small
    q = np.zeros((4, 4))
    mc = np.zeros(4)
    D = np.zeros((k, T))
    E = np.empty((k, T), dtype=dt)
    mt = np.empty(T, dtype=dt)
    tt = np.empty(T)
    sc = np.empty(T, dtype=dt)
    r64 = np.empty(T)
    for s in range(0, n, T):
        t = min(T, n - s)
        for a in range(d):
            sa = shift[a]
            x = xt[a]
            for i in range(t):
                x[i] = np.float64(X[s + i, a]) - sa
            for i in range(t, T):
                x[i] = 0.0
        _tile_full_distances(xt, d, P, Mc, q, mc, D, 0, T)
        for i in range(T):
            mt[i] = -np.inf
        for j in range(k):
            e = E[j]
            dj = D[j]
            cj = c[j]
            for i in range(T):
                e[i] = cj - dt.type(0.5 * dj[i])
            for i in range(T):
                mt[i] = e[i] if e[i] > mt[i] else mt[i]
        _tile_normalise(E, mt, ints, w, s, t, tot, m, tt, sc)
        if pooled:
            for a in range(d):
                xa = xt[a]
                for b in range(a, d):
                    xb = xt[b]
                    acc = 0.0
                    for i in range(t):
                        acc += w[s + i] * xa[i] * xb[i]
                    G2[0, a, b] += acc
        for j in range(k):
            e = E[j]
            r0 = 0.0
            for i in range(T):
                r = e[i] * sc[i]
                r64[i] = r
                r0 += r
            G0[j] += r0
            for a in range(d):
                xa = xt[a]
                acc = 0.0
                for i in range(T):
                    acc += r64[i] * xa[i]
                G1[j, a] += acc
            if not pooled:
                for a in range(d):
                    xa = xt[a]
                    for b in range(a, d):
                        xb = xt[b]
                        acc = 0.0
                        for i in range(T):
                            acc += r64[i] * xa[i] * xb[i]
                        G2[j, a, b] += acc
