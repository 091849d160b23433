"""EM invariants, as properties over random data, weights and models."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.collapse import CollapseError
from gaussmix.covariance import MODELS, SingularCovarianceError

from .conftest import blobs

CODES = sorted(MODELS)


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(20, 120))
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, 4))
    code = draw(st.sampled_from(CODES))
    weighted = draw(st.booleans())
    rng = np.random.default_rng(seed)
    X = blobs(n, d, max(k, 1), seed=seed) if n >= 5 * k else rng.normal(size=(n, d))
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    return X, w, k, code, seed


SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def fit_exact_em(X, w, k, code, seed, **kw):
    """EM with exact M-steps (reg_covar=0); a degenerate draw is rejected.

    reg_covar > 0 makes the M-step no longer a maximiser, so monotonicity is
    only guaranteed without it (with it, a component on d points or fewer can
    lose likelihood at every step: hypothesis found such a case). Without it,
    a component can collapse onto one point (variance -> 0, likelihood -> inf);
    its one-pass second moments then cancel catastrophically, so such draws
    (collapse is the subject of its own tests) are rejected too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(k, covariance_type=code, tol=0.0, max_iter=30,
                                 random_state=seed, reg_covar=0.0, on_collapse="raise",
                                 **kw).fit(X, sample_weight=w)
    except (SingularCovarianceError, CollapseError):
        assume(False)
    layout = MODELS[code].layout
    covs = layout.full(gm.covariances_, k, X.shape[1])
    assume(np.linalg.eigvalsh(covs).min() > 1e-8 * X.var(axis=0).min())
    return gm


@SETTINGS
@given(problems())
def test_log_likelihood_never_decreases(problem):
    X, w, k, code, seed = problem
    gm = fit_exact_em(X, w, k, code, seed)
    lb = np.array(gm.lower_bounds_)
    assert np.all(np.isfinite(lb))
    # round-off slack only
    assert np.all(np.diff(lb) >= -1e-10 * (1 + np.abs(lb[1:])))


@SETTINGS
@given(problems())
def test_responsibilities_are_probabilities(problem):
    X, w, k, code, seed = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(k, covariance_type=code, max_iter=10,
                             random_state=seed).fit(X, sample_weight=w)
    p = gm.predict_proba(X)
    # A collapsed component may have been dropped (on_collapse="reseed" falls back to it).
    assert p.shape == (X.shape[0], gm.n_components_) and gm.n_components_ <= k
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(gm.predict(X), p.argmax(axis=1))
    assert gm.weights_.sum() == pytest.approx(1.0)


@SETTINGS
@given(problems(), st.randoms(use_true_random=False))
def test_row_order_changes_nothing(problem, rnd):
    X, w, k, code, seed = problem
    perm = np.array(rnd.sample(range(X.shape[0]), X.shape[0]))
    # Plain EM: a collapsing component (handled, order-dependently, by
    # re-seeding at the worst-explained row) is the subject of test_collapse.py.
    kw = dict(covariance_type=code, on_collapse="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = GaussianMixture(k, max_iter=1, random_state=seed, **kw)
            start.fit(X, sample_weight=w)
            init = dict(weights_init=start.weights_, means_init=start.means_,
                        precisions_init=start.precisions_)
            a = GaussianMixture(k, max_iter=20, **init, **kw).fit(X, sample_weight=w)
            b = GaussianMixture(k, max_iter=20, **init, **kw).fit(
                X[perm], sample_weight=None if w is None else w[perm])
    except (SingularCovarianceError, CollapseError):
        assume(False)
    assert a.n_iter_ == b.n_iter_
    # Round-off of a different summation order grows over 20 iterations, most
    # in the eigen-decompositions of the orientation models: 1e-6 relative.
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("code", CODES)
def test_integer_weights_equal_repeated_rows(code):
    X = blobs(120, 3, 3, seed=7)
    counts = np.random.default_rng(0).integers(0, 4, X.shape[0])
    start = GaussianMixture(3, covariance_type=code, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_, tol=1e-8, max_iter=200)
    a = GaussianMixture(3, covariance_type=code, **init).fit(X, sample_weight=counts)
    b = GaussianMixture(3, covariance_type=code, **init).fit(np.repeat(X, counts, axis=0))
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-9)


def test_weighted_kmeans_init_honours_weights():
    # Zero weight on a far-away block: it must not attract a component.
    X = np.vstack([blobs(200, 2, 2, seed=1), np.full((30, 2), 1e3)])
    w = np.r_[np.ones(200), np.zeros(30)]
    gm = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    assert np.all(np.abs(gm.means_) < 100)


def test_resp_init_labels_and_matrix_agree(faithful):
    labels = (faithful[:, 0] > 3).astype(int)
    a = GaussianMixture(2, resp_init=labels).fit(faithful)
    b = GaussianMixture(2, resp_init=np.eye(2)[labels]).fit(faithful)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert a.n_iter_ == b.n_iter_


def test_reproducible_from_random_state_and_fit_predict(faithful):
    for init in ["kmeans", "k-means++", "random", "random_from_data"]:
        a = GaussianMixture(3, init_params=init, random_state=5, max_iter=300).fit(faithful)
        b = GaussianMixture(3, init_params=init, random_state=5, max_iter=300)
        labels = b.fit_predict(faithful)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(labels, a.predict(faithful))


def test_warm_start_continues(faithful):
    gm = GaussianMixture(2, warm_start=True, max_iter=2, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(faithful)
        first = gm.lower_bound_
        gm.fit(faithful)
    assert gm.lower_bound_ >= first


def test_non_convergence_warns(faithful):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, tol=0.0, random_state=0).fit(faithful)


def test_n_init_keeps_the_best(faithful):
    singles = [GaussianMixture(4, init_params="random", random_state=s, max_iter=300)
               for s in range(3)]
    best = GaussianMixture(4, init_params="random", n_init=3, random_state=0, max_iter=300)
    best.fit(faithful)
    # the first restart of the n_init run uses the same stream as seed 0 alone
    assert best.lower_bound_ >= singles[0].fit(faithful).lower_bound_ - 1e-12


def test_sample_shapes_and_statistics():
    X = blobs(400, 2, 2, seed=2)
    gm = GaussianMixture(2, random_state=0).fit(X)
    S, y = gm.sample(20000)
    assert S.shape == (20000, 2) and y.shape == (20000,)
    for j in range(2):
        np.testing.assert_allclose(S[y == j].mean(0), gm.means_[j], atol=0.1)
        np.testing.assert_allclose(np.cov(S[y == j].T), gm.covariances_[j], rtol=0.1, atol=0.05)
    np.testing.assert_allclose(np.bincount(y) / 20000, gm.weights_, atol=0.02)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)
