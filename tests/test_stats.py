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
