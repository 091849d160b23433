"""Additive sufficient statistics of a block of rows.

The E-step reduces a block of rows to these statistics; statistics of blocks
add; the M-step reads only their sum. This is what lets one kernel serve
in-memory chunks, files and Dask blocks alike.

Second moments are taken about a fixed ``shift`` (the data's global mean), so
the scatter ``S_k - n_k m_k m_kᵀ`` does not cancel catastrophically.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._blocks import kernel_block
from ._jit import kernel

#: Second-moment kinds a covariance model may ask for, with their shapes.
SECOND_MOMENT_KINDS = ("full", "diag", "pooled", "pooled_diag", "none")


class SuffStats(NamedTuple):
    """Sufficient statistics of a block, all float64.

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        ``Σ w r_k``: weighted responsibility mass per component.
    sk : ndarray of shape (n_components, n_features)
        ``Σ w r_k x`` of shifted rows.
    Sk : ndarray
        Second moments of shifted rows: ``Σ w r_k x xᵀ`` of shape (k, d, d)
        (``full``), its diagonal (k, d) (``diag``), ``Σ w x xᵀ`` (d, d)
        (``pooled``), its diagonal (d,) (``pooled_diag``) or ``0.0`` (``none``).
    objective : float
        ``Σ w log p(x)`` for soft EM, the classification log-likelihood for
        hard EM, or minus the inertia for k-means.
    """

    nk: np.ndarray
    sk: np.ndarray
    Sk: np.ndarray
    objective: float

    def __add__(self, other: object) -> SuffStats:  # type: ignore[override]
        if not isinstance(other, SuffStats):
            return NotImplemented
        return SuffStats(
            self.nk + other.nk,
            self.sk + other.sk,
            self.Sk + other.Sk,
            self.objective + other.objective,
        )

    @property
    def total_weight(self) -> float:
        return float(self.nk.sum())


# Second moments from weighted responsibilities ``wr`` of shape (k, n)
# (component-major, so products stream over contiguous rows).


def _sqrt_weights(wr: np.ndarray) -> np.ndarray | None:
    """``sqrt(wr)``, or None when some weight is negative (then no symmetric product)."""
    if wr.size and wr.min() < 0:
        return None
    return np.sqrt(wr)


#: Rows whose summed contribution to a component's second moment is below this
#: fraction of its trace are left out: float64 unit roundoff, so the result
#: differs from the full sum by no more than rounding the trace once does.
_DROP_RTOL = 2.0**-53

#: At most this many bytes of rows gathered for the full second moments of a
#: block (:func:`_gather_rows_that_count`); past it, dense products.
_GATHER_BYTES = 4 * 2**20

#: Below this many features the d x d products are too small for skipping
#: rows to pay for the passes that pick them: 1,000,000 x 8, k = 8, float32
#: ran 0.097 s/iter with plain GEMMs, 0.113-0.12 with the gather or syrk.
_GATHER_MIN_FEATURES = 12


@kernel(reassociate=True)  # the |x - c|² sums vectorise: k n d work at SIMD rate
def _gather_rows_that_count(
    Xc: np.ndarray, wr: np.ndarray, centres: np.ndarray, rtol: float, max_pairs: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Each component's rows that count, centred on ``centres[j]``, scaled by ``sqrt(wr)``.

    Row ``i`` counts for component ``j`` when ``q = wr[j, i] |x_i - c_j|²``
    exceeds ``rtol / n`` of ``tr_j = Σ_i q``, the trace of the block's
    centred second moment; the rows left out add up to at most ``rtol tr_j``,
    element by element, below the rounding of the sum itself for ``rtol`` =
    :data:`_DROP_RTOL`. Well separated components give each row
    non-negligible responsibility under one or two components only, so most
    of the k x n products are skipped. A non-finite trace keeps every row.

    Returns ``Zs`` of shape (m, d), component 0's rows first, and ``ends`` of
    shape (k,): component j's rows are ``Zs[ends[j-1]:ends[j]]``, and
    ``Zsᵀ Zs`` over them is its centred second moment. The scaled copy is
    the one a dense product would make anyway. When more than ``max_pairs``
    (row, component) pairs count (heavily overlapping components), nothing
    is copied and ``ends`` is all -1: the caller then takes dense products,
    whose temporaries do not grow with k.
    """
    n, d = Xc.shape
    k = wr.shape[0]
    q = np.empty((k, n))
    tau = np.empty(k)
    m = 0
    for j in range(k):
        tr = 0.0
        for i in range(n):
            acc = 0.0
            for a in range(d):
                t = Xc[i, a] - centres[j, a]
                acc += t * t
            q[j, i] = wr[j, i] * acc
            tr += q[j, i]
        tau[j] = tr * (rtol / max(n, 1)) if np.isfinite(tr) else -np.inf
        for i in range(n):
            if q[j, i] > tau[j]:
                m += 1
    ends = np.empty(k, dtype=np.int64)
    if m > max_pairs:
        ends[:] = -1
        return np.empty((0, d), dtype=Xc.dtype), ends
    Zs = np.empty((m, d), dtype=Xc.dtype)
    pos = 0
    for j in range(k):
        t = tau[j]
        for i in range(n):
            if q[j, i] > t:
                s = np.sqrt(wr[j, i])
                for a in range(d):
                    Zs[pos, a] = (Xc[i, a] - centres[j, a]) * s
                pos += 1
        ends[j] = pos
    return Zs, ends


def _second_full_about(
    Xc: np.ndarray, wr: np.ndarray, nk: np.ndarray, sk: np.ndarray
) -> np.ndarray:
    """``Σ r x xᵀ`` per component (float64), accumulated about each component's block mean.

    ``nk``/``sk`` are the block's float64 ``Σ r`` and ``Σ r x``. About the
    global shift, a component far from the data's mean would have its scatter
    come out of ``S - n m mᵀ`` by cancellation, which float32 products cannot
    afford; each component is centred on ``c = sk / nk`` (rounded to the
    compute dtype) first, and the moment moved back to the shift in float64:
    ``S = S_c + a cᵀ + c aᵀ + n c cᵀ`` with ``a = sk - n c``. The M-step's
    scatter is then ``S_c - n (m - c)(m - c)ᵀ``, with ``m - c`` at round-off.
    """
    k, d = wr.shape[0], Xc.shape[1]
    f64 = np.float64
    if wr.size and wr.min() < 0:  # no square roots: plain weighted GEMMs about the shift
        out = np.empty((k, d, d), dtype=Xc.dtype)
        for j in range(k):
            np.matmul(Xc.T * wr[j], Xc, out=out[j])
        return out.astype(f64)
    c = (sk / np.where(nk > 0, nk, 1.0)[:, None]).astype(Xc.dtype)
    Sc = np.empty((k, d, d), dtype=Xc.dtype)
    dense = d < _GATHER_MIN_FEATURES
    if not dense:
        # Per component, Σ r (x - c)(x - c)ᵀ = Zᵀ Z over the rows that count,
        # each scaled by sqrt(r). NumPy computes ``Z.T @ Z`` (one buffer,
        # transposed) with a symmetric rank-m update (syrk) and fills the other
        # triangle: half the flops of a GEMM, on m rows instead of n (W3: 0.21
        # -> 0.012 s/iter). The copy holds at most _GATHER_BYTES.
        max_pairs = _GATHER_BYTES // (d * Xc.itemsize)
        Zs, ends = _gather_rows_that_count(Xc, wr, c, _DROP_RTOL, max_pairs)
        dense = bool(ends[0] < 0)  # too many pairs count: nothing was copied
        start = 0
        for j in range(0 if dense else k):
            Zj = Zs[start:ends[j]]
            start = ends[j]
            np.matmul(Zj.T, Zj, out=Sc[j])
    if dense and d <= _SMALL_SCATTER_FEATURES:
        Sc = np.empty((k, d, d))  # summed in float64: kept so
        _scatter_about_small(Xc, wr, c, Sc)
        dense = False
    if dense:
        # Plain weighted GEMMs on each component's centred copy, built along
        # contiguous rows (few features, or most rows counting everywhere).
        XcT = np.ascontiguousarray(Xc.T)
        D, Z = np.empty_like(XcT), np.empty_like(XcT)
        for j in range(k):
            np.subtract(XcT, c[j][:, None], out=D)
            np.multiply(D, wr[j], out=Z)
            np.matmul(Z, D.T, out=Sc[j])
    c64 = c.astype(f64)
    out = np.empty((k, d, d))
    _moved_to_shift(Sc, sk - nk[:, None] * c64, c64, nk, out)
    return out


# Up to this many features, each component's centred scatter is summed by
# _scatter_about_small (a pass across rows per entry of its triangle) rather
# than three NumPy passes and a GEMM per component (W1 25,000-row chunk,
# k = 5: ~0.24 -> ~0.05 ms; benchmarks/NOTES.md #80).
_SMALL_SCATTER_FEATURES = 4


@kernel(reassociate=True)
def _scatter_about_small(Xc, wr, c, Sc):  # type: ignore[no-untyped-def]
    """``Sc[j] = Σ_i wr[j, i] (x_i - c_j)(x_i - c_j)ᵀ`` for up to 4 features.

    Rows go a tile at a time, transposed into float64 (a row's 2-4
    coordinates are too few to vectorise); for each component one loop
    across the tile's rows centres them and adds every entry of the lower
    triangle at once, in registers. Features are padded with zeros to 2 or 4
    so that loop has fixed width.
    """
    n, d = Xc.shape
    k = wr.shape[0]
    T = 512
    t = np.zeros((4, T))
    cc = np.zeros(4)
    acc = np.zeros((k, 10))
    for s in range(0, n, T):
        m = min(T, n - s)
        for a in range(d):
            for i in range(m):
                t[a, i] = np.float64(Xc[s + i, a])
        t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
        for j in range(k):
            for a in range(d):
                cc[a] = np.float64(c[j, a])
            c0, c1, c2, c3 = cc[0], cc[1], cc[2], cc[3]
            w = wr[j, s:s + m]
            if d <= 2:
                s00 = s10 = s11 = 0.0
                for i in range(m):
                    x0, x1 = t0[i] - c0, t1[i] - c1
                    p0, p1 = w[i] * x0, w[i] * x1
                    s00 += p0 * x0
                    s10 += p1 * x0
                    s11 += p1 * x1
                acc[j, 0] += s00
                acc[j, 1] += s10
                acc[j, 2] += s11
            else:
                s00 = s10 = s11 = s20 = s21 = s22 = s30 = s31 = s32 = s33 = 0.0
                for i in range(m):
                    x0, x1, x2, x3 = t0[i] - c0, t1[i] - c1, t2[i] - c2, t3[i] - c3
                    p0, p1, p2, p3 = w[i] * x0, w[i] * x1, w[i] * x2, w[i] * x3
                    s00 += p0 * x0
                    s10 += p1 * x0
                    s11 += p1 * x1
                    s20 += p2 * x0
                    s21 += p2 * x1
                    s22 += p2 * x2
                    s30 += p3 * x0
                    s31 += p3 * x1
                    s32 += p3 * x2
                    s33 += p3 * x3
                acc[j, 0] += s00
                acc[j, 1] += s10
                acc[j, 2] += s11
                acc[j, 3] += s20
                acc[j, 4] += s21
                acc[j, 5] += s22
                acc[j, 6] += s30
                acc[j, 7] += s31
                acc[j, 8] += s32
                acc[j, 9] += s33
    for j in range(k):
        pos = 0
        for a in range(d):
            for b in range(a + 1):
                Sc[j, a, b] = Sc[j, b, a] = acc[j, pos]
                pos += 1


@kernel
def _moved_to_shift(Sc, a, c, nk, out):  # type: ignore[no-untyped-def]
    """``out = Sc + a cᵀ + c aᵀ + n c cᵀ`` per component, in float64, in one pass.

    (As NumPy broadcasts, five (k, d, d) temporaries: their page faults made
    it 0.67 ms a W3 chunk, 30x this loop, ~40 ms of a one-thread iteration.)
    """
    k, d = c.shape
    for j in range(k):
        n = nk[j]
        for r in range(d):
            ar = a[j, r]
            cr = c[j, r]
            for s in range(d):
                out[j, r, s] = (np.float64(Sc[j, r, s]) + ar * c[j, s] + cr * a[j, s]
                                + n * (cr * c[j, s]))


def _second_full(Xc: np.ndarray, w: np.ndarray, wr: np.ndarray) -> np.ndarray:
    nk = wr.sum(axis=1, dtype=np.float64)
    return _second_full_about(Xc, wr, nk, (wr @ Xc).astype(np.float64))


def _second_diag(Xc: np.ndarray, w: np.ndarray, wr: np.ndarray) -> np.ndarray:
    return wr @ (Xc * Xc)


@kernel(reassociate=True)
def _pooled_small(X, w, out):  # type: ignore[no-untyped-def]
    """``out = Σ_i w_i x_i x_iᵀ`` in float64: one vectorised sum over the rows per entry."""
    n, d = X.shape
    for a in range(d):
        for b in range(a + 1):
            s = 0.0
            for i in range(n):
                s += w[i] * X[i, a] * X[i, b]
            out[a, b] = s
            out[b, a] = s


# Up to this many features the pooled scatter is one compiled loop: NumPy's
# (n, d) temporaries and their d-wide inner loops cost ~5x more there (W1
# float32 tied, 25,000-row chunk: 0.106 -> ~0.03 ms; benchmarks/NOTES.md #106).
_POOLED_LOOP_FEATURES = 4


def _second_pooled(Xc: np.ndarray, w: np.ndarray, wr: np.ndarray) -> np.ndarray:
    if Xc.shape[1] <= _POOLED_LOOP_FEATURES:
        out = np.zeros((Xc.shape[1], Xc.shape[1]))
        _pooled_small(kernel_block(Xc), np.ascontiguousarray(w, dtype=np.float64), out)
        return out
    sw = None if Xc.shape[1] < _GATHER_MIN_FEATURES else _sqrt_weights(w)
    if sw is None:
        return (Xc * w[:, None]).T @ Xc
    Z = np.ascontiguousarray(Xc.T)
    Z *= sw
    return Z @ Z.T  # syrk, as in _second_full


def _second_pooled_diag(Xc: np.ndarray, w: np.ndarray, wr: np.ndarray) -> np.ndarray:
    return w @ (Xc * Xc)


def _second_none(Xc: np.ndarray, w: np.ndarray, wr: np.ndarray) -> np.ndarray:
    return np.zeros(())


_SECOND = {
    "full": _second_full,
    "diag": _second_diag,
    "pooled": _second_pooled,
    "pooled_diag": _second_pooled_diag,
    "none": _second_none,
}


def compute_stats_kn(
    Xc: np.ndarray, w: np.ndarray, resp_kn: np.ndarray, kind: str, objective: float = 0.0
) -> SuffStats:
    """Like :func:`compute_stats`, with responsibilities component-major, (k, n).

    Products run in the dtype of ``Xc``; the block's sums are returned in float64.
    """
    w = w.astype(Xc.dtype, copy=False)
    return weighted_stats_kn(Xc, w, resp_kn * w, kind, objective)


def weighted_stats_kn(
    Xc: np.ndarray, w: np.ndarray, wr: np.ndarray, kind: str, objective: float = 0.0,
) -> SuffStats:
    """Statistics from weighted responsibilities ``wr`` of shape (k, n)."""
    f64 = np.float64
    w = w.astype(Xc.dtype, copy=False)
    nk = wr.sum(axis=1, dtype=f64)
    sk = (wr @ Xc).astype(f64)
    if kind == "full":  # the same nk, sk the centring is measured from
        Sk = _second_full_about(Xc, wr, nk, sk)
    else:
        Sk = np.asarray(_SECOND[kind](Xc, w, wr), dtype=f64)
    return SuffStats(nk, sk, Sk, float(objective))


def stats_from_augmented(
    A: np.ndarray, w: np.ndarray, wr: np.ndarray, kind: str, objective: float,
    nnz: int | None = None,
) -> SuffStats:
    """Statistics from rows given as ``A = [x², x, 1]`` (n, 2d + 1) and ``wr`` (k, n).

    (``A = [x², |x|², x, 1]``, n x (2d + 2), the spherical E-step's, serves too.)

    ``wr`` holds weighted responsibilities (``nnz`` of them nonzero, counted
    if not given). ``nk``, the first and the
    ``diag`` second moments come from one product ``wr A``: a GEMM, or when
    most responsibilities are exactly zero (well separated components) and
    rows are wide, a loop over the nonzero entries only (measured 2-5x faster
    than the GEMM for d = 64 with one nonzero per row, slower for d = 8).
    """
    from ._estep_kernels import sparse_moments

    d = (A.shape[1] - 1) // 2
    k, n = wr.shape
    f64 = np.float64
    cols = A if kind == "diag" else A[:, -1 - d:]  # [x, 1] when x² is not needed
    if d >= 16 and 8 * (np.count_nonzero(wr) if nnz is None else nnz) <= k * n:
        G = np.zeros((k, cols.shape[1]))
        sparse_moments(wr, cols, G)
    else:
        G = (wr @ cols).astype(f64)
    nk, sk = G[:, -1], G[:, -1 - d:-1]
    if kind == "diag":
        Sk = G[:, :d]
    elif kind == "pooled_diag":
        Sk = (w.astype(A.dtype, copy=False) @ A[:, :d]).astype(f64)
    else:
        Sk = np.asarray(_SECOND[kind](A[:, -1 - d:-1], w.astype(A.dtype, copy=False), wr),
                        dtype=f64)
    return SuffStats(np.ascontiguousarray(nk), np.ascontiguousarray(sk),
                     np.ascontiguousarray(Sk), float(objective))


def stats_from_shifted_rows(
    X: np.ndarray, shift: np.ndarray, w: np.ndarray, wr: np.ndarray, kind: str,
    objective: float, nnz: int,
) -> SuffStats:
    """:func:`stats_from_augmented` of ``A = [x², x, 1]``, ``x = X - shift``, not yet built.

    With ``diag`` statistics and mostly zero responsibilities the sums visit
    the nonzero entries and square each row once, as they go (no (n, 2d + 1)
    array); otherwise ``A`` is built (in ``X``'s dtype) and reduced as usual.
    """
    from ._estep_kernels import augmented_rows, sparse_moments_rows

    n, d = X.shape
    k = wr.shape[0]
    if kind == "diag" and d >= 16 and 8 * nnz <= k * n:
        G = np.zeros((k, 2 * d + 1))
        sparse_moments_rows(wr, X, shift, G)
        return SuffStats(np.ascontiguousarray(G[:, -1]), np.ascontiguousarray(G[:, d:2 * d]),
                         np.ascontiguousarray(G[:, :d]), float(objective))
    A = np.empty((n, 2 * d + 1), dtype=X.dtype)
    augmented_rows(X, shift, A)
    return stats_from_augmented(A, w, wr, kind, objective, nnz)


def compute_stats(
    Xc: np.ndarray, w: np.ndarray, resp: np.ndarray, kind: str, objective: float = 0.0
) -> SuffStats:
    """Reduce a block of shifted rows and their responsibilities to statistics.

    Parameters
    ----------
    Xc : ndarray of shape (n_rows, n_features)
        Shifted rows, float64.
    w : ndarray of shape (n_rows,)
        Sample weights.
    resp : ndarray of shape (n_rows, n_components)
        Responsibilities (soft or one-hot).
    kind : str
        One of :data:`SECOND_MOMENT_KINDS`.
    objective : float
        The block's contribution to the objective, carried along.
    """
    return compute_stats_kn(Xc, w, np.ascontiguousarray(resp.T), kind, objective)


@kernel(reassociate=True)
def _label_moments(X, shift, w, labels, nk, sk, sq):  # type: ignore[no-untyped-def]
    """Per label: ``Σ w``, ``Σ w (x - shift)`` and, when ``sq`` has rows, ``Σ w (x - shift)²``.

    One pass over the rows, no shifted copy and no one-hot matrix.
    """
    n, d = X.shape
    squares = sq.shape[0] > 0
    for i in range(n):
        lab = labels[i]
        wi = w[i]
        nk[lab] += wi
        for j in range(d):
            t = X[i, j] - shift[j]
            sk[lab, j] += wi * t
            if squares:
                sq[lab, j] += wi * t * t


@kernel
def _label_scatter(X, shift, w, labels, nk, sk, out):  # type: ignore[no-untyped-def]
    """Per label ``Σ w (x - shift)(x - shift)ᵀ`` into ``out`` (k, d, d), given ``nk``/``sk``.

    As :func:`_second_full_about` does it: about each label's block mean
    ``c`` (cancellation-free), then moved to the shift by
    :func:`_moved_to_shift`; one pass over the rows, no one-hot matrix.
    """
    n, d = X.shape
    k = nk.shape[0]
    c = np.empty((k, d))
    for j in range(k):
        m = nk[j] if nk[j] > 0 else 1.0
        for a in range(d):
            c[j, a] = sk[j, a] / m
    Sc = np.zeros((k, d, d))
    t = np.empty(d)
    for i in range(n):
        lab = labels[i]
        wi = w[i]
        for a in range(d):
            t[a] = (X[i, a] - shift[a]) - c[lab, a]
        for a in range(d):
            wa = wi * t[a]
            for b in range(a, d):
                Sc[lab, a, b] += wa * t[b]
    for j in range(k):
        for a in range(d):
            for b in range(a):
                Sc[j, a, b] = Sc[j, b, a]
    arm = np.empty((k, d))
    for j in range(k):
        for a in range(d):
            arm[j, a] = sk[j, a] - nk[j] * c[j, a]
    _moved_to_shift(Sc, arm, c, nk, out)


# Up to this many features, full and pooled partition statistics take
# _label_moments and _label_scatter (d² multiply-adds a row) rather than a
# one-hot matrix and per-component GEMMs (W1, 100,000 rows: 7.8 -> 1.0 ms, one thread).
_LABEL_SCATTER_FEATURES = 4


def partition_stats(
    X: np.ndarray, w: np.ndarray, labels: np.ndarray, n_components: int, kind: str,
    shift: np.ndarray,
) -> SuffStats:
    """Statistics of a hard partition of raw rows ``X`` (shifted here by ``shift``).

    Kinds whose second moments are diagonal (or absent) take one kernel pass;
    ``full`` and ``pooled`` take a second (:func:`_label_scatter`) up to
    ``_LABEL_SCATTER_FEATURES`` features, else :func:`stats_from_labels`. Assumes
    labels in ``[0, n_components)`` (the kernel does not check bounds; the
    callers' labels come from k-means, validated ``resp_init`` or the tree).
    """
    X = np.asarray(X)
    outer = kind in ("full", "pooled")
    if outer and X.shape[1] > _LABEL_SCATTER_FEATURES:
        return stats_from_labels(np.asarray(X, dtype=np.float64) - shift, w, labels,
                                 n_components, kind)
    X = kernel_block(X)
    d = X.shape[1]
    args = (X, np.ascontiguousarray(shift, dtype=np.float64),
            np.ascontiguousarray(w, dtype=np.float64), np.ascontiguousarray(labels, dtype=np.intp))
    nk, sk = np.zeros(n_components), np.zeros((n_components, d))
    sq = np.zeros((n_components if kind not in ("none", "full", "pooled") else 0, d))
    _label_moments(*args, nk, sk, sq)
    if outer:
        S = np.empty((n_components, d, d))
        _label_scatter(*args, nk, sk, S)
        return SuffStats(nk, sk, S if kind == "full" else S.sum(axis=0), 0.0)
    Sk = {"diag": sq, "pooled_diag": sq.sum(axis=0), "none": np.zeros(())}[kind]
    return SuffStats(nk, sk, Sk, 0.0)


def stats_from_labels(
    Xc: np.ndarray, w: np.ndarray, labels: np.ndarray, n_components: int, kind: str,
    objective: float = 0.0,
) -> SuffStats:
    """Statistics of a hard partition given as integer labels."""
    # The weighted one-hot matrix turns the per-label sums into one GEMM
    # (much faster than np.add.at); it is bounded by the chunk.
    n = Xc.shape[0]
    wr = np.zeros((n_components, n))
    wr[labels, np.arange(n)] = w
    return SuffStats(wr.sum(axis=1), wr @ Xc, _SECOND[kind](Xc, w, wr), float(objective))


def scatter(stats: SuffStats, nk_safe: np.ndarray, kind: str) -> np.ndarray:
    """Within-component scatter about each component's mean, in the kind's shape.

    ``nk_safe`` is ``nk`` guarded against zero; means are ``sk / nk_safe``.
    """
    m = stats.sk / nk_safe[:, None]
    if kind == "full":
        return stats.Sk - nk_safe[:, None, None] * (m[:, :, None] * m[:, None, :])
    if kind == "diag":
        return stats.Sk - nk_safe[:, None] * m * m
    if kind == "pooled":
        return stats.Sk - (m * nk_safe[:, None]).T @ m
    if kind == "pooled_diag":
        return stats.Sk - (nk_safe[:, None] * m * m).sum(axis=0)
    return np.zeros(())
