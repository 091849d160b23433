"""Online fitting: stepwise EM (``partial_fit``) and ``MiniBatchKMeans``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix import GaussianMixture, KMeans, MiniBatchKMeans
from gaussmix.estep import estep_soft
from gaussmix.online import blend, step_size

MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
COVS = np.array([
    [[1.0, 0.5], [0.5, 1.0]],
    [[0.5, 0.0], [0.0, 2.0]],
    [[1.5, -0.7], [-0.7, 1.0]],
    [[0.3, 0.0], [0.0, 0.3]],
])


def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    z = rng.choice(4, size=n, p=WEIGHTS)
    L = np.linalg.cholesky(COVS)
    return MEANS[z] + np.einsum("nij,nj->ni", L[z], rng.normal(size=(n, 2)))


def matched_error(est: np.ndarray, true: np.ndarray) -> float:
    cost = np.linalg.norm(est[:, None, :] - true[None, :, :], axis=2)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


def test_stepwise_em_recovers_the_mixture_from_100_batches():
    rng = np.random.default_rng(0)
    gm = GaussianMixture(4, random_state=0)
    for _ in range(100):
        gm.partial_fit(draw(rng, 500))
    # Stated tolerance: every mean within 0.15 of the truth (sd ~1, 50,000 rows seen).
    assert matched_error(gm.means_, MEANS) < 0.15
    assert gm.n_iter_ == 100
    test = draw(np.random.default_rng(1), 20_000)
    batch = GaussianMixture(4, random_state=0, n_init=2, tol=1e-8).fit(draw(rng, 50_000))
    # Its held-out log-likelihood approaches the batch fit's: within 0.01 nats per row.
    assert gm.score(test) == pytest.approx(batch.score(test), abs=0.01)
    assert gm.score(test) <= batch.score(test) + 0.005
    assert np.abs(np.sort(gm.weights_) - np.sort(WEIGHTS)).max() < 0.03


def test_online_likelihood_improves_along_the_stream():
    rng = np.random.default_rng(2)
    test = draw(np.random.default_rng(3), 10_000)
    gm = GaussianMixture(4, random_state=0, init_params="random_from_data")
    scores = []
    for i in range(60):
        gm.partial_fit(draw(rng, 300))
        if i in (0, 59):
            scores.append(gm.score(test))
    assert scores[1] > scores[0]


def test_first_step_is_one_em_step_on_the_batch():
    X = draw(np.random.default_rng(4), 400)
    kw = dict(random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(4, max_iter=1, **kw).fit(X)
    got = GaussianMixture(4, **kw).partial_fit(X)
    # Equal up to round-off of the normalisation by the batch weight.
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-11, atol=1e-12)
    assert got.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)


def test_second_step_blends_statistics_with_the_schedule():
    rng = np.random.default_rng(5)
    A, B = draw(rng, 300), draw(rng, 200)
    gm = GaussianMixture(4, random_state=0, learning_decay=0.7, learning_offset=3.0)
    gm.partial_fit(A)
    state0, params0 = gm._online_state, gm._get_params()
    gm.partial_fit(B)
    model = gm._fitted_model()
    sb = estep_soft(B, np.ones(len(B)), params0, model, state0.shift)
    sb = sb._replace(nk=sb.nk / 200, sk=sb.sk / 200, Sk=sb.Sk / 200, objective=sb.objective / 200)
    eta = (1 + 3.0) ** -0.7
    want = blend(state0.stats, sb, eta)
    means = want.sk / want.nk[:, None] + state0.shift
    np.testing.assert_allclose(gm.means_, means, rtol=1e-10)
    np.testing.assert_allclose(gm.weights_, want.nk / want.nk.sum(), rtol=1e-10)


def test_step_size_schedule():
    assert step_size(0, 0.6, 2.0) == 1.0
    etas = [step_size(t, 0.6, 2.0) for t in range(1, 200)]
    assert etas[0] == pytest.approx(3.0 ** -0.6)
    assert all(a > b for a, b in zip(etas, etas[1:], strict=False))
    with pytest.raises(ValueError):
        GaussianMixture(2, learning_decay=0.5).partial_fit(np.zeros((4, 2)))  # needs (0.5, 1]


def test_partial_fit_after_fit_and_feature_check():
    X = draw(np.random.default_rng(6), 600)
    gm = GaussianMixture(4, random_state=0).fit(X)
    before = gm.score(X)
    gm.partial_fit(X[:300])
    assert gm.score(X) == pytest.approx(before, abs=0.02)
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(4).partial_fit(X[:3])


@pytest.mark.parametrize("assignment", ["soft", "hard"])
def test_partial_fit_weights_equal_repeats(assignment):
    rng = np.random.default_rng(7)
    A, B = draw(rng, 200), draw(rng, 100)
    wA = rng.integers(1, 4, size=200)
    a = GaussianMixture(4, random_state=0, assignment=assignment,
                        means_init=MEANS, weights_init=WEIGHTS,
                        precisions_init=np.linalg.inv(COVS))
    b = GaussianMixture(**a.get_params())
    a.partial_fit(A, sample_weight=wA).partial_fit(B)
    b.partial_fit(np.repeat(A, wA, axis=0)).partial_fit(B)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)


# ----------------------------------------------------------------- MiniBatchKMeans
def w4_like(n: int, d: int = 8, k: int = 8, seed: int = 0) -> np.ndarray:
    """Rotated anisotropic Gaussians with unequal weights, as the benchmarks' W4 (d=8, k=8)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, rng.dirichlet(np.full(k, 2.0)))
    parts = []
    for c in counts:
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        A = q * rng.uniform(0.3, 2.0, d)
        parts.append(rng.normal(size=(c, d)) @ A.T + rng.normal(scale=6.0, size=d))
    return np.vstack(parts)[rng.permutation(n)]


@pytest.fixture(scope="module")
def w4():
    X = w4_like(40_000)
    lloyd = KMeans(8, random_state=0, n_init=3).fit(X)
    return X, lloyd


def test_minibatch_inertia_within_5_percent_of_lloyd(w4):
    X, lloyd = w4
    mb = MiniBatchKMeans(8, batch_size=1024, random_state=0).fit(X)
    assert mb.inertia_ <= 1.05 * lloyd.inertia_
    assert mb.n_steps_ < 10 * X.shape[0] / 1024  # fewer than 10 passes of row visits
    np.testing.assert_array_equal(mb.labels_, mb.predict(X))
    assert mb.inertia_ == pytest.approx(-mb.score(X), rel=1e-10)


def test_minibatch_partial_fit_stream_within_5_percent(w4):
    X, lloyd = w4
    mb = MiniBatchKMeans(8, random_state=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        mb.partial_fit(X[rng.integers(0, X.shape[0], 1024)])
    assert -mb.score(X) <= 1.05 * lloyd.inertia_
    assert mb.n_steps_ == 100
    assert mb.counts_.sum() == pytest.approx(100 * 1024)


def test_minibatch_update_is_the_running_mean():
    """With one cluster and no reassignment the centre is the mean of all rows seen."""
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(50, 3)) for _ in range(5)]
    mb = MiniBatchKMeans(1, reassignment_ratio=0.0, random_state=0)
    for b in batches:
        mb.partial_fit(b)
    np.testing.assert_allclose(mb.cluster_centers_[0], np.vstack(batches).mean(axis=0),
                               rtol=1e-12)


def test_minibatch_from_a_file(w4, tmp_path):
    X, lloyd = w4
    np.save(tmp_path / "w4.npy", X)
    mb = MiniBatchKMeans(8, batch_size=2048, random_state=0, max_iter=5).fit(tmp_path / "w4.npy")
    assert mb.inertia_ <= 1.05 * lloyd.inertia_
    assert mb.labels_.shape == (X.shape[0],)


@parametrize_with_checks(
    [MiniBatchKMeans(n_clusters=3, random_state=0, batch_size=32)],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data":
            "random mini-batches and seeds differ between weighted and repeated rows",
    },
)
def test_minibatch_sklearn_compatible(estimator, check):
    check(estimator)
