"""Conjugate prior / MAP EM (Fraley & Raftery 2007) and the reg_covar modes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from gaussmix import CollapseError, GaussianMixture
from gaussmix.covariance import CovarianceModel, get_model
from gaussmix.estep import GMMParams
from gaussmix.mstep import mstep
from gaussmix.prior import ConjugatePrior, log_prior, resolve_prior, supported_models
from gaussmix.stats import compute_stats

from .test_collapse import collapse_data

SUPPORTED = ["EII", "VII", "VVI", "EEE", "VVV"]


def _prior(d: int, kappa: float = 0.5) -> ConjugatePrior:
    rng = np.random.default_rng(7)
    A = rng.normal(size=(d, d))
    return ConjugatePrior(kappa, rng.normal(size=d), d + 2.5, A @ A.T / d + np.eye(d))


def _scipy_log_prior(params: GMMParams, code: str, prior: ConjugatePrior) -> float:
    """Independent reference: scipy densities of the prior, per model's parametrisation."""
    model = get_model(code)
    k, d = params.means.shape
    full = model.layout.full(params.covariances, k, d)
    nu, lam = prior.dof, prior.scale
    s2 = np.trace(lam) / d
    ig = sps.invgamma(a=nu / 2, scale=s2 / 2)
    if code == "VVV":
        total = sum(sps.invwishart.logpdf(c, df=nu, scale=lam) for c in full)
    elif code == "EEE":
        total = sps.invwishart.logpdf(full[0], df=nu, scale=lam)
    elif code == "VII":
        total = ig.logpdf(params.covariances).sum()
    elif code == "EII":
        total = ig.logpdf(params.covariances[0])
    else:  # VVI
        total = ig.logpdf(params.covariances).sum()
    if prior.shrinkage > 0:
        total += sum(sps.multivariate_normal.logpdf(m, prior.mean, c / prior.shrinkage)
                     for m, c in zip(params.means, full, strict=True))
    return float(total)


def _complete_log_posterior(X, w, resp, params, code, prior) -> float:
    model = get_model(code)
    k, d = params.means.shape
    full = model.layout.full(params.covariances, k, d)
    ll = sum(
        (w * resp[:, j]) @ (np.log(params.weights[j])
                            + sps.multivariate_normal.logpdf(X, params.means[j], full[j]))
        for j in range(k)
    )
    return float(ll + _scipy_log_prior(params, code, prior))


def _tiny(seed=0, n=30, d=3, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + np.repeat(rng.normal(scale=3, size=(k, d)), n // k, axis=0)
    resp = rng.dirichlet(np.ones(k) * 0.7, size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    return X, w, resp


@pytest.mark.parametrize("code", SUPPORTED)
@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_log_prior_matches_scipy(code, kappa):
    X, w, resp = _tiny()
    model, prior = get_model(code), _prior(3, kappa)
    shift = X.mean(axis=0)
    params = mstep(compute_stats(X - shift, w, resp, model.stats_kind), model, reg_covar=0.0,
                   shift=shift, prior=prior)
    assert log_prior(params, model, prior) == pytest.approx(
        _scipy_log_prior(params, code, prior), rel=1e-10)


@pytest.mark.parametrize("code", SUPPORTED)
@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_map_mstep_maximises_the_complete_data_log_posterior(code, kappa):
    """The closed form beats every small perturbation that respects the model."""
    X, w, resp = _tiny(seed=1)
    model, prior = get_model(code), _prior(3, kappa)
    shift = X.mean(axis=0)
    best = mstep(compute_stats(X - shift, w, resp, model.stats_kind), model, reg_covar=0.0,
                 shift=shift, prior=prior)
    f0 = _complete_log_posterior(X, w, resp, best, code, prior)
    rng = np.random.default_rng(2)
    cov = best.covariances
    for eps in (1e-3, -1e-3):
        candidates = [cov * (1 + eps), best.means + eps * rng.normal(size=best.means.shape)]
        if model.layout.name in ("full", "tied"):
            E = rng.normal(size=(3, 3))
            candidates.append(cov + eps * (E + E.T))
        if model.layout.name == "diag":
            candidates.append(cov * (1 + eps * rng.normal(size=3)))
        if model.layout.name != "tied" and model.code[0] == "V":  # one component alone
            one = cov.copy()
            one[0] = one[0] * (1 + eps)
            candidates.append(one)
        for cand in candidates:
            if cand.shape == best.means.shape:
                p = best._replace(means=cand)
            else:
                p = best._replace(covariances=cand)
            assert _complete_log_posterior(X, w, resp, p, code, prior) < f0


def test_default_hyperparameters_are_mclusts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * [1.0, 2.0, 3.0]
    cov = np.cov(X.T)  # R's var(): divisor n - 1
    prior = resolve_prior("default", mean=X.mean(axis=0), cov=cov, n_components=4,
                          model=get_model("VVV"))
    assert prior.shrinkage == 0.01 and prior.dof == 3 + 2
    np.testing.assert_allclose(prior.scale, cov / 4 ** (2 / 3))
    np.testing.assert_allclose(prior.mean, X.mean(axis=0))
    gm = GaussianMixture(4, prior={"shrinkage": 0.0, "dof": 7}, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.means_))


def test_prior_fits_the_collapse_data_without_collapse_and_never_decreases():
    X = collapse_data()
    for seed in range(3):
        gm = GaussianMixture(5, prior="default", reg_covar=0.0, on_collapse="raise",
                             random_state=seed, tol=1e-8, max_iter=300).fit(X)
        assert gm.n_components_ == 5 and gm.fit_history_[0].events == ()
        assert np.all(np.isfinite(gm.covariances_))
        lb = np.asarray(gm.lower_bounds_)
        assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))
    with pytest.raises(CollapseError):
        GaussianMixture(5, reg_covar=0.0, on_collapse="raise", random_state=0).fit(X)


@pytest.mark.parametrize("code", SUPPORTED)
def test_map_objective_never_decreases_for_every_supported_model(code):
    X = collapse_data()[::2] / 1e6
    gm = GaussianMixture(4, covariance_type=code, prior="default", reg_covar=0.0, tol=1e-10,
                         max_iter=60, on_collapse="raise", random_state=0).fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


def test_prior_allows_more_components_than_distinct_rows():
    X = np.repeat([[0.0, 0.0], [1.0, 2.0], [5.0, 1.0]], 4, axis=0)
    with pytest.raises(ValueError, match="distinct row"):
        GaussianMixture(4, random_state=0).fit(X)
    gm = GaussianMixture(4, prior="default", random_state=0).fit(X)
    assert np.all(np.isfinite(gm.predict_proba(X)))


def test_supported_models_and_unsupported_model_error():
    assert set(SUPPORTED) <= set(supported_models())

    class NoPrior(CovarianceModel):
        code = "XXX"

    with pytest.raises(ValueError, match="not supported.*EEE"):
        resolve_prior("default", mean=np.zeros(2), cov=np.eye(2), n_components=2,
                      model=NoPrior())


@pytest.mark.parametrize("bad, match", [
    ({"shrinkage": -1}, "shrinkage"),
    ({"dof": 0.5}, "dof"),
    ({"scale": -np.eye(2)}, "positive definite"),
    ({"mean": [1.0]}, "mean"),
    ({"bogus": 1}, "unknown prior key"),
])
def test_bad_prior_is_a_clear_error(bad, match):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, prior=bad).fit(X)


def test_relative_reg_covar_follows_the_units_of_x():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(4, 1, (60, 2))]) * 1e-4
    rel = [GaussianMixture(2, reg_covar=1e-3, reg_covar_mode="relative", random_state=0).fit(X * s)
           for s in (1.0, 1e6)]
    np.testing.assert_allclose(rel[0].predict_proba(X), rel[1].predict_proba(X * 1e6), atol=1e-8)
    np.testing.assert_allclose(rel[0].covariances_ * 1e12, rel[1].covariances_, rtol=1e-6)
    # Absolute 1e-3 swamps a variance of 1e-8: both clusters blur into one.
    ab = GaussianMixture(2, reg_covar=1e-3, random_state=0).fit(X)
    assert np.all(ab.covariances_[:, 0, 0] >= 1e-3)


def test_partial_fit_refuses_the_prior():
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match="partial_fit"):
        GaussianMixture(2, prior="default").partial_fit(X)
