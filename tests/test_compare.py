"""``gaussmix.compare``: the numbers behind the verdict, each checked independently."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from gaussmix import GaussianMixture, KMeans, compare, load_faithful, make_elongated
from gaussmix.compare import BIC_THRESHOLD, Comparison


@pytest.fixture(scope="module")
def elongated() -> tuple[np.ndarray, np.ndarray, Comparison]:
    X, y = make_elongated(random_state=0)
    return X, y, compare(X, 3, labels=y, random_state=0)


def test_elongated_prefers_gmm(elongated: tuple) -> None:
    _, _, c = elongated
    assert c.verdict == "gmm" and c.prefer_gmm
    assert c.ari_gmm_truth > 0.95
    assert c.ari_kmeans_truth < 0.5
    names = {r.name: r for r in c.reasons}
    assert set(names) == {"bic", "overlap", "anisotropy", "sizes", "spreads"}
    assert names["bic"].favours_gmm and names["anisotropy"].favours_gmm
    assert names["sizes"].favours_gmm  # weights 0.45 / 0.15 = 3
    assert "Prefer a GMM" in c.answer and "Prefer a GMM" in c.summary()


def test_numbers_match_direct_computation(elongated: tuple) -> None:
    X, y, c = elongated
    n = X.shape[0]
    km, gm = c.kmeans, c.gmm
    # k-means is scored as its EII equal-weight equivalent.
    eq = km.to_gmm()
    assert c.loglik_kmeans == pytest.approx(eq.score(X) * n, rel=1e-12)
    assert c.bic_kmeans == pytest.approx(eq.bic(X), rel=1e-12)
    assert c.n_parameters_kmeans == 3 * 2 + 1
    assert c.bic_gmm == pytest.approx(gm.bic(X), rel=1e-12)
    assert c.delta_bic == pytest.approx(eq.bic(X) - gm.bic(X), rel=1e-12)
    # The GMM kept is the lowest BIC over the models tried.
    assert c.bic_gmm == pytest.approx(np.nanmin(list(c.gmm_bic_by_model.values())))
    resp = gm.predict_proba(X)
    assert c.overlap == pytest.approx(np.mean(resp.max(axis=1) < 0.9))
    covs = gm.covariances_ if gm.covariances_.ndim == 3 else None
    assert covs is not None  # VVV wins here
    np.testing.assert_allclose(c.condition_numbers, np.linalg.cond(covs), rtol=1e-8)
    assert c.weight_ratio == pytest.approx(gm.weights_.max() / gm.weights_.min())
    vols = np.linalg.det(covs) ** (1 / 2)
    assert c.volume_ratio == pytest.approx(vols.max() / vols.min(), rel=1e-10)
    assert c.ari == pytest.approx(adjusted_rand_score(km.predict(X), gm.predict(X)))
    assert c.ari_kmeans_truth == pytest.approx(adjusted_rand_score(y, km.labels_))
    # Matching only renumbers: the partition is the GMM's.
    assert adjusted_rand_score(c.labels_gmm, gm.predict(X)) == pytest.approx(1.0)
    assert c.contingency.sum() == n
    np.testing.assert_array_equal(c.contingency.sum(axis=1), c.sizes_kmeans)
    np.testing.assert_array_equal(c.contingency.sum(axis=0), c.sizes_gmm)
    assert c.disagreement == pytest.approx(1 - np.trace(c.contingency) / n)
    differ = c.labels_kmeans != c.labels_gmm
    assert c.disagreement_certainty == pytest.approx(resp.max(axis=1)[differ].mean())
    assert c.disagreement_certainty > 0.9  # k-means cuts the long clusters: the GMM is sure
    assert "k-means' round cells cut across" in c.disagreements()[-1]
    # Renumbering maximises agreement: no permutation agrees more.
    from itertools import permutations

    best = max(sum(c.contingency[i, p[i]] for i in range(3)) for p in permutations(range(3)))
    assert np.trace(c.contingency) == best


def test_round_equal_clusters_k_means_is_enough() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(9, 1, (150, 2))])
    c = compare(X, 2, random_state=0)
    assert c.verdict == "kmeans" and not c.prefer_gmm
    assert c.delta_bic < BIC_THRESHOLD
    assert not any(r.favours_gmm for r in c.reasons)
    assert c.ari == pytest.approx(1.0)
    assert c.disagreements() == []
    assert "k-means is enough" in c.answer


def test_faithful_and_options() -> None:
    X, _ = load_faithful()
    c = compare(X, 2, covariance_types=["EII", "VVV"], n_init=1, random_state=0)
    assert set(c.gmm_bic_by_model) == {"EII", "VVV"}
    assert c.gmm.covariance_model_ == "VVV" and c.prefer_gmm
    w = np.ones(X.shape[0])
    cw = compare(X, 2, covariance_types="VVV", sample_weight=w, n_init=1, random_state=0)
    assert cw.bic_gmm == pytest.approx(c.bic_gmm, rel=1e-9)
    rows = {a: (b, cc) for a, b, cc in c.rows()}
    assert rows["BIC (lower is better)"] == (f"{c.bic_kmeans:.1f}", f"{c.bic_gmm:.1f}")


def test_bad_input() -> None:
    X = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match="n_samples"):
        compare(X, 6)
    with pytest.raises(ValueError, match="positive integer"):
        compare(X, 0)
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compare(Xn, 2)
    with pytest.raises(ValueError, match="labels"):
        compare(X, 2, labels=[0, 1])
    with pytest.raises(ValueError, match="unknown covariance_type"):
        compare(X, 2, covariance_types=["XYZ"])


def test_kmeans_equivalent_is_what_to_gmm_gives() -> None:
    X, _ = make_elongated(n_samples=300, random_state=2)
    c = compare(X, 3, covariance_types="EII", random_state=0)
    ref = KMeans(3, n_init=10, random_state=0).fit(X)
    np.testing.assert_allclose(c.kmeans.cluster_centers_, ref.cluster_centers_)
    assert isinstance(c.gmm, GaussianMixture) and c.gmm.covariance_model_ == "EII"


def test_given_gmm_is_the_one_weighed() -> None:
    X, _ = load_faithful()
    gm = GaussianMixture(3, covariance_type="EEE", random_state=0).fit(X)
    c = compare(X, 3, gmm=gm)
    assert c.gmm is gm and list(c.gmm_bic_by_model) == ["EEE"]
    assert c.bic_gmm == pytest.approx(gm.bic(X), rel=1e-12)
    with pytest.raises(ValueError, match="k=2 components"):
        compare(X, 2, gmm=gm)
