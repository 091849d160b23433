"""Glue between :func:`gaussmix.select` and the CLI, plots and report.

The command line, plots and report read a selection only through ``best_``,
``table_`` records and ``criterion``; the helpers here read those records,
resolve model lists, score one fitted model the way ``select`` does (used by
:func:`gaussmix.compare` for k-means' equivalent mixture), and run ``select``
with progress logging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .covariance import MODELS, canonical_name
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic", "icl")

CellCallback = Callable[[int, int, str, int], None]


def record_get(rec: Any, name: str, default: Any = None) -> Any:
    """Field of a selection record, whether a mapping or an object."""
    if isinstance(rec, dict):
        return rec.get(name, default)
    return getattr(rec, name, default)


def resolve_models(models: str | Sequence[str]) -> list[str]:
    """mclust codes for ``"all"``, a comma list, or a sequence of names/aliases."""
    if isinstance(models, str):
        if models.strip().lower() == "all":
            return list(MODELS)
        models = [m.strip() for m in models.split(",") if m.strip()]
    codes = [canonical_name(m) for m in models]
    if not codes:
        raise ValueError("no covariance model given")
    return list(dict.fromkeys(codes))


def criteria(model: GaussianMixture, X: np.ndarray, w: np.ndarray | None) -> dict[str, float]:
    """Log-likelihood, parameter count, BIC, AIC and ICL of a fitted model on ``X``.

    ``ICL = BIC - 2 Σ_i w_i log max_k τ_ik``: BIC plus the entropy of the MAP
    classification (Biernacki et al. 2000), lower is better.
    """
    w = np.ones(X.shape[0]) if w is None else w
    ll_rows = model.score_samples(X)
    ll = float(w @ ll_rows)
    n = float(w.sum())
    p = int(model._n_parameters())
    bic = -2.0 * ll + p * np.log(n)
    resp = model.predict_proba(X)
    with np.errstate(divide="ignore"):
        ent = float(w @ np.log(np.maximum(resp.max(axis=1), np.finfo(float).tiny)))
    return {"log_likelihood": ll, "n_parameters": p, "bic": float(bic),
            "aic": float(-2.0 * ll + 2.0 * p), "icl": float(bic - 2.0 * ent)}


def select_models(
    X: np.ndarray,
    n_components: Sequence[int],
    covariance_types: str | Sequence[str] = "all",
    *,
    criterion: str = "bic",
    sample_weight: np.ndarray | None = None,
    n_init: int = 1,
    random_state: int | None = 0,
    on_cell: CellCallback | None = None,
) -> Any:
    """:func:`gaussmix.select` over the grid, with progress through the ``gaussmix`` logger.

    ``select`` has no per-cell hook, so ``on_cell`` is called once
    (``code="grid"``, ``total`` the number of EM runs) and every run logs its
    result (``verbose=1``), which the command line counts.

    Raises
    ------
    ValueError
        When no cell could be fitted (with the first cell's reason).
    """
    from .selection import select

    codes = resolve_models(covariance_types)
    ks = list(n_components)
    if on_cell is not None:
        on_cell(0, len(codes) * len(ks) * n_init, "grid", 0)
    sel = select(X, n_components=ks, covariance_types=codes, criterion=criterion,
                 sample_weight=sample_weight, n_init=n_init, random_state=random_state,
                 verbose=1 if on_cell is not None else 0)
    if sel.best_ is None:
        first = next((record_get(r, "error") for r in sel.table_ if record_get(r, "error")),
                     "every fit failed")
        raise ValueError(f"no model could be fitted: {first}")
    sel.best_.verbose = 0  # progress logging was for this run only
    return sel


def selection_criterion(selection: Any, default: str = "bic") -> str:
    """The criterion a selection object ranked by."""
    for name in ("criterion", "criterion_"):
        value = getattr(selection, name, None)
        if isinstance(value, str) and value.lower() in CRITERIA:
            return value.lower()
    return default
