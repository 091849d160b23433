"""Bad input gets a clear error naming the problem."""

import numpy as np
import pytest
import scipy.sparse as sp

from gaussmix import GaussianMixture, KMeans


def _est(kind):
    return GaussianMixture(2, random_state=0) if kind == "gmm" else KMeans(2, random_state=0)


X = np.random.default_rng(0).normal(size=(30, 3))


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@pytest.mark.parametrize("value,word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_non_finite_named_with_location(kind, value, word):
    Xb = X.copy()
    Xb[7, 2] = value
    with pytest.raises(ValueError, match=rf"{word} \(first at row 7, column 2"):
        _est(kind).fit(Xb)


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_wrong_dimensions(kind):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D"):
        _est(kind).fit(X[:, 0])
    with pytest.raises(ValueError, match="dim 3"):
        _est(kind).fit(X[None])


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_fewer_samples_than_components(kind):
    est = GaussianMixture(5) if kind == "gmm" else KMeans(5)
    with pytest.raises(ValueError, match="n_samples >= n_(components|clusters).*n_samples = 3"):
        est.fit(X[:3])


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_wrong_feature_count_at_predict(kind):
    est = _est(kind).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3 features"):
        est.predict(X[:, :2])


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@pytest.mark.parametrize(
    "bad,msg",
    [
        (-1.0, "non-negative; got -1.0 at index 4"),
        (np.nan, "sample_weight contains NaN or inf \\(first at index 4\\)"),
    ],
)
def test_bad_sample_weights(kind, bad, msg):
    w = np.ones(X.shape[0])
    w[4] = bad
    with pytest.raises(ValueError, match=msg):
        _est(kind).fit(X, sample_weight=w)


def test_zero_total_weight():
    with pytest.raises(ValueError, match="non-zero|sums to zero"):
        GaussianMixture(2).fit(X, sample_weight=np.zeros(X.shape[0]))


def test_sparse_is_a_clear_type_error():
    with pytest.raises(TypeError, match="dense"):
        GaussianMixture(2).fit(sp.csr_matrix(X))


@pytest.mark.parametrize(
    "params,msg",
    [
        (dict(covariance_type="bogus"), "covariance_type"),
        (dict(means_init=np.zeros((3, 3))), r"means_init must have shape \(2, 3\)"),
        (dict(weights_init=[0.2, 0.2]), "weights_init must be non-negative and sum to 1"),
        (dict(precisions_init=-np.ones((2, 3, 3))), "not positive definite"),
        (dict(resp_init=np.zeros(5, int)), "resp_init labels must have length"),
        (dict(resp_init=np.full(30, 2)), r"resp_init labels must lie in \[0, 2\)"),
        (dict(chunk_size=0), "chunk_size"),
    ],
)
def test_bad_parameters(params, msg):
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2, **params).fit(X)


def test_zero_components():
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0).fit(X)


def test_singular_covariance_names_the_component():
    # two well separated points per component: with reg_covar=0 a full
    # covariance of 3-D data from 2 points is singular
    Xs = np.vstack([np.zeros((2, 3)), np.ones((2, 3)) * 10])
    Xs[1] += 0.1
    Xs[3] += 0.1
    with pytest.raises(ValueError, match="component [01] is singular"):
        GaussianMixture(2, reg_covar=0.0, resp_init=np.array([0, 0, 1, 1])).fit(Xs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_range_matches_numpy_and_flags_nonfinite(dtype, order):
    from gaussmix._validation import _column_range

    # 37 rows: with 5 columns, 819 rows go side by side, so all rows are the
    # remainder; 2,000 rows have 2 groups and a remainder of 362
    for n in (37, 2000):
        X = np.asarray(np.random.default_rng(n).normal(size=(n, 5)), dtype=dtype, order=order)
        lo, hi = _column_range(X)
        assert lo.dtype == hi.dtype == np.float64
        np.testing.assert_array_equal(lo, X.min(axis=0))
        np.testing.assert_array_equal(hi, X.max(axis=0))
        assert np.isfinite(lo).all() and np.isfinite(hi).all()
        X[3, 1], X[n - 7, 4], X[n // 2, 2] = np.nan, -np.inf, np.inf
        lo, hi = _column_range(X)
        np.testing.assert_array_equal(~(np.isfinite(lo) & np.isfinite(hi)),
                                      [False, True, True, False, True])
        assert np.isnan(lo[1]) and np.isnan(hi[1])


def test_distinct_rows_counts_rows_not_projections():
    """The fast path (distinct projections) must not hide duplicates, nor invent rows."""
    from gaussmix._validation import _probe_direction, check_distinct_rows

    one = np.ones(3)
    # distinct rows whose projections on the fast path's direction tie
    a, b = _probe_direction(2)
    X = np.array([[b, 0.0], [0.0, a]])
    assert np.unique(X @ _probe_direction(2)).size == 1
    check_distinct_rows(X, np.ones(2), 2)
    # duplicates, -0.0 == 0.0, and zero-weight rows do not count
    X = np.array([[0.0, 1.0], [-0.0, 1.0], [0.0, 1.0], [3.0, 3.0], [5.0, 5.0]])
    w = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    check_distinct_rows(X, w, 2)
    with pytest.raises(ValueError, match="only 2 distinct row"):
        check_distinct_rows(X, w, 3)
    # past the first block: the exact scan continues
    big = np.vstack([np.zeros((5000, 3)), one[None], 2 * one[None]])
    check_distinct_rows(big, np.ones(big.shape[0]), 3)
    with pytest.raises(ValueError, match="only 3 distinct row"):
        check_distinct_rows(big, np.ones(big.shape[0]), 4)


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_column_range_by_threads_matches_numpy_and_flags_nonfinite(monkeypatch, n_jobs):
    """Past the size limit the rows are split over the threads: the same ranges, NaN kept."""
    import gaussmix._validation as v
    from gaussmix.execution import parallel

    monkeypatch.setattr(v, "_PARALLEL_RANGE_BYTES", 0)
    calls = []
    original = v._rows_range
    monkeypatch.setattr(v, "_rows_range", lambda X: calls.append(X.shape[0]) or original(X))
    X = np.random.default_rng(0).normal(size=(3001, 5))
    X[2990, 3] = np.nan  # in the last part only
    with parallel(n_jobs):
        lo, hi = v._column_range(X)
    assert sorted(calls) == sorted(np.diff(np.linspace(0, 3001, n_jobs + 1).astype(int)))
    np.testing.assert_array_equal(np.delete(lo, 3), np.delete(X.min(axis=0), 3))
    np.testing.assert_array_equal(np.delete(hi, 3), np.delete(X.max(axis=0), 3))
    assert np.isnan(lo[3]) and np.isnan(hi[3])
    with pytest.raises(ValueError, match=r"NaN \(first at row 2990, column 3"):
        GaussianMixture(2, n_jobs=n_jobs).fit(X)


def test_column_range_by_threads_with_fewer_rows_than_threads(monkeypatch):
    """Wide data with fewer rows than threads: no empty part (it has no minimum)."""
    import gaussmix._validation as v
    from gaussmix.execution import parallel

    monkeypatch.setattr(v, "_PARALLEL_RANGE_BYTES", 0)
    X = np.random.default_rng(1).normal(size=(3, 50))
    with parallel(4):
        lo, hi = v._column_range(X)
    np.testing.assert_array_equal(lo, X.min(axis=0))
    np.testing.assert_array_equal(hi, X.max(axis=0))
    GaussianMixture(1, covariance_type="spherical", n_jobs=4).fit(X)  # through check_X
