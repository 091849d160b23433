"""The pruned soft E-step (float32 diag/spherical): exact skips, the ordinary E-step's result."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussmix import GaussianMixture
from gaussmix.covariance import get_model
from gaussmix.estep import GMMParams, estep_soft, rows_resp
from gaussmix.estep_pruned import Pruning, estep_pruned, prunable, pruned_constants


def _mixture(rng, k, d, spread, layout):
    means = rng.normal(scale=spread, size=(k, d))
    if layout == "diag":
        cov = rng.uniform(0.2, 3.0, size=(k, d))
    else:
        cov = rng.uniform(0.2, 3.0, size=k)
    weights = rng.dirichlet(np.ones(k))
    model = get_model(layout)
    pc = model.layout.precisions_cholesky(cov)
    return GMMParams(weights, means, cov, pc), model


def _rows(rng, params, n, layout):
    k, d = params.means.shape
    comp = rng.choice(k, size=n, p=params.weights)
    sd = np.sqrt(params.covariances[comp])
    if layout == "spherical":
        sd = sd[:, None]
    return (params.means[comp] + sd * rng.normal(size=(n, d))).astype(np.float32)


def _stats(s):
    return np.concatenate([s.nk, s.sk.ravel(), s.Sk.ravel(), [s.objective]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 7), d=st.sampled_from([16, 23]),
       spread=st.sampled_from([0.5, 4.0, 15.0, 60.0]),
       layout=st.sampled_from(["diag", "spherical"]), stale=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_pruned_estep_equals_the_ordinary_one(seed, k, d, spread, layout, stale, dtype):
    """From overlapping to far-apart components, with fresh or stale anchors: the
    statistics and the objective of the ordinary E-step, to float32 rounding;
    the skips themselves are exact (no skip at all gives the same bits)."""
    rng = np.random.default_rng(seed)
    params, model = _mixture(rng, k, d, spread, layout)
    X = _rows(rng, params, 700, layout).astype(dtype)
    w = rng.integers(0, 3, X.shape[0]).astype(float)
    shift = X.astype(np.float64).mean(axis=0) + rng.normal(scale=0.1, size=d)
    rows = slice(0, X.shape[0])
    want = estep_soft(X, w, params, model, shift)
    pruning = Pruning(X, w, model, params, shift, None)
    step, taken = pruning.step(params, shift)  # anchors: nearest means
    labels = pruning.labels
    if stale:  # anchors that are not the best component: the bound still holds
        labels[:] = rng.integers(0, k, X.shape[0])
    before = labels.copy()
    got = step(rows, w)
    assert k <= taken[0] <= k * X.shape[0]  # the anchors' distances at least
    scale = np.abs(_stats(want)).max()
    tol = 2e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(_stats(got), _stats(want), rtol=tol, atol=tol / 10 * scale)
    # no skips: separations 0 rule nothing out
    consts = pruned_constants(params, model, shift, dtype)
    blind = consts._replace(sep=np.zeros_like(consts.sep))
    labels_blind = before.copy()
    got_blind = estep_pruned(rows, w, X=X, labels=labels_blind, consts=blind)
    np.testing.assert_array_equal(_stats(got), _stats(got_blind))
    np.testing.assert_array_equal(labels, labels_blind)
    # the labels left are each row's most probable component
    best = rows_resp(X, params=params, model=model, shift=shift).argmax(axis=1)
    assert (labels == best).mean() > 0.99  # float32 near-ties may differ


def test_pruned_estep_skips_far_components():
    """Far-apart components are never evaluated: poisoning their means changes nothing."""
    rng = np.random.default_rng(3)
    k, d = 6, 20
    params, model = _mixture(rng, k, d, 200.0, "diag")
    X = _rows(rng, params, 500, "diag")
    comp = np.argmin(((X[:, None, :] - params.means[None]) ** 2).sum(axis=2), axis=1)
    X, comp = X[comp < 3], comp[comp < 3]  # rows of components 0-2 only
    w = np.ones(X.shape[0])
    shift = X.astype(np.float64).mean(axis=0)
    consts = pruned_constants(params, model, shift)
    labels = comp.astype(np.intp)
    clean = estep_pruned(slice(0, X.shape[0]), w, X=X, labels=labels.copy(), consts=consts)
    means = consts.means.copy()
    means[3:] = np.nan  # a distance taken to components 3-5 would be NaN
    poisoned = estep_pruned(slice(0, X.shape[0]), w, X=X, labels=labels.copy(),
                            consts=consts._replace(means=means))
    np.testing.assert_array_equal(_stats(poisoned), _stats(clean))
    np.testing.assert_array_equal(clean.nk[3:], 0.0)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "VEI", "EVI"])
def test_em_with_pruning_reaches_the_ordinary_fit(monkeypatch, covariance_type):
    """A float32 fit from the same start: the same log-likelihood and means to float32 rounding."""
    import gaussmix.em as em

    rng = np.random.default_rng(0)
    params, _ = _mixture(rng, 5, 17, 6.0, "diag")
    X = _rows(rng, params, 3000, "diag")
    assert prunable(X, get_model(covariance_type), "soft")
    kw = dict(covariance_type=covariance_type, random_state=1, max_iter=15, tol=0.0)
    pruned = GaussianMixture(5, **kw).fit(X)
    monkeypatch.setattr(em, "prunable", lambda *a: False)
    plain = GaussianMixture(5, **kw).fit(X)
    assert pruned.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-6)
    np.testing.assert_allclose(pruned.means_, plain.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(pruned.predict(X), plain.predict(X))


def test_pruning_only_where_it_applies():
    X32 = np.zeros((10, 16), dtype=np.float32)
    diag = get_model("diag")
    assert prunable(X32, diag, "soft")
    assert prunable(X32.astype(np.float64), diag, "soft")  # (float64: a cut at 700 nats)
    assert not prunable(X32[:, :8], diag, "soft")  # few features
    assert not prunable(X32, diag, "hard")
    assert not prunable(X32, get_model("full"), "soft")
    assert not prunable(X32, get_model("EII"), "soft")  # pooled statistics


def test_pruned_fit_survives_a_collapse_and_dropped_components():
    """Components reseeded or dropped mid-fit: the anchors are rebuilt, the fit stays valid."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 16)).astype(np.float32)
    X[:3] = X[0]  # a tight spot for a component to collapse onto
    for policy in ("reseed", "drop"):
        g = GaussianMixture(12, covariance_type="diag", reg_covar=0.0, on_collapse=policy,
                            means_init=np.vstack([X[:1], rng.normal(size=(11, 16))]),
                            max_iter=30, random_state=0).fit(X)
        assert np.isfinite(g.lower_bound_)
        assert np.isfinite(g.score(X))


def _near_cut_hit(X, w, consts):
    """Rows of component 0, anchored there: the skips change no bit of the
    statistics; whether component 1 got any responsibility."""
    n = X.shape[0]
    got = estep_pruned(slice(0, n), w, X=X, labels=np.zeros(n, dtype=np.intp), consts=consts)
    blind = estep_pruned(slice(0, n), w, X=X, labels=np.zeros(n, dtype=np.intp),
                         consts=consts._replace(sep=np.zeros_like(consts.sep)))
    np.testing.assert_array_equal(_stats(got), _stats(blind))
    return bool(got.nk[1] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [2, 3, 16])
def test_pruned_estep_keeps_components_near_the_cut(d, dtype):
    """The sharp case: a component whose only responsibilities lie just inside
    float32's 87-nat cut. Its rows must be evaluated (nk > 0 exactly as without
    skips); a bound that skipped a little too eagerly would leave it at 0."""
    rng = np.random.default_rng(d)
    hits = 0
    cut = 87.0 if dtype == np.float32 else 700.0
    edge = np.sqrt(2.0 * cut)
    for sep in np.linspace(edge - 1.0, edge + 7.0, 9):  # gaps sep² / 2 - sep x_1 about the cut
        means = np.zeros((2, d))
        means[1, 0] = sep
        params = GMMParams(np.array([0.5, 0.5]), means, np.ones(2), np.ones(2))
        model = get_model("spherical")
        X = rng.normal(size=(400, d)).astype(dtype)  # all from component 0
        w = np.ones(X.shape[0])
        shift = np.zeros(d)
        consts = pruned_constants(params, model, shift, dtype)
        hits += _near_cut_hit(X, w, consts)
    assert 0 < hits < 9  # some separations put rows inside the cut, some outside


def test_default_fit_starts_pruning_from_the_kmeans_partition(monkeypatch):
    """The k-means start's labels anchor the first pruned E-step (no assignment
    pass); with restarts each fit finds its own anchors. The fits equal the
    unpruned ones to float32 rounding."""
    import gaussmix.em as em
    import gaussmix.estep_pruned as ep
    import gaussmix.mixture as mixture

    rng = np.random.default_rng(2)
    params, _ = _mixture(rng, 4, 18, 8.0, "diag")
    X = _rows(rng, params, 5000, "diag")  # more rows than the probe's sample
    calls = []
    original = ep.assign_labels
    monkeypatch.setattr(ep, "assign_labels",
                        lambda *a, **kw: calls.append(a[0].shape[0]) or original(*a, **kw))
    one = GaussianMixture(4, covariance_type="diag", random_state=0).fit(X)
    assert calls == []
    three = GaussianMixture(4, covariance_type="diag", random_state=0, n_init=3).fit(X)
    assert calls == [X.shape[0]] * 3
    monkeypatch.setattr(em, "prunable", lambda *a: False)
    monkeypatch.setattr(mixture, "prunable", lambda *a: False)
    for pruned, n_init in ((one, 1), (three, 3)):
        plain = GaussianMixture(4, covariance_type="diag", random_state=0, n_init=n_init).fit(X)
        assert pruned.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-6)
        np.testing.assert_allclose(pruned.means_, plain.means_, rtol=1e-4, atol=1e-4)


def test_pruning_goes_where_it_pays():
    """Far-apart components: the probe finds few distances left and EM prunes;
    overlapping ones: the probe sees the bound rule out little, and EM keeps
    the GEMM E-step; a run whose E-steps stop paying goes back to it."""
    import gaussmix.estep_pruned as ep

    rng = np.random.default_rng(4)
    for spread, pays in ((80.0, True), (0.3, False)):
        params, model = _mixture(rng, 6, 20, spread, "diag")
        X = _rows(rng, params, 3000, "diag")
        w = np.ones(X.shape[0])
        shift = X.astype(np.float64).mean(axis=0)
        pruning = Pruning(X, w, model, params, shift, None)
        assert pruning.paying is pays
        first, taken = pruning.step(params, shift)  # nearest means: not judged on these
        first(slice(0, 3000), w)
        pruning.record(taken, 6)
        assert pruning.paying is pays
        step, taken = pruning.step(params, shift)
        step(slice(0, 1500), w[:1500])
        step(slice(1500, 3000), w[1500:])
        assert len(taken) == 2
        pruning.record(taken, 6)
        assert pruning.paying is pays
        assert (sum(taken) <= ep._PAYING_SHARE32 * 6 * 3000) is pays
        assert (pruning.labels is None) is not pays  # a run that stops pruning frees them


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pruned_estep_keeps_anisotropic_components_near_the_cut(dtype):
    """The same sharp case for diagonal components of different shapes, where the
    bound measures the anchor's distance in the other component's metric."""
    rng = np.random.default_rng(7)
    d = 4
    prec = np.array([np.ones(d), [4.0, 1.0, 0.25, 2.0]])
    cut = 87.0 if dtype == np.float32 else 700.0
    edge = np.sqrt(2.0 * cut / 4.0)  # the gap grows as 4 (sep - x_0)² / 2 along feature 0
    hits = 0
    for sep in np.linspace(edge - 0.5, edge + 3.5, 9):
        means = np.zeros((2, d))
        means[1, 0] = sep
        cov = 1.0 / prec
        params = GMMParams(np.array([0.5, 0.5]), means, cov, np.sqrt(prec))
        model = get_model("diag")
        X = rng.normal(size=(400, d)).astype(dtype)  # all from component 0
        w = np.ones(X.shape[0])
        consts = pruned_constants(params, model, np.zeros(d), dtype)
        hits += _near_cut_hit(X, w, consts)
    assert 0 < hits < 9


def test_pruned_estep_skips_components_of_zero_weight():
    """A component of weight 0 is never evaluated, wherever the anchor lies:
    at most the two live components' distances are taken per row."""
    rng = np.random.default_rng(8)
    params, model = _mixture(rng, 4, 16, 0.5, "diag")  # overlapping: bounds rule out little
    params = params._replace(weights=np.array([0.5, 0.5, 0.0, 0.0]))
    X = _rows(rng, params, 400, "diag")
    w = np.ones(X.shape[0])
    shift = X.astype(np.float64).mean(axis=0)
    consts = pruned_constants(params, model, shift)
    labels = rng.integers(0, 2, X.shape[0]).astype(np.intp)
    taken = []
    got = estep_pruned(slice(0, 400), w, X=X, labels=labels, consts=consts, taken=taken)
    assert taken[0] <= 2 * X.shape[0]
    np.testing.assert_array_equal(got.nk[2:], 0.0)
    want = estep_soft(X, w, params, model, shift)
    np.testing.assert_allclose(_stats(got), _stats(want), rtol=2e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["diag", "spherical"])
def test_separations_and_ratios_are_rounded_towards_a_safe_bound(dtype, layout):
    """sep[a, j] = ||μ_a - μ_j|| in j's metric, just below the exact value; root_ratio
    = sqrt(max P_j / P_a), just above (of the means and precisions the kernel reads)."""
    rng = np.random.default_rng(4)
    params, model = _mixture(rng, 6, 19, 3.0, layout)
    shift = rng.normal(size=19)
    consts = pruned_constants(params, model, shift, dtype)
    m, p = consts.means.astype(np.float64), consts.prec.astype(np.float64)
    sep = np.sqrt((((m[:, None, :] - m[None]) ** 2) * p[None]).sum(axis=2))
    ratio = np.sqrt((p[None] / p[:, None]).max(axis=2))
    assert np.all(consts.sep <= sep) and np.all(consts.root_ratio >= ratio)
    np.testing.assert_allclose(consts.sep, sep, rtol=1e-11)
    np.testing.assert_allclose(consts.root_ratio, ratio, rtol=1e-11)
    assert np.all(np.diag(consts.sep) == 0.0)
