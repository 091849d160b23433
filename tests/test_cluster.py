"""KMeans against scikit-learn's Lloyd from the same initial centres."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from gaussmix import KMeans

from .conftest import DATASETS, blobs


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_same_as_sklearn_lloyd(name, k, weighted):
    X = DATASETS[name]()
    rng = np.random.default_rng(k)
    c0 = X[rng.choice(X.shape[0], k, replace=False)]
    w = rng.integers(1, 4, X.shape[0]).astype(float) if weighted else None
    ref = SkKMeans(k, init=c0, n_init=1, algorithm="lloyd").fit(X, sample_weight=w)
    got = KMeans(k, init=c0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    np.testing.assert_allclose(got.transform(X), ref.transform(X), rtol=1e-9, atol=1e-9)
    assert got.score(X) == pytest.approx(ref.score(X), rel=1e-10)


def test_integer_weights_equal_repeated_rows():
    X = blobs(150, 3, 4, seed=5)
    counts = np.random.default_rng(1).integers(0, 4, X.shape[0])
    c0 = X[counts > 0][:4]
    a = KMeans(4, init=c0).fit(X, sample_weight=counts)
    b = KMeans(4, init=c0).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    np.testing.assert_array_equal(a.labels_[counts > 0].repeat(counts[counts > 0]), b.labels_)


def test_empty_cluster_is_reseeded_not_nan():
    X = np.vstack([np.zeros((10, 2)), np.ones((10, 2)) * 5])
    # the third centre is far from everything and captures nothing
    c0 = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    km = KMeans(3, init=c0).fit(X + np.random.default_rng(0).normal(0, 0.1, X.shape))
    assert np.all(np.isfinite(km.cluster_centers_))
    assert len(np.unique(km.labels_)) == 3


def test_chunking_and_reproducibility():
    X = blobs(500, 4, 5, seed=9)
    a = KMeans(5, random_state=3, n_init=3, chunk_size=13).fit(X)
    b = KMeans(5, random_state=3, n_init=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    np.testing.assert_array_equal(a.fit_predict(X), a.labels_)


def test_kmeans_plus_plus_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], float)
    X = np.vstack([c + rng.normal(size=(50, 2)) for c in centers])
    km = KMeans(4, random_state=0).fit(X)
    # each true centre has exactly one found centre within 0.5
    dist = np.linalg.norm(km.cluster_centers_[:, None] - centers[None], axis=-1)
    assert np.all(np.sort(dist.min(axis=0)) < 0.5)
    assert len(set(dist.argmin(axis=0))) == 4


def test_to_gmm_is_the_equivalent_mixture():
    X = blobs(300, 3, 3, seed=11)
    km = KMeans(3, random_state=0).fit(X)
    g = km.to_gmm()
    assert g.covariance_model_ == "EII" and g.equal_weights
    n, d = X.shape
    # the shared ML variance reproduces the inertia
    assert g.covariances_[0] * n * d == pytest.approx(km.inertia_, rel=1e-12)
    np.testing.assert_array_equal(g.predict(X), km.labels_)
    np.testing.assert_allclose(g.weights_, 1 / 3)
    assert g._n_parameters() == 1 + 3 * 3
    # log-likelihood of the equivalent model, by hand
    var = km.inertia_ / (n * d)
    d2 = ((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    logp = np.log(np.exp(-0.5 * d2 / var).sum(1) / 3) - 0.5 * d * np.log(2 * np.pi * var)
    assert g.score(X) == pytest.approx(logp.mean(), rel=1e-10)
