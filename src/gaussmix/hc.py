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


class _Groups:
    """State of the agglomeration: sizes, means, scatters and criterion terms."""

    def __init__(self, Z: np.ndarray, groups: np.ndarray, alpha: float, beta: float) -> None:
        g = int(groups.max()) + 1
        p = Z.shape[1]
        self.p, self.alpha, self.beta = p, alpha, beta
        self.n = np.bincount(groups, minlength=g).astype(float)
        self.mean = np.zeros((g, p))
        np.add.at(self.mean, groups, Z)
        self.mean /= self.n[:, None]
        dev = Z - self.mean[groups]
        self.W = np.zeros((g, p, p))
        np.add.at(self.W, groups, dev[:, :, None] * dev[:, None, :])
        self.trace = np.einsum("kii->k", self.W)
        self.term = self._term(self.n, self.trace, self.W)

    def _term(self, n: np.ndarray, trace: np.ndarray, W: np.ndarray | None) -> np.ndarray:
        log_base = np.log(self.beta * (trace + self.alpha) / n)
        out = log_base.copy()
        big = n > self.p
        if np.any(big) and W is not None:
            sign, logdet = np.linalg.slogdet(W[big] / n[big, None, None])
            logdet = np.where(sign > 0, logdet, -np.inf)
            out[big] = np.logaddexp(logdet, log_base[big])
        return n * out

    def costs(
        self, a: int, others: np.ndarray, exact: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cost of merging group ``a`` with each of ``others``, and which are exact.

        With ``exact=False`` a merged group larger than the dimension gets the
        lower bound that drops ``|W / l|`` from its term (the determinant is
        the expensive part); the agglomeration refines a bound only when it
        is the smallest candidate.
        """
        if others.size == 0:
            return np.empty(0), np.empty(0, dtype=bool)
        na, no = self.n[a], self.n[others]
        n = na + no
        delta = self.mean[others] - self.mean[a]
        f = na * no / n
        trace = self.trace[a] + self.trace[others] + f * np.einsum("ij,ij->i", delta, delta)
        big = n > self.p
        W = None
        if exact and np.any(big):
            # Scatters are needed only where the merged group outgrows the dimension.
            W = np.zeros((others.size, self.p, self.p))
            db = delta[big]
            W[big] = self.W[a] + self.W[others[big]] + f[big, None, None] * (
                db[:, :, None] * db[:, None, :])
        cost = self._term(n, trace, W) - self.term[a] - self.term[others]
        return cost, (np.ones(others.size, dtype=bool) if exact else ~big)

    def merge(self, a: int, b: int) -> None:
        """Replace group ``a`` by the union of ``a`` and ``b``."""
        na, nb = self.n[a], self.n[b]
        n = na + nb
        delta = self.mean[b] - self.mean[a]
        f = na * nb / n
        self.W[a] = self.W[a] + self.W[b] + f * np.outer(delta, delta)
        self.trace[a] = self.trace[a] + self.trace[b] + f * float(delta @ delta)
        self.mean[a] = (na * self.mean[a] + nb * self.mean[b]) / n
        self.n[a] = n
        self.term[a] = self._term(self.n[a:a + 1], self.trace[a:a + 1], self.W[a:a + 1])[0]


def _agglomerate(Z: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Greedy merges of minimum criterion cost; returns the (g - 1, 2) merge pairs."""
    n, p = Z.shape
    Zs = Z / np.sqrt(n * p)
    alpha = max(float(np.sum((Zs - Zs.mean(axis=0)) ** 2)), float(np.finfo(np.float64).eps))
    st = _Groups(Z, groups, alpha, 1.0)
    g = st.n.shape[0]
    if g == 1:
        return np.empty((0, 2), dtype=np.intp)
    # Full cost matrix (upper and lower triangles mirrored), inf for inactive
    # pairs; entries not marked exact are lower bounds, refined on demand.
    cost = np.full((g, g), np.inf)
    exact = np.ones((g, g), dtype=bool)
    single = st.n == 1
    if p >= 2 and single.any():
        # Two single rows merge into a group of 2 <= d: the trace term alone,
        # 2 log(β (|δ|²/2 + α) / 2) - 2 log(α β), for all such pairs at once.
        from scipy.spatial.distance import cdist

        idx = np.flatnonzero(single)
        d2 = cdist(st.mean[idx], st.mean[idx], "sqeuclidean")
        cost[np.ix_(idx, idx)] = 2.0 * (np.log(st.beta * (d2 / 2.0 + st.alpha) / 2.0)
                                        - np.log(st.alpha * st.beta))
        np.fill_diagonal(cost, np.inf)
    for a in range(g - 1):
        if p >= 2 and single[a]:
            # Only the pairs with a multi-row group are left to compute.
            others = np.flatnonzero(~single[a + 1:]) + a + 1
            if others.size == 0:
                continue
        else:
            others = np.arange(a + 1, g)
        c, ex = st.costs(a, others, exact=False)
        cost[a, others] = c
        cost[others, a] = c
        exact[a, others] = ex
        exact[others, a] = ex
    nn = np.argmin(cost, axis=1)
    nnd = cost[np.arange(g), nn]
    active = np.ones(g, dtype=bool)
    merges = np.empty((g - 1, 2), dtype=np.intp)
    for step in range(g - 1):
        while True:
            a = int(np.argmin(nnd))
            b = int(nn[a])
            if exact[a, b]:
                break  # an exact cost no larger than every bound: the true minimum
            c, _ = st.costs(a, np.array([b]))
            cost[a, b] = cost[b, a] = c[0]
            exact[a, b] = exact[b, a] = True
            for r in (a, b):
                nn[r] = int(np.argmin(cost[r]))
                nnd[r] = cost[r, nn[r]]
        a, b = min(a, b), max(a, b)
        merges[step] = (a, b)
        st.merge(a, b)
        active[b] = False
        cost[b, :] = np.inf
        cost[:, b] = np.inf
        nnd[b] = np.inf
        others = np.flatnonzero(active)
        others = others[others != a]
        c, ex = st.costs(a, others, exact=False)
        cost[a, others] = c
        cost[others, a] = c
        exact[a, others] = ex
        exact[others, a] = ex
        # Rows whose nearest group was a or b must be rescanned; others may now prefer a.
        stale = others[(nn[others] == a) | (nn[others] == b)]
        for r in stale:
            nn[r] = int(np.argmin(cost[r]))
            nnd[r] = cost[r, nn[r]]
        closer = others[c < nnd[others]]
        nn[closer] = a
        nnd[closer] = cost[closer, a]
        if others.size:
            nn[a] = int(np.argmin(cost[a]))
            nnd[a] = cost[a, nn[a]]
        else:
            nnd[a] = np.inf
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
