"""Model-based agglomerative hierarchical clustering: mclust's default EM start.

Fraley (1998): start from singletons (exact duplicate rows grouped), and
repeatedly merge the two groups whose merge costs the least classification
likelihood under the unconstrained (VVV) Gaussian model. As in mclust's
``hc(modelName = "VVV", use = "SVD")``, the data are first centred, scaled to
unit variance and rotated and scaled by their singular value decomposition,
and the criterion of a group of ``l`` rows with scatter ``W`` (trace ``t``) is
regularised so that small groups have a finite cost::

    term = l · log(β (t + α) / l)                      if l <= d
    term = l · log(|W / l| + β (t + α) / l)            otherwise

with ``β = 1`` and ``α = tr(scatter of all rows) / (n d)``. The cost of a
merge is ``term(merged) - term(a) - term(b)``. The tree is deterministic;
cutting it at ``k`` groups gives the starting partition for ``k`` components.

For one-dimensional data mclust starts from quantile classes instead (``k``
groups of about equal counts between quantiles); so does this module.

Rows are clustered unweighted (the tree is only a starting point); sample
weights enter the starting statistics cut from it.

The agglomeration is O(m²) in time and memory for ``m`` rows, so above
``max_rows`` rows (mclust: 2,000) it runs on a random subset; every row then
gets its starting responsibilities from a classification step: an M-step on
the subset's partition and an E-step over all rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import kernel
from .covariance import CovarianceModel, SingularCovarianceError
from .estep import estep_soft
from .execution import map_blocks_sum
from .init import nearest_labels, stats_from_partition
from .mstep import mstep
from .stats import SuffStats

#: mclust's default subset size for the hierarchical start.
HC_MAX_ROWS = 2000


class HCTree(NamedTuple):
    """Merge history of model-based hierarchical clustering.

    Attributes
    ----------
    rows : ndarray of shape (m,)
        Indices of the rows that were clustered (all rows, or a subset).
    groups : ndarray of shape (m,)
        Initial group of each clustered row (exact duplicates share one).
    merges : ndarray of shape (n_groups - 1, 2)
        The pairs of groups merged, in order; the merged group keeps the
        first index.
    n_samples : int
        Number of rows of the data the tree was built for.
    values : ndarray of shape (m,) or None
        For one-dimensional data, the clustered values: partitions are then
        quantile classes and ``merges`` is empty.
    cache : dict
        Partitions already cut, by number of groups (filled by :func:`hc_partitions`).
    """

    rows: np.ndarray
    groups: np.ndarray
    merges: np.ndarray
    n_samples: int
    values: np.ndarray | None
    cache: dict[int, np.ndarray]

    @property
    def n_groups(self) -> int:
        """Number of initial groups (distinct rows)."""
        return int(self.merges.shape[0]) + 1


def svd_transform(X: np.ndarray) -> np.ndarray:
    """mclust's ``use = "SVD"``: centre, scale, rotate by ``V`` and divide by ``sqrt(s)``.

    Columns with zero variance are dropped; so are directions whose singular
    value is zero.
    """
    Z = X - X.mean(axis=0)
    sd = Z.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    keep = sd > 0
    if not keep.any():
        return np.zeros((X.shape[0], 1))
    Z = Z[:, keep] / sd[keep]
    _, s, Vt = np.linalg.svd(Z, full_matrices=False)
    ok = s > s[0] * np.finfo(np.float64).eps * max(Z.shape)
    return (Z @ Vt[ok].T) / np.sqrt(s[ok])


def _duplicate_groups(X: np.ndarray) -> np.ndarray:
    """Group index of every row; identical rows share a group (first-seen order)."""
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    # Renumber groups in order of first appearance, so ties break by row order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()]


def _group_stats(Z: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
    """Size, mean, scatter and scatter trace of every initial group."""
    g = int(groups.max()) + 1
    p = Z.shape[1]
    n = np.bincount(groups, minlength=g).astype(float)
    mean = np.zeros((g, p))
    np.add.at(mean, groups, Z)
    mean /= n[:, None]
    dev = Z - mean[groups]
    W = np.zeros((g, p, p))
    np.add.at(W, groups, dev[:, :, None] * dev[:, None, :])
    return n, mean, W, np.einsum("kii->k", W)


@kernel
def _det_term(S, size, base, L):  # type: ignore[no-untyped-def]
    """``size · log(|S / size| + e^base)`` by a Cholesky factor (into ``L``);
    ``size · base`` when ``S / size`` is not positive definite."""
    p = S.shape[0]
    logdet = 0.0
    for j in range(p):
        s = S[j, j] / size
        for m in range(j):
            s -= L[j, m] * L[j, m]
        if not s > 0.0:
            return size * base
        L[j, j] = np.sqrt(s)
        logdet += np.log(s)
        for i in range(j + 1, p):
            v = S[i, j] / size
            for m in range(j):
                v -= L[i, m] * L[j, m]
            L[i, j] = v / L[j, j]
    hi = max(logdet, base)
    return size * (hi + np.log1p(np.exp(min(logdet, base) - hi)))


@kernel
def _merge_tree(n, mean, W, trace, alpha, beta, merges):  # type: ignore[no-untyped-def]
    """Greedy merges of least criterion cost, written to ``merges`` (g - 1, 2).

    ``n, mean, W, trace`` (the groups' statistics) are updated in place. A
    merge whose group outgrows the dimension first gets the lower bound that
    drops ``|W / l|`` from its term (the determinant is the expensive part);
    a bound is made exact only when it is the smallest cost left, so the
    merges are the greedy ones.
    """
    g, p = mean.shape
    S = np.empty((p, p))
    L = np.empty((p, p))
    terms = np.empty(g)
    for a in range(g):
        base = np.log(beta * (trace[a] + alpha) / n[a])
        terms[a] = _det_term(W[a], n[a], base, L) if n[a] > p else n[a] * base

    def bound(a, b):
        # The cost of merging a and b, exact unless the merge outgrows the dimension.
        size = n[a] + n[b]
        dd = 0.0
        for j in range(p):
            dd += (mean[b, j] - mean[a, j]) ** 2
        tr = trace[a] + trace[b] + n[a] * n[b] / size * dd
        return size * np.log(beta * (tr + alpha) / size) - terms[a] - terms[b], size <= p

    # Full cost matrix (both triangles), read by rows; inactive groups are skipped.
    cost = np.full((g, g), np.inf)
    exact = np.ones((g, g), dtype=np.bool_)
    for a in range(g):
        for b in range(a + 1, g):
            c, ex = bound(a, b)
            cost[a, b] = cost[b, a] = c
            exact[a, b] = exact[b, a] = ex
    nn = np.empty(g, dtype=np.intp)
    nnd = np.empty(g)
    active = np.ones(g, dtype=np.bool_)

    def rescan(r):
        best, at = np.inf, 0
        for j in range(g):
            if cost[r, j] < best and active[j]:
                best, at = cost[r, j], j
        nn[r], nnd[r] = at, best

    for r in range(g):
        rescan(r)
    for step in range(g - 1):
        while True:
            a = np.argmin(nnd)
            b = nn[a]
            if exact[a, b]:
                break  # an exact cost no larger than every bound: the true minimum
            size = n[a] + n[b]
            f = n[a] * n[b] / size
            dd = 0.0
            for i in range(p):
                di = mean[b, i] - mean[a, i]
                dd += di * di
                for j in range(p):
                    S[i, j] = W[a, i, j] + W[b, i, j] + f * (di * (mean[b, j] - mean[a, j]))
            base = np.log(beta * (trace[a] + trace[b] + f * dd + alpha) / size)
            c = _det_term(S, size, base, L) - terms[a] - terms[b]
            cost[a, b] = cost[b, a] = c
            exact[a, b] = exact[b, a] = True
            rescan(a)
            rescan(b)
        a, b = min(a, b), max(a, b)
        merges[step, 0], merges[step, 1] = a, b
        na, nb = n[a], n[b]
        size = na + nb
        f = na * nb / size
        dd = 0.0
        for i in range(p):
            di = mean[b, i] - mean[a, i]
            dd += di * di
            for j in range(p):
                W[a, i, j] = W[a, i, j] + W[b, i, j] + f * (di * (mean[b, j] - mean[a, j]))
        trace[a] = trace[a] + trace[b] + f * dd
        for j in range(p):
            mean[a, j] = (na * mean[a, j] + nb * mean[b, j]) / size
        n[a] = size
        base = np.log(beta * (trace[a] + alpha) / size)
        terms[a] = _det_term(W[a], size, base, L) if size > p else size * base
        active[b] = False
        nnd[b] = np.inf
        any_other = False
        for r in range(g):
            if active[r] and r != a:
                any_other = True
                c, ex = bound(a, r)
                cost[a, r] = cost[r, a] = c
                exact[a, r] = exact[r, a] = ex
                # A row whose nearest group was a or b is rescanned; others may now prefer a.
                if nn[r] == a or nn[r] == b:
                    rescan(r)
                elif c < nnd[r]:
                    nn[r], nnd[r] = a, c
        if any_other:
            rescan(a)
        else:
            nnd[a] = np.inf


def _agglomerate(Z: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Greedy merges of minimum criterion cost; returns the (g - 1, 2) merge pairs."""
    n_rows, p = Z.shape
    Zs = Z / np.sqrt(n_rows * p)
    alpha = max(float(np.sum((Zs - Zs.mean(axis=0)) ** 2)), float(np.finfo(np.float64).eps))
    n, mean, W, trace = _group_stats(np.ascontiguousarray(Z, dtype=np.float64), groups)
    merges = np.empty((n.shape[0] - 1, 2), dtype=np.intp)
    if merges.shape[0]:
        _merge_tree(n, mean, W, trace, alpha, 1.0, merges)
    return merges


def hc_tree(
    X: np.ndarray, *, max_rows: int | None = HC_MAX_ROWS,
    random_state: np.random.RandomState | None = None,
) -> HCTree:
    """Build the VVV hierarchical clustering tree of ``X`` (private: valid input).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    max_rows : int or None
        Above this many rows, cluster a random subset of this size.
    random_state : RandomState or None
        Draws the subset; unused when all rows are clustered.
    """
    n = X.shape[0]
    if max_rows is not None and n > max_rows:
        rng = random_state if random_state is not None else np.random.RandomState(0)
        rows = np.sort(rng.choice(n, size=max_rows, replace=False))
    else:
        rows = np.arange(n)
    Xs = np.asarray(X[rows], dtype=np.float64)
    groups = _duplicate_groups(Xs)
    if Xs.shape[1] == 1:
        return HCTree(rows, groups, np.empty((0, 2), dtype=np.intp), n, Xs[:, 0].copy(), {})
    merges = _agglomerate(svd_transform(Xs), groups)
    return HCTree(rows, groups, merges, n, None, {})


def quantile_classes(x: np.ndarray, k: int) -> np.ndarray:
    """``k`` classes of 1-D values between quantiles (mclust's univariate start).

    Quantiles at ``n + 1`` equal probabilities, ``n`` raised from ``k`` until
    ``k + 1`` distinct breakpoints exist; surplus breakpoints closest to their
    neighbours are dropped. Labels are 0 .. k-1 from the smallest values up.
    """
    n_distinct = np.unique(x).size
    if k > n_distinct:
        raise ValueError(
            f"hierarchical start cannot make {k} groups from {n_distinct} distinct rows"
        )
    m = k
    q = np.unique(np.quantile(x, np.linspace(0.0, 1.0, m + 1)))
    while q.size < k + 1:
        m += 1
        q = np.unique(np.quantile(x, np.linspace(0.0, 1.0, m + 1)))
    if q.size > k + 1:
        inner = q[1:-1]
        gaps = np.diff(q)[1:]  # gap to the right neighbour of each inner breakpoint
        drop = np.argsort(gaps, kind="stable")[: q.size - k - 1]
        q = np.concatenate([q[:1], np.delete(inner, drop), q[-1:]])
    return np.clip(np.searchsorted(q[1:-1], x, side="right"), 0, k - 1).astype(np.intp)


def hc_partitions(tree: HCTree, n_components: list[int] | range) -> dict[int, np.ndarray]:
    """Labels of the clustered rows (``tree.rows``) cut at each number of groups.

    Labels are ``0 .. k-1`` in order of first appearance.

    Raises
    ------
    ValueError
        If some ``k`` exceeds the number of distinct rows.
    """
    ks = sorted({int(k) for k in n_components})
    if all(k in tree.cache for k in ks):
        return {k: tree.cache[k].copy() for k in ks}
    if tree.values is not None:
        quantiles = {k: quantile_classes(tree.values, k) for k in ks}
        tree.cache.update({k: v.copy() for k, v in quantiles.items()})
        return quantiles
    if ks and ks[-1] > tree.n_groups:
        raise ValueError(
            f"hierarchical start cannot make {ks[-1]} groups from {tree.n_groups} distinct rows"
        )
    parent = np.arange(tree.n_groups)
    out: dict[int, np.ndarray] = {}
    remaining = tree.n_groups
    want = set(ks)
    if remaining in want:
        out[remaining] = tree.groups.copy()
    for a, b in tree.merges:
        parent[parent == b] = a
        remaining -= 1
        if remaining in want:
            out[remaining] = parent[tree.groups]
        if remaining <= ks[0]:
            break
    for k, lab in out.items():
        _, first, inv = np.unique(lab, return_index=True, return_inverse=True)
        rank = np.empty_like(first)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        out[k] = rank[inv.ravel()].astype(np.intp)
        tree.cache[k] = out[k].copy()
    return out


def hc_initial_stats(
    X: np.ndarray, w: np.ndarray, n_components: int, model: CovarianceModel,
    tree: HCTree, shift: np.ndarray, chunk_size: int,
) -> SuffStats:
    """Starting statistics of ``tree`` cut at ``n_components`` groups.

    With every row clustered this is the partition's statistics. With a
    subset, an M-step of ``model`` on the subset's partition and a soft E-step
    over all rows give them (falling back to nearest-mean labels if that
    M-step is singular).
    """
    kind = model.stats_kind
    labels = hc_partitions(tree, [n_components])[n_components]
    if tree.rows.size == X.shape[0]:
        return stats_from_partition(X, w, labels, n_components, kind, shift, chunk_size)
    Xs = np.asarray(X[tree.rows], dtype=np.float64)
    sub = stats_from_partition(Xs, w[tree.rows], labels, n_components, kind, shift, chunk_size)
    try:
        params = mstep(sub, model, reg_covar=0.0, shift=shift)
    except SingularCovarianceError:
        means = sub.sk / np.maximum(sub.nk, 1e-300)[:, None] + shift
        full = nearest_labels(X, means, shift)
        return stats_from_partition(X, w, full, n_components, kind, shift, chunk_size)

    def block(Xb: np.ndarray, wb: np.ndarray) -> SuffStats:
        st = estep_soft(Xb, wb, params, model, shift)
        return st._replace(objective=0.0)

    return map_blocks_sum(X, w, chunk_size, block)


def hc_centers(
    rows: np.ndarray, n_components: int, random_state: np.random.RandomState | None = None
) -> np.ndarray:
    """Means of the hierarchical partition of ``rows`` into ``n_components`` groups.

    Starting centres for data read in blocks: the tree is built on a row
    sample and every row then joins its nearest centre.
    """
    rows = np.asarray(rows, dtype=np.float64)
    tree = hc_tree(rows, random_state=random_state)
    labels = hc_partitions(tree, [n_components])[n_components]
    sub = rows[tree.rows]
    return np.stack([sub[labels == j].mean(axis=0) for j in range(n_components)])
