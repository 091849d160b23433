"""Collapse detection and recovery (gaussmix.collapse) on data built to collapse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gaussmix import MODELS, CollapseError, CollapseWarning, GaussianMixture
from gaussmix.collapse import EIG_RTOL, CollapseGuard, whitener
from gaussmix.covariance import get_model
from gaussmix.stats import compute_stats


def collapse_data() -> np.ndarray:
    """Two blobs plus three sites of exact duplicates, in units where values are ~1e6.

    With 5 components the duplicate sites get components of their own, whose
    covariances are singular; at this scale round-off makes scikit-learn's
    ``cov + reg_covar`` indefinite, so it aborts the fit.
    """
    rng = np.random.default_rng(0)
    X = np.vstack([
        rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2)),
        np.tile([30.0, -20.0], (5, 1)), np.tile([-25.0, 35.0], (5, 1)),
        np.tile([31.0, -18.5], (5, 1)),
    ])
    return X * 1e6


def _finite_model(gm: GaussianMixture, X: np.ndarray) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_)
    proba = gm.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_sklearn_aborts_on_the_collapse_data():
    X = collapse_data()
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        SkGaussianMixture(5, random_state=0).fit(X)


@pytest.mark.parametrize("seed", [0, 1])
def test_reseed_returns_finite_model_with_events(seed):
    X = collapse_data()
    gm = GaussianMixture(5, random_state=seed, on_collapse="reseed")
    with pytest.warns(CollapseWarning, match="collapse event"):
        gm.fit(X)
    _finite_model(gm, X)
    events = gm.fit_history_[0].events
    assert events and events[0].action == "reseed"
    assert all(e.reason in {"count", "eigenvalue", "singular"} for e in events)
    assert all(0 <= e.component < 5 and e.restart == 0 for e in events)
    assert gm.n_components_ == gm.weights_.shape[0] <= 5


def test_drop_returns_fewer_components_and_reports_them():
    X = collapse_data()
    gm = GaussianMixture(5, random_state=0, on_collapse="drop")
    with pytest.warns(CollapseWarning):
        gm.fit(X)
    _finite_model(gm, X)
    events = gm.fit_history_[0].events
    assert {e.action for e in events} == {"drop"}
    assert gm.n_components_ == 5 - len(events)
    assert gm.predict_proba(X).shape == (X.shape[0], gm.n_components_)
    assert gm.fit_history_[0].n_components == gm.n_components_


def test_raise_names_the_component():
    X = collapse_data()
    with pytest.raises(CollapseError, match=r"component \d+ collapsed at iteration \d+") as info:
        GaussianMixture(5, random_state=0, on_collapse="raise").fit(X)
    assert 0 <= info.value.component < 5
    assert info.value.reason in {"count", "eigenvalue", "singular"}
    assert isinstance(info.value, ValueError)


def test_no_collapse_means_no_change_from_plain_em(faithful_like):
    """On ordinary data the guard is invisible: same fit under every policy."""
    X = faithful_like
    fits = [GaussianMixture(3, random_state=0, on_collapse=p).fit(X) for p in ("reseed", "raise")]
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    assert fits[0].fit_history_[0].events == ()


@pytest.fixture
def faithful_like():
    rng = np.random.default_rng(1)
    return np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(5, 0.5, (80, 2)),
                      rng.normal([0, 6], 1, (80, 2))])


@pytest.mark.parametrize("code", sorted(MODELS))
def test_guard_flags_a_one_point_component_for_every_model(code):
    """The guard reads statistics only, so every registered model gets it."""
    model = get_model(code)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    labels = np.r_[np.zeros(30, int), np.ones(29, int), [2]]  # component 2 owns one row
    resp = np.eye(3)[labels]
    shift = X.mean(axis=0)
    stats = compute_stats(X - shift, np.ones(60), resp, model.stats_kind)
    picked = []

    def pick(params, stats, m):
        picked.append(m)
        return X[:m]

    guard = CollapseGuard(model, policy="reseed", reg_covar=1e-6, shift=shift, count_scale=1.0,
                          lowest_rows=pick)
    params, events = guard.mstep(stats, None, iteration=3)
    if model.min_count(3) > 1:
        assert [(e.component, e.iteration, e.action) for e in events][:1] == [(2, 3, "reseed")]
        assert picked
    assert np.all(np.isfinite(params.covariances))
    drop = CollapseGuard(model, policy="drop", reg_covar=1e-6, shift=shift, count_scale=1.0,
                         lowest_rows=pick)
    params, events = drop.mstep(stats, None, iteration=1)
    assert params.weights.shape[0] == 3 - len(events)


def test_eigenvalue_rule_is_relative_to_the_data_and_ignores_constant_columns():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(50, 2)) * 1e-3, np.full(50, 7.0)]  # tiny scale + constant column
    gm = GaussianMixture(2, random_state=0, reg_covar=1e-12, on_collapse="raise").fit(X)
    assert gm.fit_history_[0].events == ()
    P = whitener(np.cov(X.T))
    assert P.shape == (3, 2)  # the constant direction is left out
    assert EIG_RTOL < 1e-6


def test_hard_em_empty_component_is_reseeded():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    resp = np.zeros((40, 3))
    resp[:, :2] = np.eye(2)[rng.integers(0, 2, 40)]  # component 2 starts empty
    with pytest.warns(CollapseWarning):
        gm = GaussianMixture(3, resp_init=resp, assignment="hard", random_state=0).fit(X)
    ev = gm.fit_history_[0].events
    assert ev[0].iteration == 0 and ev[0].component == 2 and ev[0].reason == "count"
    assert np.all(np.isfinite(gm.means_))


def test_sample_weights_do_not_change_the_count_rule():
    X = collapse_data()
    a = GaussianMixture(5, random_state=0, on_collapse="drop")
    b = GaussianMixture(5, random_state=0, on_collapse="drop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        a.fit(X)
        b.fit(X, sample_weight=np.full(X.shape[0], 1e-3))
    assert a.n_components_ == b.n_components_
    np.testing.assert_allclose(np.sort(a.weights_), np.sort(b.weights_), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    n_dup=st.integers(2, 6),
    k=st.integers(2, 5),
    code=st.sampled_from(sorted(MODELS)),
    policy=st.sampled_from(["reseed", "drop"]),
    reg=st.sampled_from([0.0, 1e-6]),
    scale=st.sampled_from([1.0, 1e6]),
    seed=st.integers(0, 2**16),
)
def test_never_nan_never_linalg_error(n_dup, k, code, policy, reg, scale, seed):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(12, 2)), np.tile(rng.normal(size=2) * 20, (n_dup, 1))]) * scale
    gm = GaussianMixture(k, covariance_type=code, reg_covar=reg, on_collapse=policy,
                         random_state=seed, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm.fit(X)
        except CollapseError as exc:  # only when no component can be kept
            assert "collapsed" in str(exc)
            return
    _finite_model(gm, X)


@pytest.mark.parametrize("code", sorted(MODELS))
@pytest.mark.parametrize("policy", ["reseed", "drop"])
def test_collapse_data_gives_a_finite_model_for_every_model(code, policy):
    X = collapse_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        gm = GaussianMixture(6, covariance_type=code, on_collapse=policy, random_state=0).fit(X)
    _finite_model(gm, X)


def test_off_is_plain_em():
    from gaussmix import SingularCovarianceError

    X = collapse_data()
    # Plain EM collapses here. Whether the Cholesky factorisation notices
    # depends on round-off: the one-pass scatter of a component on duplicated
    # points at this scale (1e6) is zero to about 1e-16 of the data's variance,
    # and may come out slightly positive. Either way nothing intervenes.
    gm = GaussianMixture(5, on_collapse="off", reg_covar=0.0, random_state=0)
    try:
        gm.fit(X)
    except SingularCovarianceError as exc:
        assert "component" in str(exc)
    else:
        assert gm.n_components_ == 5
        assert all(not r.events for r in gm.fit_history_)
        covs = gm.covariances_
        smallest = min(np.linalg.eigvalsh(c).min() for c in covs)
        assert smallest < 1e-10 * X.var(axis=0).max()
    rng = np.random.default_rng(3)
    Y = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2))])
    sk = SkGaussianMixture(2, random_state=0).fit(Y)
    gm = GaussianMixture(2, on_collapse="off", random_state=0).fit(Y)
    np.testing.assert_allclose(np.sort(gm.means_, axis=0), np.sort(sk.means_, axis=0), rtol=1e-8)


@pytest.mark.parametrize("policy", ["reseed", "drop"])
def test_float32_collapse_data_gives_a_finite_model(policy):
    X = collapse_data().astype(np.float32)
    with pytest.warns(CollapseWarning):
        gm = GaussianMixture(5, on_collapse=policy, random_state=0).fit(X)
    _finite_model(gm, X)
    assert gm.fit_history_[0].events


@pytest.mark.parametrize("policy", ["reseed", "drop"])
def test_collapse_handling_on_a_file_source(policy, tmp_path):
    """The guard and its reseeding pass work on data read in blocks."""
    X = collapse_data()
    path = tmp_path / "collapse.npy"
    np.save(path, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        gm = GaussianMixture(5, on_collapse=policy, random_state=0, chunk_size=64).fit(path)
    _finite_model(gm, X)
    assert gm.fit_history_[0].events
    gp = GaussianMixture(5, prior="default", random_state=0, chunk_size=64).fit(path)
    assert gp.fit_history_[0].events == () and gp.n_components_ == 5


@pytest.mark.parametrize("code", ["VVI", "EEI", "VII", "EII"])
def test_eigenvalue_floor_shortcut_flags_the_same_components(code, monkeypatch):
    # Diagonal layouts skip the eigendecomposition for components whose smallest
    # variance bounds the whitened eigenvalue above the threshold; the flags
    # must be those of the exact test.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3)) * [1.0, 2.0, 0.5]
    model = get_model(code)
    shift = X.mean(axis=0)
    resp = rng.dirichlet(np.ones(3), 90)
    stats = compute_stats(X - shift, np.ones(90), resp, model.stats_kind)
    layout = model.layout
    cov = layout.shape(3, 3)
    cov = rng.uniform(0.5, 2.0, cov)
    if cov.ndim == 2:
        cov[1, 2] = 1e-14  # one flat direction in component 1
    else:
        cov[1] = 1e-14
    guard = CollapseGuard(model, policy="reseed", reg_covar=0.0, shift=shift, count_scale=1.0,
                          lowest_rows=lambda *a: X[:1])
    broken = cov.copy()  # a non-finite variance in component 0, tested on the variances
    if broken.ndim == 2:
        broken[0, 1] = np.inf
    else:
        broken[0] = np.nan
    fast = guard.detect(stats, cov), guard.detect(stats, broken)
    monkeypatch.setattr(type(layout), "smallest_eigenvalues", lambda self, c: None)
    exact = guard.detect(stats, cov), guard.detect(stats, broken)
    assert fast == exact
    assert 1 in fast[0] and fast[0][1][0] == "eigenvalue" and 0 not in fast[0]
    assert sorted(fast[1]) == [0, 1] and fast[1][0][0] == "eigenvalue"
