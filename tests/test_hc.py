"""Model-based hierarchical clustering (mclust's ``hc(modelName="VVV", use="SVD")``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from gaussmix import GaussianMixture, load_faithful, load_iris
from gaussmix.hc import hc_initial_stats, hc_partitions, hc_tree, svd_transform
from gaussmix.init import stats_from_partition

DATA = Path(__file__).parent / "data"


def _mclust_partitions(name: str) -> dict[int, np.ndarray]:
    rows = np.genfromtxt(DATA / f"mclust-{name}-hc-partitions.csv", delimiter=",",
                         skip_header=1, dtype=int)
    return {k: rows[:, k - 2] for k in range(2, 10)}


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return adjusted_rand_score(a, b) == 1.0


def test_iris_partitions_equal_mclusts() -> None:
    X = load_iris()[0]
    ours = hc_partitions(hc_tree(X), range(2, 10))
    for k, theirs in _mclust_partitions("iris").items():
        assert _same_partition(ours[k], theirs), k


def test_faithful_partitions_close_to_mclusts() -> None:
    # faithful is rounded (waiting in whole minutes, 16 duplicate rows), so
    # many candidate merges tie to the last bit and mclust's and our
    # arithmetic break those ties differently; the trees then drift apart.
    X = load_faithful()[0]
    ours = hc_partitions(hc_tree(X), range(2, 10))
    theirs = _mclust_partitions("faithful")
    assert adjusted_rand_score(ours[2], theirs[2]) > 0.95
    assert all(adjusted_rand_score(ours[k], theirs[k]) > 0.4 for k in range(3, 10))


def test_svd_transform_whitens() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) @ np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.1]])
    Z = svd_transform(X)
    # Rows are rotated onto principal axes and scaled by 1/sqrt(singular value):
    # Zᵀ Z = diag(s), with s the singular values of the standardised data.
    ZtZ = Z.T @ Z
    np.testing.assert_allclose(ZtZ, np.diag(np.diag(ZtZ)), atol=1e-9)
    Xs = (X - X.mean(0)) / X.std(0, ddof=1)
    np.testing.assert_allclose(np.diag(ZtZ), np.linalg.svd(Xs, compute_uv=False), rtol=1e-10)
    # A constant column is dropped rather than divided by zero.
    assert svd_transform(np.column_stack([X, np.ones(200)])).shape == (200, 3)


def test_partitions_are_nested_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 0.5, size=(40, 2)) for c in [(0, 0), (6, 0), (0, 6)]])
    t1, t2 = hc_tree(X), hc_tree(X)
    np.testing.assert_array_equal(t1.merges, t2.merges)
    parts = hc_partitions(t1, range(1, 8))
    for k in range(1, 8):
        assert np.unique(parts[k]).size == k
        assert parts[k][0] == 0  # labels in order of first appearance
    for k in range(2, 8):
        # Every group at k lies inside one group at k - 1.
        for g in range(k):
            assert np.unique(parts[k - 1][parts[k] == g]).size == 1
    # Well separated blobs are found.
    truth = np.repeat([0, 1, 2], 40)
    assert adjusted_rand_score(parts[3], truth) == 1.0


def test_duplicates_start_together_and_limit_groups() -> None:
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [5.0, 5.1], [1.0, 0.0]])
    tree = hc_tree(X)
    assert tree.n_groups == 4
    for k in range(1, 5):
        lab = hc_partitions(tree, [k])[k]
        assert lab[0] == lab[1] and lab[2] == lab[5]
    with pytest.raises(ValueError, match="distinct rows"):
        hc_partitions(tree, [5])


def test_one_dimensional_uses_quantile_classes() -> None:
    # As mclust does for univariate data: k groups of equal counts by quantiles.
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0, 1, 60), rng.normal(8, 1, 60)])[:, None]
    parts = hc_partitions(hc_tree(X), [1, 2, 3, 4])
    assert adjusted_rand_score(parts[2], np.repeat([0, 1], 60)) == 1.0
    for k in (3, 4):
        counts = np.bincount(parts[k])
        assert counts.size == k and counts.max() - counts.min() <= 1
        order = np.argsort(X[:, 0])
        assert np.all(np.diff(parts[k][order]) >= 0)  # classes are contiguous ranges
    with pytest.raises(ValueError, match="distinct rows"):
        hc_partitions(hc_tree(np.array([[1.0], [1.0], [2.0]])), [3])


def test_subset_for_large_n_is_seeded_and_assigns_every_row() -> None:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 0.6, size=(700, 2)) for c in (0, 4, 8)])
    t1 = hc_tree(X, max_rows=500, random_state=np.random.RandomState(0))
    t2 = hc_tree(X, max_rows=500, random_state=np.random.RandomState(0))
    assert t1.rows.size == 500 and t1.n_samples == 2100
    np.testing.assert_array_equal(t1.rows, t2.rows)
    np.testing.assert_array_equal(t1.merges, t2.merges)
    from gaussmix.covariance import get_model

    shift = X.mean(0)
    w = np.ones(X.shape[0])
    st = hc_initial_stats(X, w, 3, get_model("VVV"), t1, shift, 1024)
    # Soft responsibilities of every row: total mass n, three balanced groups.
    assert st.nk.sum() == pytest.approx(2100)
    np.testing.assert_allclose(np.sort(st.nk), [700, 700, 700], atol=5)


def test_gaussian_mixture_hc_init_matches_partition_start() -> None:
    X = load_iris()[0]
    lab = hc_partitions(hc_tree(X), [3])[3]
    kw = {"covariance_type": "VEV", "reg_covar": 0.0, "tol": 1e-5, "stopping": "relative"}
    a = GaussianMixture(3, init_params="hc", **kw).fit(X)
    b = GaussianMixture(3, resp_init=lab, **kw).fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert a.n_iter_ == b.n_iter_
    # The statistics of the hc start equal those of the partition.
    from gaussmix.covariance import get_model

    shift, w = X.mean(0), np.ones(150)
    st = hc_initial_stats(X, w, 3, get_model("VVV"), hc_tree(X), shift, 64)
    ref = stats_from_partition(X, w, lab, 3, "full", shift, 64)
    np.testing.assert_allclose(st.Sk, ref.Sk)


class _Groups:
    """The agglomeration's state in plain NumPy: sizes, means, scatters and
    criterion terms, with determinants from LAPACK's ``slogdet``."""

    def __init__(self, Z: np.ndarray, groups: np.ndarray, alpha: float) -> None:
        g, self.p, self.alpha = int(groups.max()) + 1, Z.shape[1], alpha
        self.n = np.bincount(groups, minlength=g).astype(float)
        self.mean = np.stack([Z[groups == j].mean(axis=0) for j in range(g)])
        dev = Z - self.mean[groups]
        self.W = np.stack([dev[groups == j].T @ dev[groups == j] for j in range(g)])
        self.term = self._term(self.n, self.W)

    def _term(self, n: np.ndarray, W: np.ndarray) -> np.ndarray:
        log_base = np.log((np.einsum("kii->k", W) + self.alpha) / n)
        sign, logdet = np.linalg.slogdet(W / n[:, None, None])
        big = n > self.p
        out = np.where(big, np.logaddexp(np.where(sign > 0, logdet, -np.inf), log_base),
                       log_base)
        return n * out

    def merged(self, a: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        na, no = self.n[a], self.n[others]
        delta = self.mean[others] - self.mean[a]
        f = (na * no / (na + no))[:, None, None]
        return na + no, self.W[a] + self.W[others] + f * (delta[:, :, None] * delta[:, None, :])

    def costs(self, a: int, others: np.ndarray) -> np.ndarray:
        n, W = self.merged(a, others)
        return self._term(n, W) - self.term[a] - self.term[others]

    def merge(self, a: int, b: int) -> None:
        n, W = self.merged(a, np.array([b]))
        self.mean[a] = (self.n[a] * self.mean[a] + self.n[b] * self.mean[b]) / n[0]
        self.n[a], self.W[a] = n[0], W[0]
        self.term[a] = self._term(n, W)[0]


def _greedy_reference(Z: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Naive agglomeration: every step evaluates every pair exactly."""
    n, p = Z.shape
    Zs = Z / np.sqrt(n * p)
    st = _Groups(Z, groups, float(np.sum((Zs - Zs.mean(0)) ** 2)))
    active = list(range(st.n.shape[0]))
    merges = []
    while len(active) > 1:
        best = (np.inf, (0, 0))
        for a in active:
            others = np.array([o for o in active if o > a])
            if others.size:
                c = st.costs(a, others)
                j = int(np.argmin(c))
                if c[j] < best[0]:
                    best = (c[j], (a, int(others[j])))
        a, b = best[1]
        merges.append((a, b))
        st.merge(a, b)
        active.remove(b)
    return np.array(merges)


@pytest.mark.parametrize("seed, d", [(0, 3), (1, 3), (2, 2), (3, 5)])
def test_agglomeration_equals_naive_greedy(seed: int, d: int) -> None:
    # The compiled agglomeration (lazy bounds, Cholesky determinants) against
    # every pair evaluated exactly at every step in NumPy.
    from gaussmix.hc import _agglomerate, _duplicate_groups

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, d))
    X = np.vstack([rng.normal(c, 0.7, size=(30, d)) for c in centres])
    X = np.vstack([X, X[:5]])  # duplicates start grouped
    groups = _duplicate_groups(X)
    Z = svd_transform(X)
    merges = _agglomerate(Z, groups)
    assert merges.shape == (90 - 1, 2)
    np.testing.assert_array_equal(merges, _greedy_reference(Z, groups))
