"""Sufficient statistics are additive and equal their naive definitions."""

import numpy as np
import pytest

from gaussmix import GaussianMixture
from gaussmix.covariance import MODELS
from gaussmix.estep import estep_hard, estep_soft
from gaussmix.stats import SECOND_MOMENT_KINDS, compute_stats

from .conftest import blobs


@pytest.mark.parametrize("kind", SECOND_MOMENT_KINDS)
def test_compute_stats_matches_naive(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    w = rng.uniform(0.5, 2.0, 40)
    r = rng.dirichlet(np.ones(4), 40)
    st = compute_stats(X, w, r, kind, objective=1.5)
    np.testing.assert_allclose(st.nk, (w[:, None] * r).sum(0))
    np.testing.assert_allclose(st.sk, sum(w[i] * np.outer(r[i], X[i]) for i in range(40)))
    full = np.array([sum(w[i] * r[i, j] * np.outer(X[i], X[i]) for i in range(40))
                     for j in range(4)])
    expected = {
        "full": full,
        "diag": np.diagonal(full, axis1=1, axis2=2),
        "pooled": full.sum(0),
        "pooled_diag": np.diagonal(full.sum(0)),
        "none": np.zeros(()),
    }[kind]
    np.testing.assert_allclose(st.Sk, expected, atol=1e-12)
    assert st.objective == 1.5


@pytest.mark.parametrize("code", sorted(MODELS))
@pytest.mark.parametrize("estep", [estep_soft, estep_hard])
def test_statistics_of_halves_add_to_whole(code, estep):
    X = blobs(101, 3, 3, seed=1)
    w = np.random.default_rng(2).uniform(0.1, 3.0, X.shape[0])
    gm = GaussianMixture(3, covariance_type=code, random_state=0, max_iter=3).fit(X)
    params, model, shift = gm._get_params(), MODELS[code], X.mean(0)
    whole = estep(X, w, params, model, shift)
    head = estep(X[:37], w[:37], params, model, shift)
    parts = head + estep(X[37:], w[37:], params, model, shift)
    for a, b in zip(whole, parts, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("code", sorted(MODELS))
def test_chunk_size_does_not_change_the_fit(code):
    X = blobs(250, 3, 3, seed=4)
    kw = dict(n_components=3, covariance_type=code, random_state=0, tol=1e-8, max_iter=50)
    a = GaussianMixture(chunk_size=7, **kw).fit(X)
    b = GaussianMixture(chunk_size=10_000, **kw).fit(X)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 37, 1000])
@pytest.mark.parametrize("d", [2, 4, 6, 16])
def test_symmetric_second_moments_match_gemm(dtype, n, d):
    # From d = 12 the syrk path (Zᵀ Z over the rows that count, scaled by sqrt
    # of the weights), below it plain GEMMs (up to 4 features a kernel over
    # transposed tiles, 1000 rows: two tiles), against the weighted GEMM:
    # zero weights, a zero row, responsibilities that are exactly 0 or tiny.
    from gaussmix.stats import _second_full, _second_pooled

    rng = np.random.default_rng(n)
    k = 4
    Xc = rng.normal(size=(n, d)).astype(dtype)
    Xc[0] = 0.0
    w = rng.uniform(0.0, 2.0, n).astype(dtype)
    w[n // 2] = 0.0
    r = rng.dirichlet(np.ones(k), n).T
    r[1, : n // 3 + 1] = 0.0
    r[2, rng.random(n) < 0.7] = 1e-30  # left out: far below rounding
    r[3, rng.random(n) < 0.5] = 1e-12  # kept
    wr = (r * w).astype(dtype)
    # Reference in float64 from the same values. float32 sums carry rounding
    # of the order of eps32 times the sum of |terms|, which the diagonal
    # bounds: an entry that cancels (0.011 from terms of ~200) may differ in
    # its 4th digit, a row counted twice or missed would move it by ~1.
    X64, wr64 = Xc.astype(np.float64), wr.astype(np.float64)
    expected = np.stack([(X64.T * wr64[j]) @ X64 for j in range(k)])
    expected_pooled = (X64.T * w.astype(np.float64)) @ X64
    f32 = dtype == np.float32

    def close(got, want):
        scale = np.abs(np.diagonal(want, axis1=-2, axis2=-1)).max(axis=-1)[..., None, None]
        atol = 1e-6 * scale + 1e-30 if f32 else 1e-12
        np.testing.assert_array_less(np.abs(got - want), atol + (1e-5 if f32 else 1e-12)
                                     * np.abs(want) + 1e-300)

    full = _second_full(Xc, w, wr)
    assert full.dtype == np.float64  # moved back to the shift in float64
    close(full, expected)
    if d >= 12 or d <= 4:  # syrk or the kernel: both triangles filled from one
        np.testing.assert_array_equal(full, np.swapaxes(full, 1, 2))
    pooled = _second_pooled(Xc, w, wr)
    close(pooled, expected_pooled)
    if d >= 12:
        np.testing.assert_array_equal(pooled, pooled.T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_second_moments_past_the_gather_budget_take_dense_products(dtype, monkeypatch):
    """Every row counting for every component would overflow the gathered
    copy's budget: the dense products give the same moments."""
    import gaussmix.stats as stats

    rng = np.random.default_rng(7)
    n, d, k = 500, 16, 4
    Xc = rng.normal(size=(n, d)).astype(dtype)
    wr = rng.dirichlet(np.ones(k), n).T.astype(dtype)
    gathered = stats._second_full(Xc, np.ones(n, dtype=dtype), wr)
    monkeypatch.setattr(stats, "_GATHER_BYTES", d * Xc.itemsize * (n * k - 1))
    dense = stats._second_full(Xc, np.ones(n, dtype=dtype), wr)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dense, gathered, rtol=tol, atol=tol * np.abs(gathered).max())
    assert not np.array_equal(dense, gathered) or dtype == np.float64  # another path ran


@pytest.mark.parametrize("compiled", [True, False])
def test_rows_left_out_of_second_moments_are_below_rounding(compiled):
    from gaussmix.stats import _DROP_RTOL, _gather_rows_that_count

    gather = _gather_rows_that_count if compiled else _gather_rows_that_count.py_func
    rng = np.random.default_rng(0)
    n, d, k = 300 if compiled else 60, 7, 5
    Xc = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, (n, 1))
    wr = np.exp(rng.uniform(-800.0, 0.0, (k, n)))
    wr[4] = 0.0
    centres = rng.normal(size=(k, d))
    Zs, ends = gather(Xc, wr, centres, _DROP_RTOL, n * k)
    # The naive rule: row i counts for j when its share of the trace is above rtol / n.
    dev = Xc[None] - centres[:, None]  # (k, n, d)
    c = wr * (dev * dev).sum(2)
    keep = c > c.sum(1, keepdims=True) * (_DROP_RTOL / n)
    np.testing.assert_array_equal(np.diff(ends, prepend=0), keep.sum(1))
    assert 0 < keep[:4].sum() < keep[:4].size and ends[4] == ends[3]
    assert np.all(np.where(keep, 0.0, c).sum(1) <= _DROP_RTOL * c.sum(1))
    rows = np.concatenate([np.flatnonzero(kj) for kj in keep])
    comp = np.repeat(np.arange(k), keep.sum(1))
    np.testing.assert_allclose(Zs, dev[comp, rows] * np.sqrt(wr[comp, rows])[:, None],
                               rtol=1e-15)
    # More pairs than the copy may hold: nothing copied, ends at -1.
    Zn, ends_n = gather(Xc, wr, centres, _DROP_RTOL, int(keep.sum()) - 1)
    assert Zn.shape == (0, d) and np.all(ends_n == -1)
    assert gather(Xc, wr, centres, _DROP_RTOL, int(keep.sum()))[0].shape == Zs.shape
    # A non-finite trace keeps every row.
    wr[0, 0] = np.inf
    assert gather(Xc, wr, centres, _DROP_RTOL, n * k)[1][0] == n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_second_moments_of_a_far_component_keep_its_scatter(dtype):
    """A component far from the shift: its scatter survives the float32 products.

    About the global shift, S - n m mᵀ cancels ~ |m|² / σ² = 1e6 of the
    moment (float32 would keep no digit); accumulating about each component's
    block mean keeps the scatter to the precision of the compute dtype.
    """
    from gaussmix.stats import scatter, weighted_stats_kn

    rng = np.random.default_rng(3)
    n, d = 2000, 4
    X = rng.normal(size=(n, d)) + 1e3  # unit scatter, 1e3 from the shift (0)
    wr = np.vstack([np.full(n, 0.5), rng.uniform(0.0, 1.0, n)])
    stats = weighted_stats_kn(X.astype(dtype), np.ones(n, dtype), wr.astype(dtype), "full")
    got = scatter(stats, stats.nk, "full")
    Xd = X.astype(dtype).astype(np.float64)
    ref = np.stack([((r[:, None] * (Xd - (r @ Xd) / r.sum())).T @ (Xd - (r @ Xd) / r.sum()))
                    for r in wr.astype(dtype).astype(np.float64)])
    tol = 1e-4 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_well_separated_high_dimensional_fit_matches_dense_statistics(monkeypatch):
    # d = 16 and far-apart components: most responsibilities underflow, so the
    # second moments take the path that skips them. The fit equals the one
    # with every row in every product, and scikit-learn's.
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGMM

    from gaussmix import stats

    X = blobs(600, 16, 4, seed=3) * 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s = SkGMM(4, covariance_type="full", random_state=0, max_iter=1).fit(X)
        init = dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_,
                    covariance_type="full", tol=0.0, max_iter=10)
        ref = SkGMM(4, **init).fit(X)
        got = GaussianMixture(4, **init).fit(X)
        chunked = GaussianMixture(4, chunk_size=37, **init).fit(X)
        monkeypatch.setattr(stats, "_DROP_RTOL", 0.0)  # every row with a nonzero term
        dense = GaussianMixture(4, **init).fit(X)
    # One M-step differs by rounding (2e-15 of the largest entry); ten EM
    # steps on these ill-conditioned components amplify that to about 1e-11.
    scale = np.abs(dense.covariances_).max()
    np.testing.assert_allclose(got.covariances_, dense.covariances_, atol=1e-10 * scale)
    np.testing.assert_allclose(chunked.covariances_, got.covariances_, atol=1e-10 * scale)
    assert got.score(X) == pytest.approx(dense.score(X), rel=1e-12)
    assert got.score(X) == pytest.approx(ref.score(X), rel=1e-9)


def test_second_moments_with_negative_weights_fall_back_to_gemm():
    from gaussmix.stats import _second_full, _second_pooled

    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(20, 3))
    w = rng.normal(size=20)
    wr = rng.normal(size=(2, 20))
    np.testing.assert_allclose(_second_full(Xc, w, wr),
                               np.stack([(Xc.T * r) @ Xc for r in wr]), rtol=1e-12)
    np.testing.assert_allclose(_second_pooled(Xc, w, wr), (Xc.T * w) @ Xc, rtol=1e-12)


@pytest.mark.parametrize("kind", ["full", "diag", "pooled", "pooled_diag", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [4, 6])  # 4: full/pooled by the label kernels too; 6: GEMMs
def test_partition_stats_equal_the_one_hot_form(kind, dtype, d):
    """The label kernels (diagonal kinds; full and pooled up to 4 features)
    against the one-hot GEMM form, on rows far from the origin."""
    from gaussmix.stats import partition_stats, stats_from_labels

    rng = np.random.default_rng(3)
    scale = [1.0, 5.0, 0.1, 2.0, 0.5, 3.0][:d]
    X = (rng.normal(size=(500, d)) * scale + 100.0).astype(dtype)
    w = rng.integers(0, 3, 500).astype(float)
    labels = rng.integers(0, 5, 500)
    labels[labels == 3] = 4  # component 3 is empty
    shift = X.astype(np.float64).mean(axis=0)
    got = partition_stats(X, w, labels, 5, kind, shift)
    ref = stats_from_labels(X.astype(np.float64) - shift, w, labels, 5, kind)
    assert got.nk[3] == 0 and np.all(got.sk[3] == 0)
    np.testing.assert_allclose(got.nk, ref.nk, rtol=1e-14)
    np.testing.assert_allclose(got.sk, ref.sk, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(got.Sk, ref.Sk, rtol=1e-12, atol=1e-10)
    assert np.shape(got.Sk) == np.shape(ref.Sk)


@pytest.mark.parametrize("d", [1, 2, 4, 5, 13])  # compiled loop up to 4, NumPy / syrk above
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooled_scatter_matches_numpy(d, dtype):
    from gaussmix.stats import _second_pooled

    rng = np.random.default_rng(d)
    X = rng.normal(size=(501, d)).astype(dtype)
    w = rng.uniform(0.0, 3.0, 501).astype(dtype)
    got = _second_pooled(X, w, np.ones((2, 501), dtype=dtype))
    want = (X.astype(np.float64) * w.astype(np.float64)[:, None]).T @ X.astype(np.float64)
    assert got.shape == (d, d)
    np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == np.float64 else 2e-5,
                               atol=1e-9 if dtype == np.float64 else 1e-2)
