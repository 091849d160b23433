"""Restarts (n_init): the best is kept and every restart is recorded in fit_history_."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gaussmix import FitRecord, GaussianMixture


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4, size=(6, 2))
    return np.vstack([rng.normal(c, 1.0, (40, 2)) for c in centers])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("init", ["random", "random_from_data"])
def test_best_restart_is_kept_and_never_worse(seed, init):
    X = _data(seed)
    gm = GaussianMixture(6, n_init=5, init_params=init, random_state=seed).fit(X)
    hist = gm.fit_history_
    assert len(hist) == 5 and all(isinstance(r, FitRecord) for r in hist)
    assert [r.restart for r in hist] == list(range(5))
    assert gm.lower_bound_ == max(r.objective for r in hist)
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-3, abs=1e-3)
    # The first restart of n_init=5 draws what n_init=1 draws: best-of-5 is never worse.
    single = GaussianMixture(6, n_init=1, init_params=init, random_state=seed).fit(X)
    assert single.fit_history_[0].objective == hist[0].objective
    assert gm.lower_bound_ >= single.lower_bound_
    for r in hist:
        assert r.n_components == 6 and r.n_iter >= 1 and r.error is None


def test_restarts_differ_and_record_convergence():
    X = _data(1)
    gm = GaussianMixture(6, n_init=4, init_params="random", max_iter=5, random_state=0)
    with pytest.warns(Warning):
        gm.fit(X)
    objectives = {r.objective for r in gm.fit_history_}
    assert len(objectives) > 1
    assert all(r.n_iter == 5 and not r.converged for r in gm.fit_history_)


def test_verbose_logs_one_line_per_restart(caplog):
    X = _data(2)
    with caplog.at_level(logging.INFO, logger="gaussmix"):
        GaussianMixture(3, n_init=3, verbose=1, random_state=0).fit(X)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("init ")]
    assert len(lines) == 3 and "objective" in lines[0]


def test_warm_start_records_one_restart():
    X = _data(3)
    gm = GaussianMixture(3, n_init=3, warm_start=True, random_state=0).fit(X)
    assert len(gm.fit_history_) == 3
    gm.fit(X)
    assert len(gm.fit_history_) == 1


def test_n_jobs_does_not_change_the_restarts():
    X = _data(4)
    a = GaussianMixture(6, n_init=4, init_params="random_from_data", random_state=0).fit(X)
    b = GaussianMixture(6, n_init=4, init_params="random_from_data", random_state=0,
                        n_jobs=2).fit(X)
    assert a.fit_history_ == b.fit_history_
    assert np.array_equal(a.means_, b.means_)


def test_verbose_2_logs_every_collapse_event(caplog):
    from .test_collapse import collapse_data

    with caplog.at_level(logging.INFO, logger="gaussmix"), pytest.warns(Warning):
        gm = GaussianMixture(5, n_init=2, verbose=2, on_collapse="drop", random_state=0).fit(
            collapse_data())
    lines = [r.getMessage() for r in caplog.records]
    n_events = sum(len(r.events) for r in gm.fit_history_)
    assert n_events and sum("component" in ln and "drop" in ln for ln in lines) == n_events
