"""Soft E-step of diagonal and spherical mixtures that skips the far components.

In float32 a responsibility more than 87 below its row's best log-density is
exactly 0 (:data:`~gaussmix._estep_kernels.CUTOFF32`): on well separated data
nearly every (row, component) pair is (W3: 95%, W2: 85%). A row's log-density
under component ``j`` is at most

    c_j - p_j / 2 * max(0, ||μ_j - μ_a|| - ||x - μ_a||)²,

with ``p_j`` the component's smallest precision and ``a`` any component,
since ``(x - μ_j)' P_j (x - μ_j) >= p_j ||x - μ_j||²`` and
``||x - μ_a||² <= D_a / p_a`` by the triangle inequality. With ``a`` the
row's best component of the last iteration (at first: its nearest mean),
a row needs its distance to ``a`` and to the few components that bound
does not rule out, taken directly (``Σ p (x - μ)²``: no ``[x², x, 1]``, no
GEMM, no (k, n) arrays), and the statistics add up as it goes.

The skips are exact: the bound is loosened by float32's rounding of the
distances, and a component is skipped only when even that bound puts it a
nat past the cut below ``a``'s computed log-density, so the full E-step
would give it a zero responsibility too. Responsibilities of the components
taken match the ordinary E-step's to float32 rounding (distances taken
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
from .estep import GMMParams, compute_dtype
from .kmeans import assign_labels
from .stats import SuffStats

# Fewer features: the GEMM path's product is cheap and a row's bookkeeping
# is a larger share.
_PRUNE_FEATURES = 16


def prunable(X: Any, model: CovarianceModel, assignment: str) -> bool:
    """Whether EM on ``X`` takes :func:`estep_pruned` after its first iteration.

    Float32 rows in memory (the cut is 87 nats there; float64's 700 rules out
    little), diagonal or spherical covariances with per-component diagonal
    statistics, soft assignment, at least 16 features.
    """
    return (isinstance(X, np.ndarray) and X.ndim == 2 and compute_dtype(X) == np.float32
            and X.shape[1] >= _PRUNE_FEATURES and assignment == "soft"
            and model.layout.name in ("diag", "spherical") and model.stats_kind == "diag")


class PrunedConstants(NamedTuple):
    """Per-iteration constants of :func:`estep_pruned`."""

    means: np.ndarray  # (k, d) float32, less the shift
    prec: np.ndarray  # (k, d) float32 precisions of each feature
    c: np.ndarray  # (k,) float64: log π_k + log-normalising constant
    sep: np.ndarray  # (k, k) float64 distances between the float32 means
    pmin: np.ndarray  # (k,) float64 smallest precision of each component
    shift: np.ndarray  # (d,) float32


def pruned_constants(params: GMMParams, model: CovarianceModel,
                     shift: np.ndarray) -> PrunedConstants:
    """The bound's and the distances' constants for ``params``."""
    k, d = params.means.shape
    layout = model.layout
    pc = params.precisions_cholesky
    prec = layout.precisions(pc)
    prec = np.broadcast_to(prec[:, None], (k, d)) if prec.ndim == 1 else prec
    prec32 = np.ascontiguousarray(prec, dtype=np.float32)
    means32 = np.ascontiguousarray(params.means - shift, dtype=np.float32)
    with np.errstate(divide="ignore"):
        c = layout.log_det_chol(pc, d) - 0.5 * d * _LOG_2PI + np.log(params.weights)
    m = means32.astype(np.float64)
    sq = np.einsum("ij,ij->i", m, m)
    sep = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (m @ m.T), 0.0))
    # the product form loses ~1e-16 |μ|² to cancellation: take the difference form's
    # value where that could matter (close means), and shrink every separation a
    # little, so that the bound is never above the truth
    close = sep < 1e-4 * np.sqrt(sq[:, None] + sq[None, :])
    if close.any():
        i, j = np.nonzero(close)
        sep[i, j] = np.sqrt(((m[i] - m[j]) ** 2).sum(axis=1))
    sep *= 1.0 - 1e-12
    return PrunedConstants(means32, prec32, np.asarray(c, dtype=np.float64),
                           np.ascontiguousarray(sep), prec32.min(axis=1).astype(np.float64),
                           np.ascontiguousarray(shift, dtype=np.float32))


@kernel(reassociate=True)
def _pruned_soft_rows(X, w, shift, M, P, c, sep, pmin, labels, cut, slack, G):  # type: ignore[no-untyped-def]
    """The pruned soft E-step of a block: adds ``Σ w r [x², x, 1]`` per component to ``G``.

    ``labels`` holds each row's best component of the last iteration (read
    as the bound's anchor, then overwritten by this one's). ``slack`` is the
    relative rounding of a float32 distance. Returns ``Σ w log p(x)``.
    """
    n, d = X.shape
    k = M.shape[0]
    xs = np.empty(d, dtype=X.dtype)
    comp = np.empty(k, dtype=np.intp)
    logp = np.empty(k)
    zero = X.dtype.type(0.0)
    obj = 0.0
    for i in range(n):
        for t in range(d):
            xs[t] = X[i, t] - shift[t]
        a = labels[i]
        if a < 0 or a >= k:
            a = 0
        da = zero
        for t in range(d):
            u = xs[t] - M[a, t]
            da += P[a, t] * u * u
        la = c[a] - 0.5 * np.float64(da)
        # ||x - μ_a|| at most: D_a rounded up by float32's worst case
        ra = math.sqrt(max(np.float64(da), 0.0) * (1.0 + slack) / pmin[a])
        floor = la - cut - 1.0  # a nat beyond the cut: rounding of c and of the distances
        comp[0] = a
        logp[0] = la
        m = 1
        best = la
        bj = a
        for j in range(k):
            if j == a:
                continue
            g = sep[a, j] - ra
            if g > 0.0 and c[j] - 0.5 * (1.0 - slack) * pmin[j] * g * g < floor:
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
                for t in range(d):
                    v = np.float64(xs[t])
                    G[j, t] += r * v * v
                    G[j, d + t] += r * v
                G[j, 2 * d] += r
    return obj


def estep_pruned(sl: slice, w: np.ndarray, *, X: np.ndarray, labels: np.ndarray,
                 consts: PrunedConstants) -> SuffStats:
    """The soft E-step of rows ``sl`` by :func:`_pruned_soft_rows` (``labels``: anchors)."""
    k, d = consts.means.shape
    G = np.zeros((k, 2 * d + 1))
    slack = 4.0 * (d + 2) * 2.0**-24
    obj = _pruned_soft_rows(kernel_block(X[sl]), np.ascontiguousarray(w, dtype=np.float64),
                            consts.shift, consts.means, consts.prec, consts.c, consts.sep,
                            consts.pmin, labels[sl], -cutoff(np.float32), slack, G)
    return SuffStats(np.ascontiguousarray(G[:, 2 * d]), np.ascontiguousarray(G[:, d:2 * d]),
                     np.ascontiguousarray(G[:, :d]), float(obj))


def pruned_step(X: np.ndarray, w: np.ndarray, labels: np.ndarray | None, params: GMMParams,
                model: CovarianceModel, shift: np.ndarray,
                ) -> tuple[np.ndarray, Callable[[slice, np.ndarray], SuffStats]]:
    """This iteration's anchors and the block function of its E-step over ``RowSlices``.

    Without ``labels`` (the first iteration, or one after a collapse repair)
    each row's anchor is its nearest mean (one k-means assignment pass): any
    component gives a valid bound, a close one a tight bound.
    """
    if labels is None:
        labels = assign_labels(X, w, params.means, shift)[0]
    return labels, partial(estep_pruned, X=X, labels=labels,
                           consts=pruned_constants(params, model, shift))
