"""The compiled soft E-step kernels equal NumPy references to round-off."""

import numpy as np
import pytest
from scipy.special import logsumexp

from gaussmix import _estep_kernels as K
from gaussmix.covariance import MODELS, get_model
from gaussmix.estep import GMMParams, _normalise_kn, estep_soft, rows_log_density, rows_resp
from gaussmix.stats import compute_stats_kn, stats_from_augmented, stats_from_shifted_rows

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _log_probs(k, n, dtype, seed=0):
    """Random (k, n) log-probabilities with -inf entries and a far-out component."""
    rng = np.random.default_rng(seed)
    L = rng.normal(scale=5.0, size=(k, n))
    L[rng.uniform(size=(k, n)) < 0.1] = -np.inf
    if k > 1:
        L[-1, ::3] -= 1000.0  # far below the column maximum: exactly zero responsibility
    L[:, 0] = -np.inf if n > 1 and k > 1 else L[:, 0]  # one column with every entry -inf
    return L.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,n", [(1, 1), (1, 7), (4, 1), (5, 50), (10, 333)])
def test_normalise_matches_numpy(dtype, k, n):
    L = _log_probs(k, n, dtype)
    resp, lse = _normalise_kn(L.copy())
    ref_lse = logsumexp(L.astype(np.float64), axis=0)
    finite = np.isfinite(ref_lse)
    np.testing.assert_allclose(lse[finite], ref_lse[finite], rtol=TOL[dtype], atol=TOL[dtype])
    with np.errstate(invalid="ignore"):
        ref = np.exp(L.astype(np.float64) - ref_lse)
    np.testing.assert_allclose(resp[:, finite], ref[:, finite], rtol=0, atol=TOL[dtype])
    assert resp.dtype == dtype
    # A column with every component at -inf gives uniform responsibilities, no NaN.
    assert np.all(np.isfinite(resp)) and np.all(np.isfinite(lse))
    np.testing.assert_allclose(resp[:, ~finite], 1.0 / k)
    np.testing.assert_allclose(resp.sum(axis=0), 1.0, rtol=TOL[dtype])


def test_normalise_zero_beyond_cutoff_and_nan_propagates():
    L = np.array([[0.0, 0.0, np.nan], [-699.0, -701.0, 0.0]])
    resp, lse = _normalise_kn(L.copy())
    assert resp[1, 0] > 0.0 and resp[1, 1] == 0.0
    assert np.isnan(lse[2]) and np.all(np.isnan(resp[:, 2]))
    L32 = np.array([[0.0], [-86.0], [-88.0]], dtype=np.float32)
    resp32, _ = _normalise_kn(L32)
    assert resp32[1, 0] > 0.0 and resp32[2, 0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalise_columns_weights_and_counts(dtype):
    rng = np.random.default_rng(1)
    E = rng.uniform(size=(4, 30)).astype(dtype)
    E[:, 3] = 0.0
    E[2, 5:9] = 0.0
    w = rng.uniform(0.0, 2.0, 30)
    w[7] = 0.0
    m, tot, scale = np.zeros(30), np.empty(30), np.empty(30, dtype)
    out = E.copy()
    nnz = K.normalise_columns(out, m, w, tot, scale)
    ref_tot = E.astype(np.float64).sum(axis=0)
    ref_tot[3] = 4.0
    ref = np.where(E.sum(axis=0) == 0, 1.0, E) * (w / ref_tot)
    np.testing.assert_allclose(tot, ref_tot, rtol=TOL[dtype])
    np.testing.assert_allclose(out, ref, rtol=TOL[dtype], atol=1e-30)
    assert m[3] == K.CUTOFF and np.all(np.delete(m, 3) == 0.0)
    assert nnz == np.count_nonzero(out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_prob_shifted_matches_numpy(dtype):
    rng = np.random.default_rng(2)
    k, n = 6, 40
    Q = rng.normal(scale=30.0, size=(k, n)).astype(dtype)
    s, c = rng.uniform(0.5, 2.0, k), rng.normal(size=k)
    c[2] = -np.inf  # a component of weight zero
    m = np.empty(n)
    got = Q.copy()
    K.log_prob_shifted(got, s, c, m)
    lp = c[:, None] - 0.5 * s[:, None] * np.maximum(Q.astype(np.float64), 0.0)
    np.testing.assert_allclose(m, lp.max(axis=0), rtol=TOL[dtype])
    ref = lp - lp.max(axis=0)
    assert np.all(got[2] == -np.inf)
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 50, 9000])  # 9,000: past the 4,096-row partial sums
def test_sparse_moments_equal_product(dtype, n):
    rng = np.random.default_rng(3)
    R = rng.uniform(size=(3, n)) * (rng.uniform(size=(3, n)) < 0.3)
    A = rng.normal(size=(n, 9)).astype(dtype)
    out = np.zeros((3, 9))
    K.sparse_moments(R.astype(dtype), A, out)
    R64, A64 = R.astype(dtype).astype(np.float64), A.astype(np.float64)
    # summation error is relative to the sum of |terms| (float32 sums over 4,096-row parts)
    bound = TOL[dtype] * (np.abs(R64) @ np.abs(A64)) + 1e-12
    assert np.all(np.abs(out - R64 @ A64) <= bound)


@pytest.mark.parametrize("kind", ["diag", "pooled_diag", "full", "pooled", "none"])
@pytest.mark.parametrize("d", [3, 20])
def test_stats_from_augmented_match_compute_stats(kind, d):
    rng = np.random.default_rng(4)
    n, k = 60, 4
    Xc = rng.normal(size=(n, d))
    w = rng.uniform(0.0, 2.0, n)
    r = rng.dirichlet(np.ones(k), n).T
    r[:, ::2] = np.eye(k)[:, :1]  # mostly one-hot: the sparse path for d = 20
    A = np.hstack([Xc * Xc, Xc, np.ones((n, 1))])
    got = stats_from_augmented(A, w, r * w, kind, 2.5)
    ref = compute_stats_kn(Xc, w, r, kind, 2.5)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _fitted(code, dtype=np.float64, k=3, d=4, offset=0.0):
    from .conftest import blobs

    X = blobs(120, d, k, seed=5) + offset
    rng = np.random.default_rng(6)
    cov = get_model(code).layout
    means = X[rng.choice(X.shape[0], k, replace=False)]
    if cov.name in ("tied", "full"):
        Q = rng.normal(size=(k if cov.name == "full" else 1, d, d))
        var = Q @ np.swapaxes(Q, 1, 2) / d + np.eye(d)
        var = var if cov.name == "full" else var[0]
    else:
        var = rng.uniform(0.5, 2.0, (k, d)) if cov.name == "diag" else rng.uniform(0.5, 2.0, k)
    weights = np.array([0.5, 0.5, 0.0]) if k == 3 else np.full(k, 1.0 / k)  # one empty weight
    params = GMMParams(weights, means, var, cov.precisions_cholesky(var))
    return X.astype(dtype), params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", ["VVI", "VII", "EII", "EEI", "VEI", "EVI", "EEE", "VVV"])
@pytest.mark.parametrize("d", [4, 20])  # 20: spherical distances from the raw rows
@pytest.mark.parametrize("fuse", [True, False])
def test_fused_estep_matches_reference(code, dtype, d, fuse, monkeypatch):
    """Fused diag/spherical/tied/full paths == the layout's own log_gaussian_kn + NumPy
    (diagonal components with diag statistics: one kernel up to _FUSED_DIAG_CELLS
    (component, feature) cells, else [x², x, 1] and a GEMM; full and tied: a kernel
    over transposed tiles up to 4 features, GEMMs above)."""
    from gaussmix import estep
    from gaussmix.estep import _quadratic

    if not fuse:
        monkeypatch.setattr(estep, "_FUSED_DIAG_CELLS", 0)
    estep._LAST.clear()
    model = MODELS[code]
    X, params = _fitted(code, dtype, d=d)
    q = _quadratic(params, model, X.astype(np.float64).mean(axis=0), dtype)
    layout = model.layout.name
    fused = fuse and layout in ("diag", "spherical") and model.stats_kind == "diag"
    assert (q is not None and q.H is not None) == fused
    raw = q is not None and q.M is not None and q.L is None and q.P is None
    assert raw == (d == 20 and layout == "spherical")  # (predictions read them)
    small = d == 4  # up to 4 features, tied factors go through full's kernel, repeated
    assert (q is not None and q.L is not None) == (model.layout.name == "tied" and not small)
    assert (q is not None and q.P is not None) == (model.layout.name in ("full", "tied")
                                                   and small)
    w = np.random.default_rng(7).uniform(0.0, 2.0, X.shape[0])
    shift = X.astype(np.float64).mean(axis=0)
    Xc = X.astype(np.float64) - shift
    with np.errstate(divide="ignore"):
        wlp = (model.layout.log_gaussian_kn(Xc, params.means - shift, params.precisions_cholesky)
               + np.log(params.weights)[:, None])
    lse = logsumexp(wlp, axis=0)
    resp = np.exp(wlp - lse)
    ref = compute_stats_kn(Xc, w, resp, model.stats_kind, float(w @ lse))
    got = estep_soft(X, w, params, model, shift)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))
    np.testing.assert_allclose(rows_log_density(X, params=params, model=model, shift=shift), lse,
                               rtol=tol)
    np.testing.assert_allclose(rows_resp(X, params=params, model=model, shift=shift), resp.T,
                               atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_spherical_distances_from_raw_rows_match_the_augmented_form(dtype):
    """|x - s|² - 2 x·(μ - s) + b over the raw rows == the [|x|², x, 1] GEMM's distances."""
    rng = np.random.default_rng(12)
    n, d, k = 300, 24, 5
    X = (rng.normal(size=(n, d)) + 2.0).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0)
    means_c = rng.normal(size=(k, d))
    s, c = rng.uniform(0.5, 2.0, k), rng.normal(size=k)
    b = np.sum(means_c**2, axis=1) + 2.0 * means_c @ shift
    G = np.ascontiguousarray(means_c.astype(dtype) @ X.T)
    m, r = np.empty(n), np.empty(n)
    K.spherical_distances(G, X, shift, b, r)
    K.log_prob_shifted(G, s, c, m)
    x = X.astype(np.float64) - shift
    dist = ((x[None, :, :] - means_c[:, None, :]) ** 2).sum(axis=2)
    lp = c[:, None] - 0.5 * s[:, None] * dist
    np.testing.assert_allclose(r, np.sum(x * x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(m, lp.max(axis=0), rtol=TOL[dtype], atol=TOL[dtype] * 50)
    np.testing.assert_allclose(G, lp - lp.max(axis=0), rtol=TOL[dtype], atol=TOL[dtype] * 50)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 50, 9000])  # 9,000: past the 4,096-row partial sums
def test_sparse_moments_rows_equal_building_the_augmented_rows(dtype, n):
    """The same float arithmetic as augmented_rows then sparse_moments: equal sums."""
    rng = np.random.default_rng(13)
    k, d = 4, 17
    X = (rng.normal(size=(n, d)) * 3.0 + 1.0).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0).astype(dtype)
    R = (rng.uniform(size=(k, n)) * (rng.uniform(size=(k, n)) < 0.3)).astype(dtype)
    A = np.empty((n, 2 * d + 1), dtype=dtype)
    K.augmented_rows(X, shift, A)
    want, got = np.zeros((k, 2 * d + 1)), np.zeros((k, 2 * d + 1))
    K.sparse_moments(R, A, want)
    K.sparse_moments_rows(R, X, shift, got)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["diag", "pooled_diag", "none"])
@pytest.mark.parametrize("sparse", [True, False])
def test_stats_from_shifted_rows_equal_the_augmented_ones(dtype, kind, sparse):
    """Sparse diag sums from the rows, or the augmented rows built: the same statistics."""
    rng = np.random.default_rng(14)
    n, d, k = 500, 20, 10
    X = (rng.normal(size=(n, d)) + 3.0).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0).astype(dtype)
    w = rng.uniform(0.5, 2.0, n)
    r = np.eye(k)[rng.integers(0, k, n)].T if sparse else rng.dirichlet(np.ones(k), n).T
    wr = (r * w).astype(dtype)
    A = np.empty((n, 2 * d + 1), dtype=dtype)
    K.augmented_rows(X, shift, A)
    nnz = int(np.count_nonzero(wr))
    want = stats_from_augmented(A, w, wr, kind, 1.5, nnz)
    got = stats_from_shifted_rows(X, shift, w, wr, kind, 1.5, nnz)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * np.max(np.abs(b)))


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_float32_spherical_distances_keep_their_precision_far_from_the_origin(
        offset, monkeypatch):
    """Rows far from the origin (beside the spread) keep the shifted [|x|², x, 1]
    form in float32: the raw rows' product rounds relative to |x|, and would
    be several times less precise there."""
    from gaussmix import estep
    from gaussmix.estep import _soft_rows

    monkeypatch.setattr(estep, "_FUSED_DIAG_CELLS", 0)  # the GEMM forms, not one kernel
    model = MODELS["VII"]
    X64, params = _fitted("VII", np.float64, d=20, offset=offset)
    X = X64.astype(np.float32)
    shift = X.astype(np.float64).mean(axis=0)
    exact = rows_log_density(X.astype(np.float64), params=params, model=model, shift=shift)

    def error() -> float:
        estep._LAST.clear()
        got = _soft_rows(X, np.ones(X.shape[0]), params, model, shift, np.float32).lse
        return float(np.max(np.abs(got - exact)))

    assert (estep._quadratic(params, model, shift, np.float32).M is not None) == (offset == 0)
    chosen = error()
    assert chosen < 1e-5 * (1 + offset) * np.abs(exact).mean()
    monkeypatch.setattr(estep, "_RAW_OFFSET", np.inf if offset else 0.0)  # the other form
    other = error()
    if offset:
        assert other > 2 * chosen
    else:  # near the origin the raw rows are as precise
        assert chosen < 2 * other
    estep._LAST.clear()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", [False, True])
def test_augmented_rows(dtype, norm):
    """[x², x, 1], or [x², |x|², x, 1] (spherical), of the shifted rows."""
    rng = np.random.default_rng(9)
    X = (rng.normal(size=(7, 3)) + 5.0).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0).astype(dtype)
    A = np.full((7, 8 if norm else 7), np.nan, dtype=dtype)
    K.augmented_rows(X, shift, A)
    x = X.astype(np.float64) - shift
    norms = [np.sum(x * x, axis=1, keepdims=True)] if norm else []
    parts = [x * x, *norms, x, np.ones((7, 1))]
    np.testing.assert_allclose(A, np.hstack(parts), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_entries_below_the_cut_become_exact_zeros(dtype):
    """Entries cut by the exponential come out of the normalisation as exact zeros;
    entries just above the cut are kept."""
    cut = K.cutoff(dtype)
    L = np.array([[0.0, 0.0], [cut + 0.5, cut - 0.5], [-np.inf, -5.0]], dtype=dtype)
    m = np.empty(2)
    K.max_shifted(L, m)
    E = L.copy()
    K.exp_cut(E, np.empty(2, np.int32 if dtype == np.float32 else np.int64))
    assert E[1, 1] == 0.0 and E[2, 0] == 0.0 and E[1, 0] > 0.0
    tot, scale = np.empty(2), np.empty(2, dtype)
    nnz = K.normalise_columns(E, m, np.ones(2), tot, scale)
    assert E[1, 1] == 0.0 and E[2, 0] == 0.0 and nnz == 4
    np.testing.assert_allclose(E.sum(axis=0), 1.0, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_cut_is_within_two_ulp_of_exp(dtype):
    """Our vectorised exponential against the correctly rounded one, over the kept range,
    the cut's edge, NaN, -inf and (out of the E-step's range) positive entries."""
    rng = np.random.default_rng(10)
    cut = K.cutoff(dtype)
    above, under = np.nextafter(dtype(cut), dtype(0)), np.nextafter(dtype(cut), dtype(-np.inf))
    edges = [0.0, -0.0, cut, above, -1e-30, -np.log(2) / 2, 1.5, 40.0]
    x = np.concatenate([rng.uniform(cut, 0.0, 5000), rng.uniform(-1.0, 0.0, 1000),
                        edges]).astype(dtype)
    E = np.vstack([x, x[::-1]])  # two rows: the scratch is reused per row
    got = E.copy()
    K.exp_cut(got, np.empty(x.size, np.int32 if dtype == np.float32 else np.int64))
    ref = np.exp(E.astype(np.float64))
    ulps = np.abs(got - ref) / np.spacing(ref.astype(dtype)).astype(np.float64)
    assert ulps.max() <= 2.0, ulps.max()
    below = np.array([[under, cut - 1.0, -1e4, -np.inf, np.nan]], dtype)
    K.exp_cut(below, np.empty(5, np.int32 if dtype == np.float32 else np.int64))
    assert np.all(below[0, :4] == 0.0) and np.isnan(below[0, 4])




@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_small_full_kernels_match_numpy(dtype, d):
    """The fixed-width (2 or 4, zero-padded) loops for few features: Mahalanobis
    distances and centred scatters equal NumPy on 1,100 rows (three tiles, the
    last partial)."""
    from gaussmix.stats import _scatter_about_small

    rng = np.random.default_rng(d)
    n, k = 1100, 3
    X = (rng.normal(size=(n, d)) * [3.0, 0.5, 2.0, 1.0][:d] + 10.0).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0)
    P = np.triu(rng.normal(size=(k, d, d))) + 2.0 * np.eye(d)
    mu = rng.normal(size=(k, d)) + shift
    Mc = np.einsum("jb,jba->ja", mu - shift, P)
    out = np.empty((k, n))
    K.full_distances_small(X, shift, P, Mc, out)
    Y = np.einsum("ib,jba->jia", X.astype(np.float64) - shift, P) - Mc[:, None, :]
    np.testing.assert_allclose(out, np.sum(Y**2, axis=2), rtol=1e-12)

    wr = rng.uniform(size=(k, n)).astype(dtype)
    c = rng.normal(size=(k, d)).astype(dtype)
    Sc = np.empty((k, d, d))
    Xc = X - shift.astype(dtype)
    _scatter_about_small(Xc, wr, c, Sc)
    for j in range(k):
        D = Xc.astype(np.float64) - c[j].astype(np.float64)
        np.testing.assert_allclose(Sc[j], (D.T * wr[j].astype(np.float64)) @ D, rtol=1e-12)


@pytest.mark.parametrize(("dtype", "p"), [(np.float32, 129), (np.float32, 17), (np.float64, 129)])
def test_component_major_product_matches_numpy(dtype, p):
    """``W @ A.T`` into the (k, n) layout, whichever way round BLAS runs it
    (wide float32 products go through ``A @ W.T`` and a tiled transposition,
    including a last tile of fewer than 16 rows)."""
    from gaussmix.estep import _product_kn

    rng = np.random.default_rng(0)
    A = rng.normal(size=(1003, p)).astype(dtype)
    W = rng.normal(size=(7, p)).astype(dtype)
    got = _product_kn(A, W, dtype, False)
    assert got.shape == (7, 1003) and got.dtype == dtype and got.flags.c_contiguous
    ref = W.astype(np.float64) @ A.astype(np.float64).T
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


def _diag_case(n, d, k, dtype, seed, spherical):
    """Rows around k random means, diagonal (or spherical) parameters, weights with zeros."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(k, d))
    X = (means[rng.integers(k, size=n)] + rng.normal(size=(n, d)) + 50.0).astype(dtype)
    means = means + 50.0
    var = rng.uniform(0.3, 3.0, k if spherical else (k, d))
    model = get_model("spherical" if spherical else "diag")
    weights = rng.dirichlet(np.ones(k))
    params = GMMParams(weights, means, var, model.layout.precisions_cholesky(var))
    return X, _some_zero_weights(rng, n), params, model


def _exact_stats(X, w, params, model, shift):
    Xc = X.astype(np.float64) - shift
    wlp = (model.layout.log_gaussian_kn(Xc, params.means - shift, params.precisions_cholesky)
           + np.log(params.weights)[:, None])
    lse = logsumexp(wlp, axis=0)
    return compute_stats_kn(Xc, w, np.exp(wlp - lse), model.stats_kind, float(w @ lse))


def _check_one_kernel_estep(X, w, params, model, dtype, limit, monkeypatch):
    """The one-kernel E-step and, with ``limit`` set to 0, the other path both equal
    float64 NumPy's statistics to the dtype's rounding."""
    from gaussmix import estep

    shift = X.astype(np.float64).mean(axis=0)
    estep._LAST.clear()
    assert estep._quadratic(params, model, shift, dtype).cd is not None
    fused = estep_soft(X, w, params, model, shift)
    monkeypatch.setattr(estep, limit, 0)
    estep._LAST.clear()
    assert estep._quadratic(params, model, shift, dtype).cd is None
    other = estep_soft(X, w, params, model, shift)
    exact = _exact_stats(X, w, params, model, shift)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    for got in (fused, other):
        for a, b in zip(got, exact, strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))
    estep._LAST.clear()


def _some_zero_weights(rng, n):
    """Weights in [0, 2), a fifth of them exactly 0."""
    w = rng.uniform(0.0, 2.0, n)
    w[rng.uniform(size=n) < 0.2] = 0.0
    return w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("n", [2, 511, 512, 1300])  # short tiles, one full, several
def test_one_kernel_diag_estep_equals_the_gemm_path_and_the_exact_stats(
        dtype, spherical, n, monkeypatch):
    """diag_soft_small (every tile full width, a short last one padded with zero
    weights) == the [x², x, 1] GEMM path == float64 NumPy, to the dtype's rounding."""
    X, w, params, model = _diag_case(n, 3, 4, dtype, 3, spherical)
    _check_one_kernel_estep(X, w, params, model, dtype, "_FUSED_DIAG_CELLS", monkeypatch)


def test_one_kernel_diag_estep_column_of_minus_infinity_is_uniform():
    """A row whose every component is at -inf (a zero weight, and float32 distances
    that overflow) gets uniform responsibilities and an objective at the cutoff,
    like normalise_columns; the other rows are untouched."""
    X = np.array([[0.0, 0.0], [1e30, -1e30], [1.0, 0.5]], dtype=np.float32)
    Mc = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    H = np.full((2, 2), 0.5, dtype=np.float32)
    c = np.array([-1.0, -2.0], dtype=np.float32)
    w = np.array([1.0, 2.0, 0.0])
    tot, m, G = np.empty(3), np.empty(3), np.zeros((2, 5))
    K.diag_soft_small(X, w, np.zeros(2, np.float32), Mc, H, c, np.empty(0, np.int32), tot, m, G)
    assert tot[1] == 2.0 and m[1] == K.CUTOFF  # uniform, log-sum-exp at the cutoff
    lp0 = np.array([-1.0, -2.0 - 1.0])  # row 0: c - Σ H (x - μ)²
    np.testing.assert_allclose(tot[0], np.exp(lp0 - lp0.max()).sum(), rtol=1e-6)
    assert m[0] == -1.0
    # row 1 (weight 2) adds 1 to each count; row 2 has zero weight
    r0 = np.exp(lp0 - lp0.max()) / np.exp(lp0 - lp0.max()).sum()
    np.testing.assert_allclose(G[:, -1], r0 + 1.0, rtol=1e-6)


@pytest.mark.parametrize("gap, zero", [(60.0, False), (75.0, True), (95.0, True)])
def test_one_kernel_float32_moments_cut(gap, zero):
    """float32 responsibilities below 2^-100 of their row's best become exactly 0 (their
    products would be subnormal); those above stay."""
    X = np.zeros((1, 1), dtype=np.float32)
    Mc = np.zeros((2, 1), dtype=np.float32)
    H = np.ones((2, 1), dtype=np.float32)
    c = np.array([0.0, -gap], dtype=np.float32)
    tot, m, G = np.empty(1), np.empty(1), np.zeros((2, 3))
    K.diag_soft_small(X, np.ones(1), np.zeros(1, np.float32), Mc, H, c, np.empty(0, np.int32),
                      tot, m, G)
    assert (G[1, -1] == 0.0) == zero
    if not zero:
        np.testing.assert_allclose(G[1, -1], np.exp(-gap), rtol=1e-5)


def _full_case(n, d, k, dtype, seed, tied, offset=0.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(k, d)) + offset
    Q = rng.normal(size=(1 if tied else k, d, d))
    cov = Q @ Q.swapaxes(1, 2) / d + 0.3 * np.eye(d)
    comp = rng.integers(k, size=n)
    L = np.swapaxes(np.linalg.cholesky(cov[0 if tied else comp]), -1, -2)
    X = means[comp] + np.matmul(rng.normal(size=(n, 1, d)), L)[:, 0, :]
    model = get_model("tied" if tied else "full")
    cov = cov[0] if tied else cov
    params = GMMParams(rng.dirichlet(np.ones(k)), means, cov, model.layout.precisions_cholesky(cov))
    return X.astype(dtype), _some_zero_weights(rng, n), params, model


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("n, d", [(1, 2), (511, 1), (512, 3), (1300, 4), (1300, 2)])
def test_one_kernel_full_estep_equals_the_other_path_and_the_exact_stats(
        dtype, tied, n, d, monkeypatch):
    """full_soft_small (float64 moments of the shifted rows) == the tiled distances +
    NumPy statistics path == float64 NumPy."""
    X, w, params, model = _full_case(n, d, 3, dtype, 8, tied)
    _check_one_kernel_estep(X, w, params, model, dtype, "_FUSED_FULL_FEATURES", monkeypatch)


# (tied statistics pool Σ w x xᵀ over all rows: the shared scatter is that less
# the between-component part, a cancellation no summation order avoids)
@pytest.mark.parametrize("layout", ["full", "diag", "spherical"])
def test_one_kernel_estep_keeps_a_far_components_scatter_in_float32(layout):
    """Two components ~1,400 apart, each ~700 from the shift, scatter ~1, float32
    rows: their covariances from the kernels' statistics match float64's to float32
    rounding (moments of rows about the shift summed in float32 would lose ~6 digits
    to the cancellation in S - n m mᵀ: the full kernel sums in float64, the diag one
    about each component's mean)."""
    from gaussmix import estep

    if layout == "full":
        X, w, params, model = _full_case(4000, 2, 2, np.float64, 9, False)
    else:
        X, w, params, model = _diag_case(4000, 2, 2, np.float64, 9, layout == "spherical")
    far = np.argmax(params.means[:, 0])
    near_rows = np.linalg.norm(X[:, None, :] - params.means[None], axis=2).argmin(axis=1) == far
    X[near_rows] += 1000.0
    params = params._replace(means=params.means + 1000.0 * (np.arange(2) == far)[:, None])
    shift = X.mean(axis=0)
    assert estep._quadratic(params, model, shift, np.float32).cd is not None
    covs = []
    for dtype in (np.float64, np.float32):
        estep._LAST.clear()
        s = estep_soft(X.astype(dtype), w, params, model, shift)
        m = s.sk / s.nk[:, None]
        if model.stats_kind == "diag":
            covs.append(s.Sk / s.nk[:, None] - m * m)
        else:
            covs.append(s.Sk / s.nk[:, None, None] - m[:, :, None] * m[:, None, :])
    estep._LAST.clear()
    assert np.abs(covs[0]).max() < 100.0  # the scatter, not the offset
    np.testing.assert_allclose(covs[1], covs[0], rtol=1e-4, atol=1e-4 * np.abs(covs[0]).max())
