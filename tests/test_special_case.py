"""k-means is a GMM with EII, equal weights and hard responsibilities."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, KMeans, load_faithful, make_elongated
from gaussmix.covariance import MODELS, FixedSphericalVariance
from gaussmix.limits import vanishing_variance

from .conftest import blobs
from .test_em import fit_exact_em


def _separated(seed, n, d, k):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(k, d))
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)
    X = centers[labels] + rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=(k, 1))[labels]
    # start from one random row of each true cluster, so no cluster starts empty
    start = np.array([X[rng.choice(np.flatnonzero(labels == j))] for j in range(k)])
    return X, start


def _hard_eii(c0, X, iters, w=None):
    k = c0.shape[0]
    gm = GaussianMixture(k, covariance_type="EII", assignment="hard", equal_weights=True,
                         means_init=c0, weights_init=np.full(k, 1 / k),
                         precisions_init=np.ones(k), tol=0.0, max_iter=iters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, sample_weight=w)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(30, 200),
    d=st.integers(1, 5),
    k=st.integers(2, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    weighted=st.booleans(),
)
def test_hard_eii_equal_weights_is_lloyd_iteration_by_iteration(seed, n, d, k, dtype, weighted):
    X, c0 = _separated(seed, n, d, k)
    X = X.astype(dtype)
    w = np.random.default_rng(seed).integers(1, 4, n) if weighted else None
    for it in range(1, 6):
        gm = _hard_eii(c0, X, it, w)
        km = KMeans(k, init=c0, max_iter=it, tol=0.0).fit(X, sample_weight=w)
        sk = SkKMeans(k, init=c0, n_init=1, max_iter=it, tol=0.0, algorithm="lloyd").fit(
            X, sample_weight=w)
        # the same engine, the same arithmetic: exactly equal
        np.testing.assert_allclose(gm.means_, km.cluster_centers_, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(gm.predict(X), km.labels_)
        np.testing.assert_allclose(gm.weights_, 1 / k)
        np.testing.assert_array_equal(km.labels_, sk.labels_)
        tol = 1e-10 if dtype == np.float64 else 1e-4  # scikit-learn computes in float32
        np.testing.assert_allclose(km.cluster_centers_, sk.cluster_centers_, rtol=tol, atol=tol)
    if weighted:
        rep = _hard_eii(c0, np.repeat(X, w, axis=0), 5)
        np.testing.assert_allclose(rep.means_, gm.means_, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), code=st.sampled_from(sorted(MODELS)),
       k=st.integers(1, 4), weighted=st.booleans())
def test_cem_never_decreases_classification_likelihood(seed, code, k, weighted):
    X = blobs(150, 3, 3, seed=seed % 1000)
    w = np.random.default_rng(seed).uniform(0.2, 2.0, X.shape[0]) if weighted else None
    gm = fit_exact_em(X, w, k, code, seed, assignment="hard")
    lb = np.array(gm.lower_bounds_)
    assert np.all(np.isfinite(lb))
    assert np.all(np.diff(lb) >= -1e-10 * (1 + np.abs(lb[1:])))


def test_cem_and_soft_em_are_different_algorithms():
    # overlapping elongated clusters: CEM's hard partition biases the
    # covariances, soft EM keeps the overlap and reaches a higher likelihood
    rng = np.random.default_rng(1)
    A = np.array([[3.0, 0.0], [2.5, 0.6]])
    X = np.vstack([rng.normal(size=(300, 2)) @ A, rng.normal(size=(200, 2)) @ A + [0.5, 1.2]])
    labels0 = (X[:, 1] > np.median(X[:, 1])).astype(int)
    soft = GaussianMixture(2, resp_init=labels0, tol=1e-8, max_iter=500).fit(X)
    hard = GaussianMixture(2, resp_init=labels0, assignment="hard", tol=1e-8,
                           max_iter=500).fit(X)
    assert np.max(np.abs(soft.means_ - hard.means_)) > 0.5
    assert np.max(np.abs(soft.covariances_ - hard.covariances_)) > 1.0
    assert soft.score(X) > hard.score(X) + 0.01
    # hard EM's objective is the classification likelihood, below the observed one
    assert hard.lower_bound_ < hard.score(X)


def test_equal_weights_are_held_and_counted():
    X, _ = make_elongated(300)
    free = GaussianMixture(3, random_state=0).fit(X)
    held = GaussianMixture(3, equal_weights=True, random_state=0).fit(X)
    np.testing.assert_array_equal(held.weights_, np.full(3, 1 / 3))
    assert held._n_parameters() == free._n_parameters() - 2
    assert not np.allclose(free.weights_, 1 / 3)


def test_vanishing_variance_limit_is_kmeans():
    X = load_faithful()[0]
    X = (X - X.mean(0)) / X.std(0)
    steps = vanishing_variance(X, 2, [1.0, 0.1, 0.01, 0.001])
    gaps = [s.max_gap for s in steps]
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-6
    shifts = [s.max_shift for s in steps]
    assert shifts[0] > 0.1 and shifts[-1] < 1e-9
    # at the smallest variance soft EM is k-means: same partition as Lloyd
    km = KMeans(2, n_init=5, random_state=0).fit(X)
    s2 = 0.001
    gm = GaussianMixture(2, covariance_type=FixedSphericalVariance(s2), equal_weights=True,
                         reg_covar=0.0, means_init=km.cluster_centers_,
                         weights_init=[0.5, 0.5], precisions_init=np.full(2, 1 / s2)).fit(X)
    np.testing.assert_array_equal(gm.predict(X), km.labels_)
    assert gm._n_parameters() == 2 * 2  # the means are all that is estimated


def test_example_script_prints_the_limit():
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "examples" / "vanishing_variance.py")],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = [ln.split() for ln in proc.stdout.splitlines()[2:]]
    assert [float(r[0]) for r in lines] == [1.0, 0.1, 0.01, 0.001]
    assert float(lines[-1][1]) < 1e-6


def test_fixed_variance_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        FixedSphericalVariance(0.0)
