"""Model selection over components x covariance models, for the CLI and report.

When the library's ``gaussmix.select`` is available it does the work;
otherwise :func:`fit_grid` is the fallback: one ``GaussianMixture`` per cell,
scored by BIC, AIC and ICL (all on scikit-learn's lower-is-better scale). Both
give an object with ``best_``, ``table_`` (one record per cell), ``criterion``
and ``to_frame()``, which is all the CLI, plots and report read.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .covariance import MODELS, canonical_name
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic", "icl")
_FIELDS = ("covariance_type", "n_components", "log_likelihood", "n_parameters", "bic",
           "aic", "icl", "converged", "n_iter", "error")

CellCallback = Callable[[int, int, str, int], None]


def record_get(rec: Any, name: str, default: Any = None) -> Any:
    """Field of a selection record, whether a mapping or an object."""
    if isinstance(rec, dict):
        return rec.get(name, default)
    return getattr(rec, name, default)


class GridSelection:
    """Result of :func:`fit_grid` (same reading interface as ``gaussmix.select``).

    Attributes
    ----------
    best_ : GaussianMixture
        Lowest criterion among cells that fitted.
    table_ : list of dict
        One record per cell with keys ``covariance_type, n_components,
        log_likelihood, n_parameters, bic, aic, icl, converged, n_iter, error``.
    criterion : str
    """

    def __init__(self, best: GaussianMixture, table: list[dict[str, Any]], criterion: str):
        self.best_ = best
        self.table_ = table
        self.criterion = criterion

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.table_, columns=list(_FIELDS))


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


def fit_grid(
    X: np.ndarray,
    n_components: Sequence[int],
    covariance_types: str | Sequence[str] = "all",
    *,
    criterion: str = "bic",
    sample_weight: np.ndarray | None = None,
    n_init: int = 1,
    random_state: int | None = 0,
    on_cell: CellCallback | None = None,
    **gmm_kwargs: Any,
) -> GridSelection:
    """Fit every (covariance model, k) cell and keep the best by ``criterion``.

    Cells that fail (a collapsing component, too few rows) are recorded with
    their error and skipped.

    Raises
    ------
    ValueError
        Unknown criterion or model, or when no cell could be fitted.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; use one of {', '.join(CRITERIA)}")
    codes = resolve_models(covariance_types)
    ks = list(n_components)
    cells = [(code, k) for code in codes for k in ks]
    table: list[dict[str, Any]] = []
    best: tuple[float, GaussianMixture] | None = None
    errors: list[str] = []
    for i, (code, k) in enumerate(cells):
        if on_cell is not None:
            on_cell(i, len(cells), code, k)
        rec: dict[str, Any] = dict.fromkeys(_FIELDS)
        rec.update(covariance_type=code, n_components=k, converged=False)
        try:
            gm = GaussianMixture(n_components=k, covariance_type=code, n_init=n_init,
                                 random_state=random_state, **gmm_kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(X, sample_weight=sample_weight)
            rec.update(criteria(gm, X, sample_weight), converged=bool(gm.converged_),
                       n_iter=int(gm.n_iter_))
            score = rec[criterion]
            if np.isfinite(score) and (best is None or score < best[0]):
                best = (score, gm)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            rec["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            errors.append(f"{code} k={k}: {rec['error']}")
        table.append(rec)
    if best is None:
        raise ValueError("no model could be fitted: " + (errors[0] if errors else "empty grid"))
    return GridSelection(best[1], table, criterion)


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
    """Selection over the grid: the library's ``select`` when present, else :func:`fit_grid`.

    ``select`` has no per-cell hook, so with it ``on_cell`` is called once
    (``i = 0``) and every fit logs its result through the ``gaussmix`` logger
    (``verbose=1``), which the command line counts. The fallback calls
    ``on_cell`` before every cell.

    Raises
    ------
    ValueError
        When no cell could be fitted (with the first cell's reason).
    """
    import inspect

    import gaussmix

    select = getattr(gaussmix, "select", None)
    codes = resolve_models(covariance_types)
    ks = list(n_components)
    if select is not None:
        params = inspect.signature(select).parameters
        open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs: dict[str, Any] = {"criterion": criterion}
        for name, value in (("n_init", n_init), ("random_state", random_state),
                            ("verbose", 1 if on_cell is not None else 0)):
            if open_kw or name in params:
                kwargs[name] = value
        if sample_weight is not None and "sample_weight" in params:
            kwargs["sample_weight"] = sample_weight
        if sample_weight is None or "sample_weight" in kwargs:
            if on_cell is not None:
                on_cell(0, len(codes) * len(ks) * n_init, "grid", 0)
            sel = select(X, n_components=ks, covariance_types=codes, **kwargs)
            if getattr(sel, "best_", None) is None:
                first = next((record_get(r, "error") for r in sel.table_
                              if record_get(r, "error")), "every fit failed")
                raise ValueError(f"no model could be fitted: {first}")
            if hasattr(sel.best_, "verbose"):
                sel.best_.verbose = 0  # progress logging was for this run only
            return sel
    return fit_grid(X, ks, codes, criterion=criterion, sample_weight=sample_weight,
                    n_init=n_init, random_state=random_state, on_cell=on_cell)


def selection_criterion(selection: Any, default: str = "bic") -> str:
    """The criterion a selection object ranked by."""
    for name in ("criterion", "criterion_"):
        value = getattr(selection, name, None)
        if isinstance(value, str) and value.lower() in CRITERIA:
            return value.lower()
    return default
