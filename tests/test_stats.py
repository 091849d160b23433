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
def test_symmetric_second_moments_match_gemm(dtype, n):
    # The syrk path (Z Zᵀ with Z scaled by sqrt of the weights) against the
    # plain weighted GEMM, with some zero weights and a zero row.
    from gaussmix.stats import _second_full, _second_pooled

    rng = np.random.default_rng(n)
    k, d = 4, 6
    Xc = rng.normal(size=(n, d)).astype(dtype)
    Xc[0] = 0.0
    w = rng.uniform(0.0, 2.0, n).astype(dtype)
    w[n // 2] = 0.0
    wr = (rng.dirichlet(np.ones(k), n).T * w).astype(dtype)
    wr[1, : n // 3 + 1] = 0.0
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    full = _second_full(Xc, w, wr)
    assert full.dtype == dtype
    expected = np.stack([(Xc.T * wr[j]) @ Xc for j in range(k)])
    np.testing.assert_allclose(full, expected, **tol)
    np.testing.assert_array_equal(full, np.swapaxes(full, 1, 2))  # both triangles filled
    pooled = _second_pooled(Xc, w, wr)
    np.testing.assert_allclose(pooled, (Xc.T * w) @ Xc, **tol)
    np.testing.assert_array_equal(pooled, pooled.T)


def test_second_moments_with_negative_weights_fall_back_to_gemm():
    from gaussmix.stats import _second_full, _second_pooled

    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(20, 3))
    w = rng.normal(size=20)
    wr = rng.normal(size=(2, 20))
    np.testing.assert_allclose(_second_full(Xc, w, wr),
                               np.stack([(Xc.T * r) @ Xc for r in wr]), rtol=1e-12)
    np.testing.assert_allclose(_second_pooled(Xc, w, wr), (Xc.T * w) @ Xc, rtol=1e-12)
