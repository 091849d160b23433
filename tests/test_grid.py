"""Selection glue for the CLI and report: scores, failures, progress, the call to select."""

from __future__ import annotations

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, load_faithful
from gaussmix._grid import criteria, resolve_models, select_models


def test_scores_by_hand() -> None:
    X, _ = load_faithful()
    gm = GaussianMixture(2, covariance_type="VVV", random_state=0).fit(X)
    c = criteria(gm, X, None)
    n = X.shape[0]
    ll = gm.score(X) * n
    p = 2 * 3 + 2 * 2 + 1  # two full 2x2 covariances, two means, one free weight
    assert c["n_parameters"] == p
    assert c["log_likelihood"] == pytest.approx(ll, rel=1e-12)
    assert c["bic"] == pytest.approx(-2 * ll + p * np.log(n), rel=1e-12)
    assert c["bic"] == pytest.approx(gm.bic(X), rel=1e-12)
    assert c["aic"] == pytest.approx(gm.aic(X), rel=1e-12)
    z = gm.predict_proba(X)
    assert c["icl"] == pytest.approx(c["bic"] - 2 * np.sum(np.log(z.max(axis=1))), rel=1e-12)
    assert c["icl"] == pytest.approx(gm.icl(X), rel=1e-12)
    # Integer weights act as repeated rows.
    w = np.ones(n)
    w[:10] = 2
    Xr = np.vstack([X, X[:10]])
    cw, cr = criteria(gm, X, w), criteria(gm, Xr, None)
    for key in ("log_likelihood", "bic", "aic", "icl"):
        assert cw[key] == pytest.approx(cr[key], rel=1e-12)


def test_select_models_best_failures_and_progress() -> None:
    X, _ = load_faithful()
    seen = []
    sel = select_models(X, [1, 2, 3], "EII,VVV", criterion="aic", random_state=0,
                        on_cell=lambda *a: seen.append(a))
    assert seen == [(0, 6, "grid", 0)]
    assert len(sel.table_) == 6 and sel.criterion == "aic" and sel.best_.verbose == 0
    best = min(sel.table_, key=lambda r: r["aic"])
    assert (sel.best_.covariance_model_, sel.best_.n_components) == (
        best["covariance_type"], best["n_components"])
    # The records' scores are the ones criteria() computes for the chosen model.
    c = criteria(sel.best_, X, None)
    for key in ("log_likelihood", "bic", "aic", "icl"):
        assert c[key] == pytest.approx(best[key], rel=1e-9)
    # A cell that cannot be fitted is recorded; a grid where none can is an error.
    tiny = X[:3]
    sel2 = select_models(tiny, [1, 4], ["EII"], random_state=0)
    assert [r["n_components"] for r in sel2.table_ if r["error"]] == [4]
    with pytest.raises(ValueError, match="no model could be fitted"):
        select_models(tiny, [4], ["EII"])


def test_resolve_models() -> None:
    assert resolve_models("all") == list(gaussmix.MODELS)
    assert resolve_models("full, tied,VVV") == ["VVV", "EEE"]
    with pytest.raises(ValueError, match="unknown covariance_type"):
        resolve_models("VVV,QQQ")


def test_select_models_calls_select(monkeypatch: pytest.MonkeyPatch) -> None:
    """``gaussmix.select`` gets the grid, the options and verbose logging for progress."""
    calls = {}
    X, _ = load_faithful()

    def fake_select(X, n_components=range(1, 10), covariance_types="all", criterion="bic",
                    sample_weight=None, **gmm_params):
        calls.update(n_components=n_components, covariance_types=covariance_types,
                     criterion=criterion, sample_weight=sample_weight, **gmm_params)
        return real(X, n_components, covariance_types, criterion=criterion)

    import gaussmix.selection

    real = gaussmix.selection.select
    monkeypatch.setattr(gaussmix.selection, "select", fake_select)
    seen = []
    sel = select_models(X, [1, 2], "VVV,EII", criterion="icl", n_init=2, random_state=3,
                        on_cell=lambda *a: seen.append(a))
    assert calls == {"n_components": [1, 2], "covariance_types": ["VVV", "EII"],
                     "criterion": "icl", "sample_weight": None, "n_init": 2,
                     "random_state": 3, "verbose": 1}
    assert seen == [(0, 8, "grid", 0)] and sel.best_.verbose == 0

    def all_fail(X, **kw):
        class S:
            best_ = None
            table_ = [{"error": "LinAlgError: singular"}]
        return S()

    monkeypatch.setattr(gaussmix.selection, "select", all_fail)
    with pytest.raises(ValueError, match="no model could be fitted: LinAlgError: singular"):
        select_models(X, [1], "VVV")
