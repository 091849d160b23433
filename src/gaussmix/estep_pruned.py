"""Soft E-step of diagonal and spherical mixtures that skips the far components.

A responsibility more than 87 (float32; float64: 700) below its row's best
log-density is exactly 0 (:func:`~gaussmix._estep_kernels.cutoff`): on well
separated data nearly every (row, component) pair is (W3: 95%, W2 float32:
90%). A row's log-density under component ``j`` is at most

    c_j - 1/2 max(0, ||μ_j - μ_a||_j - r_aj sqrt(D_a))²,

for any component ``a``, with ``||.||_j`` the norm of ``j``'s precision
``P_j`` (the triangle inequality in it) and ``r_aj² = max P_j / P_a`` over
the features (so that ``||x - μ_a||_j² <= r_aj² D_a``, ``D_a`` the row's
distance to ``a``). With ``a`` the row's best component of the last
iteration (at first: its nearest mean, or the k-means start's label), a row
needs its distance to ``a`` and to the few components that bound does not
rule out, taken directly (``Σ p (x - μ)²``: no ``[x², x, 1]``, no GEMM, no
(k, n) arrays), and the statistics add up as it goes. A direct distance
costs more than its share of the GEMM, so a fit prunes only while the bound
leaves few of them (:class:`Pruning`: measured on a sample of rows first,
then on every E-step).

The skips are exact: the bound is loosened by the rounding of the distances
in the rows' dtype, and a component is skipped only when even that bound
puts it a nat past the cut below ``a``'s computed log-density, so the full
E-step would give it a zero responsibility too. Responsibilities of the
components taken match the ordinary E-step's to rounding (distances taken
directly instead of by the GEMM's expansion, which loses more).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from ._blocks import kernel_block
from ._estep_kernels import cutoff
from ._jit import kernel
from .covariance import CovarianceModel
from .covariance._layouts import _LOG_2PI
from .estep import GMMParams, argmax_kn, compute_dtype, weighted_log_prob_kn
from .kmeans import assign_labels
from .stats import SuffStats

# Fewer features: the GEMM path's product is cheap and a row's bookkeeping
# is a larger share.
_PRUNE_FEATURES = 16


def prunable(X: Any, model: CovarianceModel, assignment: str) -> bool:
    """Whether EM on ``X`` may take :func:`estep_pruned` (where it pays, see :class:`Pruning`).

    Rows in memory, diagonal or spherical covariances with per-component
    diagonal statistics, soft assignment, at least 16 features.
    """
    return (isinstance(X, np.ndarray) and X.ndim == 2
            and X.shape[1] >= _PRUNE_FEATURES and assignment == "soft"
            and model.layout.name in ("diag", "spherical") and model.stats_kind == "diag")


class PrunedConstants(NamedTuple):
    """Per-iteration constants of :func:`estep_pruned`."""

    means: np.ndarray  # (k, d) in the rows' dtype, less the shift
    prec: np.ndarray  # (k, d) precisions of each feature, the rows' dtype
    c: np.ndarray  # (k,) float64: log π_k + log-normalising constant
    sep: np.ndarray  # (k, k) float64: ||μ_a - μ_j|| in component j's metric P_j
    root_ratio: np.ndarray  # (k, k) float64: sqrt(max over features of P_j / P_a)
    shift: np.ndarray  # (d,) the rows' dtype


def pruned_constants(params: GMMParams, model: CovarianceModel,
                     shift: np.ndarray, dtype: type = np.float32) -> PrunedConstants:
    """The bound's and the distances' constants for ``params``, rows in ``dtype``.

    The separations and ratios are of the means and precisions as the kernel
    takes them (rounded to ``dtype``), the separations rounded down and the
    ratios up by far more than float64's rounding of them, so that the bound
    is never above the truth.
    """
    k, d = params.means.shape
    layout = model.layout
    pc = params.precisions_cholesky
    prec = layout.precisions(pc)
    prec = np.broadcast_to(prec[:, None], (k, d)) if prec.ndim == 1 else prec
    dt = dtype
    prec_d: np.ndarray = np.ascontiguousarray(prec, dtype=dt)
    means_d: np.ndarray = np.ascontiguousarray(params.means - shift, dtype=dt)
    with np.errstate(divide="ignore"):
        c = layout.log_det_chol(pc, d) - 0.5 * d * _LOG_2PI + np.log(params.weights)
    sep, root_ratio = np.empty((k, k)), np.empty((k, k))
    _separations(means_d, prec_d, sep, root_ratio)
    return PrunedConstants(means_d, prec_d, np.asarray(c, dtype=np.float64), sep, root_ratio,
                           np.ascontiguousarray(shift, dtype=dt))


@kernel
def _separations(M, P, sep, root_ratio):  # type: ignore[no-untyped-def]
    """``sep[a, j] = ||μ_a - μ_j||`` in component j's metric, rounded down, and
    ``root_ratio[a, j] = sqrt(max_f P_jf / P_af)``, rounded up, in float64.

    (One compiled pass, no (k, k, d) array: a loop of NumPy calls per component
    cost ~0.3 ms an E-step for k = 20, d = 64.)
    """
    k, d = M.shape
    for a in range(k):
        for j in range(k):
            s = 0.0
            r = 0.0
            for f in range(d):
                u = np.float64(M[a, f]) - np.float64(M[j, f])
                pj = np.float64(P[j, f])
                s += u * u * pj
                r = max(r, pj / np.float64(P[a, f]))
            sep[a, j] = math.sqrt(s) * (1.0 - 1e-12)
            root_ratio[a, j] = math.sqrt(r) * (1.0 + 1e-12)


@kernel(reassociate=True)
def _pruned_soft_rows(X, w, shift, M, P, c, sep, root_ratio, labels, cut, slack, probe, G):  # type: ignore[no-untyped-def]
    """The pruned soft E-step of a block: adds ``Σ w r [x², x, 1]`` per component to ``G``.

    ``labels`` holds each row's best component of the last iteration (read
    as the bound's anchor, then overwritten by this one's). ``slack`` is the
    relative rounding of a distance in the rows' dtype. Returns ``Σ w log p(x)``
    and the number of distances taken. With ``probe``, only counts the
    distances the bound would leave (no statistics, labels kept).
    """
    n, d = X.shape
    k = M.shape[0]
    xs = np.empty(d, dtype=X.dtype)
    comp = np.empty(k, dtype=np.intp)
    logp = np.empty(k)
    zero = X.dtype.type(0.0)
    obj = 0.0
    taken = 0
    # the moments in arrays of their own (written into G at the end): added
    # straight into G's two halves, the stores could alias and the loop kept
    # them in order (W3 float32, 1 thread: 3.35 -> 3.0 ms with the fused
    # first loop below; the same sums, bit for bit)
    S2, S1, S0 = np.zeros((k, d)), np.zeros((k, d)), np.zeros(k)
    for i in range(n):
        a = labels[i]
        if a < 0 or a >= k:
            a = 0
        da = zero
        for t in range(d):
            x = X[i, t] - shift[t]
            xs[t] = x
            u = x - M[a, t]
            da += P[a, t] * u * u
        la = c[a] - 0.5 * np.float64(da)
        # sqrt(D_a), D_a rounded up by its worst case: ||x - μ_a|| in P_j's metric
        # is at most root_ratio[a, j] times it
        ra = math.sqrt(max(np.float64(da), 0.0) * (1.0 + slack))
        floor = la - cut - 1.0  # a nat beyond the cut: rounding of c and of the distances
        comp[0] = a
        logp[0] = la
        m = 1
        best = la
        bj = a
        for j in range(k):
            if j == a:
                continue
            g = sep[a, j] - root_ratio[a, j] * ra
            if c[j] < floor or (g > 0.0 and c[j] - 0.5 * (1.0 - slack) * g * g < floor):
                continue  # (the bound is at most c_j: a zero weight is always skipped)
            if probe:
                m += 1
                continue
            dj = zero
            for t in range(d):
                u = xs[t] - M[j, t]
                dj += P[j, t] * u * u
            lj = c[j] - 0.5 * np.float64(dj)
            comp[m] = j
            logp[m] = lj
            m += 1
            if lj > best:
                best = lj
                bj = j
        taken += m
        if probe:
            continue
        labels[i] = bj
        wi = w[i]
        if best == -np.inf:  # no component explains the row
            if wi != 0.0:
                obj += wi * best
            continue
        if m == 1:  # the usual case: r = 1, no exponentials
            tot = 1.0
            logp[0] = 1.0
        else:
            tot = 0.0
            for q in range(m):
                e = logp[q] - best
                v = math.exp(e) if e >= -cut else 0.0
                logp[q] = v
                tot += v
        if wi != 0.0:
            obj += wi * (best + math.log(tot))
        for q in range(m):
            if logp[q] > 0.0 and wi != 0.0:
                r = wi * logp[q] / tot
                j = comp[q]
                s2 = S2[j]
                s1 = S1[j]
                for t in range(d):
                    v = np.float64(xs[t])
                    s2[t] += r * v * v
                    s1[t] += r * v
                S0[j] += r
    if not probe:  # (a probe's G has no columns)
        for j in range(k):
            for t in range(d):
                G[j, t] += S2[j, t]
                G[j, d + t] += S1[j, t]
            G[j, 2 * d] += S0[j]
    return obj, taken


def _run(X: np.ndarray, w: np.ndarray, labels: np.ndarray, consts: PrunedConstants,
         probe: bool, G: np.ndarray) -> tuple[float, int]:
    k, d = consts.means.shape
    dt = consts.means.dtype.type
    slack = 4.0 * (d + 2) * float(np.finfo(dt).eps)
    obj, taken = _pruned_soft_rows(kernel_block(X), np.ascontiguousarray(w, dtype=np.float64),
                                   consts.shift, consts.means, consts.prec, consts.c, consts.sep,
                                   consts.root_ratio, labels, -cutoff(dt), slack, probe, G)
    return float(obj), int(taken)


def estep_pruned(sl: slice, w: np.ndarray, *, X: np.ndarray, labels: np.ndarray,
                 consts: PrunedConstants, taken: list[int] | None = None) -> SuffStats:
    """The soft E-step of rows ``sl`` by :func:`_pruned_soft_rows` (``labels``: anchors).

    Appends the number of distances taken to ``taken``.
    """
    k, d = consts.means.shape
    G = np.zeros((k, 2 * d + 1))
    obj, count = _run(X[sl], w, labels[sl], consts, False, G)
    if taken is not None:
        taken.append(count)  # (list.append is atomic: blocks run on threads)
    return SuffStats(np.ascontiguousarray(G[:, 2 * d]), np.ascontiguousarray(G[:, d:2 * d]),
                     np.ascontiguousarray(G[:, :d]), obj)


# Pruning pays while the bound leaves at most this share of the (row,
# component) distances (float64; float32: _PAYING_SHARE32): a direct distance
# costs more than its share of the GEMM, less so beside float32's E-step.
# Per iteration on W3/W2 (benchmarks/NOTES.md #103-#105): float64 diag with
# 59% left (an earlier, looser bound) 11.3 -> 12.8-14 ms, with 15% left 12-14
# -> 6.5-7.1; float64 spherical, 10% left, 7.3-8.8 -> 4.8-5.4; float32 W2
# diag, 27% left, 10.4-11 -> 7.7-8.4; float32 W3 diag, 5% left, 6.2 -> 3.5.
_PAYING_SHARE = 0.25
_PAYING_SHARE32 = 0.4
# Rows (evenly spaced) on which a fit first measures that share.
_PROBE_ROWS = 1024


def _paying_share(dtype: type) -> float:
    return _PAYING_SHARE32 if dtype == np.float32 else _PAYING_SHARE


class Pruning:
    """The pruned E-step's state over one EM run: each row's anchor, and
    whether the bound still pays (measured first on a sample of rows, each
    anchored on its most probable component, then on every pruned E-step
    whose anchors were the last one's; once it stops paying, the run goes
    back to the ordinary E-step).
    """

    def __init__(self, X: np.ndarray, w: np.ndarray, model: CovarianceModel,
                 params: GMMParams, shift: np.ndarray, anchors: np.ndarray | None) -> None:
        self.X, self.w, self.model = X, w, model
        self.labels = anchors
        self.fresh = True  # anchors not from this model's last E-step
        n = X.shape[0]
        Xs = np.ascontiguousarray(X[np.arange(0, n, max(1, n // _PROBE_ROWS))[:_PROBE_ROWS]])
        consts = pruned_constants(params, model, shift, compute_dtype(X))
        k = params.means.shape[0]
        best = argmax_kn(weighted_log_prob_kn(Xs, params, model, shift)[1])[0]
        _, taken = _run(Xs, np.ones(Xs.shape[0]), best, consts, True, np.zeros((k, 0)))
        self.share = _paying_share(compute_dtype(X))
        self.paying = taken <= self.share * Xs.shape[0] * k
        if not self.paying:
            self.labels = None  # (a label per row: free them)

    def step(self, params: GMMParams, shift: np.ndarray,
             ) -> tuple[Callable[[slice, np.ndarray], SuffStats], list[int]]:
        """This iteration's block function over ``RowSlices``, and the list its blocks
        count their distances into (see :meth:`record`).

        Without anchors (none given, or a collapse repair dropped them) each
        row's anchor is its nearest mean (one k-means assignment pass, less
        than an ordinary E-step): any component gives a valid bound, a close
        one a tight bound.
        """
        if self.labels is None:
            self.labels = assign_labels(self.X, self.w, params.means, shift)[0]
            self.fresh = True
        taken: list[int] = []
        return partial(estep_pruned, X=self.X, labels=self.labels, taken=taken,
                       consts=pruned_constants(params, self.model, shift,
                                               compute_dtype(self.X))), taken

    def record(self, taken: list[int], k: int) -> None:
        """After an E-step: keep pruning only while it pays (judged on anchors
        that were the previous E-step's most probable components)."""
        if not self.fresh:
            self.paying = sum(taken) <= self.share * self.X.shape[0] * k
            if not self.paying:
                self.labels = None  # (not read again: free them)
        self.fresh = False

    def reset(self) -> None:
        """Components were reseeded or dropped: anchors from scratch."""
        self.labels = None
