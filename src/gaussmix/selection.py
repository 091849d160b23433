"""Model selection over numbers of components x covariance models, by BIC / AIC / ICL.

``select`` fits one :class:`~gaussmix.GaussianMixture` per cell of the grid
(as R's ``Mclust`` does), starting every cell from one shared hierarchical
tree by default, and returns a :class:`Selection` with the table of scores
and the best fitted model. A cell that fails (singular or degenerate
covariance, a component emptied, too few distinct rows) is recorded with its
reason instead of aborting the selection.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._validation import check_sample_weight, check_X
from .collapse import CollapseWarning
from .covariance import MODELS, canonical_name, get_model
from .estep import log_resp
from .execution import iter_slices, resolve_chunk_size
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic", "icl")

#: A fitted covariance whose smallest eigenvalue (less ``reg_covar``) is below
#: this fraction of the data's mean variance counts as degenerate: its
#: likelihood is unbounded noise, not a model (mclust reports such cells as NA).
DEGENERATE_TOL = float(np.sqrt(np.finfo(np.float64).eps))

_COLUMNS = (
    "covariance_type", "n_components", "log_likelihood", "n_parameters",
    "bic", "aic", "icl", "converged", "n_iter", "error",
)


class Selection:
    """Result of :func:`select`: a table of fits and the best one.

    Attributes
    ----------
    best_ : GaussianMixture or None
        The fitted model minimising ``criterion`` (``None`` if every cell failed).
    table_ : list of dict
        One record per (covariance_type, n_components) with keys
        ``covariance_type``, ``n_components``, ``log_likelihood``,
        ``n_parameters``, ``bic``, ``aic``, ``icl`` (lower is better; NaN for a
        failed cell), ``converged``, ``n_iter`` and ``error`` (``None``, or why
        the cell failed).
    criterion : str
        ``"bic"``, ``"aic"`` or ``"icl"``.

    Examples
    --------
    >>> from gaussmix import load_faithful, select
    >>> X, _ = load_faithful()
    >>> sel = select(X, n_components=range(1, 4), covariance_types=["EEE", "VVV"])
    >>> sel.best_.covariance_model_, sel.best_.n_components
    ('EEE', 3)
    """

    def __init__(self, table: list[dict[str, Any]], best: GaussianMixture | None,
                 criterion: str) -> None:
        self.table_ = table
        self.best_ = best
        self.criterion = criterion

    def ranked(self) -> list[dict[str, Any]]:
        """Successful records, best (lowest criterion) first."""
        ok = [r for r in self.table_ if r["error"] is None]
        return sorted(ok, key=lambda r: r[self.criterion])

    @property
    def failed_(self) -> list[dict[str, Any]]:
        """Records of the cells that could not be fitted."""
        return [r for r in self.table_ if r["error"] is not None]

    def to_frame(self) -> Any:
        """The table as a ``pandas.DataFrame`` (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on environment
            raise ImportError("Selection.to_frame() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.table_, columns=list(_COLUMNS))

    def __repr__(self) -> str:
        top = self.ranked()[:5]
        crit = self.criterion
        lines = [f"Selection by {crit.upper()} (lower is better) over {len(self.table_)} fits"]
        if not top:
            lines.append("  every fit failed")
        else:
            lines.append(f"  {'model':<6}{'G':>3}{'logL':>14}{'params':>8}{crit.upper():>14}")
            for r in top:
                lines.append(
                    f"  {r['covariance_type']:<6}{r['n_components']:>3}"
                    f"{r['log_likelihood']:>14.3f}{r['n_parameters']:>8}{r[crit]:>14.3f}"
                )
        if self.failed_:
            lines.append(f"  {len(self.failed_)} fit(s) failed (see failed_)")
        return "\n".join(lines)


def _model_list(covariance_types: str | Iterable[str]) -> list[str]:
    if isinstance(covariance_types, str):
        if covariance_types == "all":
            return list(MODELS)
        return [canonical_name(covariance_types)]
    codes: list[str] = []
    for name in covariance_types:
        code = canonical_name(name)
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ValueError("covariance_types is empty")
    return codes


def _component_list(n_components: int | Iterable[int]) -> list[int]:
    values: list[Any] = (
        [n_components] if isinstance(n_components, Integral) else list(n_components)  # type: ignore[arg-type]
    )
    out: list[int] = []
    for k in values:
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"n_components must hold positive integers, got {k!r}")
        if int(k) not in out:
            out.append(int(k))
    if not out:
        raise ValueError("n_components is empty")
    return sorted(out)


def _scores(gm: GaussianMixture, X: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted log-likelihood, BIC, AIC and ICL of a fitted model in one pass.

    The sample size in BIC's ``log n`` is the total weight.
    """
    # X was validated once by select; skip the per-call input checks of _fitted.
    params, model = gm._get_params(), gm._fitted_model()
    shift = gm.weights_ @ gm.means_
    chunk = resolve_chunk_size(gm.chunk_size, gm.n_components, X.shape[1])
    loglik = map_term = 0.0
    for sl in iter_slices(X.shape[0], chunk):
        lse, lr = log_resp(X[sl], params, model, shift)
        loglik += float(w[sl] @ lse)
        map_term += float(w[sl] @ lr.max(axis=1))
    p = gm._n_parameters()
    n = float(w.sum())
    bic = -2.0 * loglik + p * np.log(n)
    return {"log_likelihood": loglik, "n_parameters": p, "bic": bic,
            "aic": -2.0 * loglik + 2.0 * p, "icl": bic - 2.0 * map_term}


def _degenerate(gm: GaussianMixture, data_var: float) -> str | None:
    """Reason if a fitted covariance has (numerically) collapsed, else None."""
    k, d = gm.means_.shape
    layout = get_model(gm.covariance_model_).layout
    eig = np.linalg.eigvalsh(layout.full(gm.covariances_, k, d))[:, 0] - gm.reg_covar
    bad = np.flatnonzero(eig <= DEGENERATE_TOL * data_var)
    if bad.size:
        j = int(bad[0])
        return (f"degenerate covariance: component {j} has variance {eig[j]:.3g} along "
                "some direction (collapsed onto too few points)")
    return None


def _fit_cell(
    cell: tuple[str, int], X: np.ndarray, sample_weight: Any, w: np.ndarray,
    params: dict[str, Any], tree: Any, data_var: float,
) -> tuple[dict[str, Any], GaussianMixture | None]:
    """Fit one (model, components) cell; a failure becomes the record's error."""
    code, k = cell
    gm = GaussianMixture(n_components=k, covariance_type=code, **params)
    gm._hc_tree = tree
    record: dict[str, Any] = {"covariance_type": code, "n_components": k}
    try:
        if k > X.shape[0]:
            raise ValueError(f"{k} components for {X.shape[0]} rows")
        gm.fit(X, sample_weight=sample_weight)
        kept = gm.means_.shape[0]
        if kept != k:
            raise FloatingPointError(
                f"collapsed: {k - kept} of {k} components were dropped (see the "
                "fit's fit_history_); this model cannot hold that many components here"
            )
        reason = _degenerate(gm, data_var)
        if reason is not None:
            raise FloatingPointError(reason)
        scores = _scores(gm, X, w)
        if not np.isfinite(scores["log_likelihood"]):
            raise FloatingPointError("log-likelihood is not finite")
    except Exception as exc:  # noqa: BLE001 - one bad cell must not sink the grid
        record.update({c: np.nan for c in ("log_likelihood", "bic", "aic", "icl")})
        record.update({"n_parameters": None, "converged": False,
                       "n_iter": getattr(gm, "n_iter_", 0),
                       "error": f"{type(exc).__name__}: {exc}"})
        return record, None
    record.update(scores)
    record.update({"converged": bool(gm.converged_), "n_iter": int(gm.n_iter_),
                   "error": None})
    return record, gm


def _remote_cell(
    cell: tuple[str, int], X: np.ndarray, sample_weight: Any, w: np.ndarray,
    params: dict[str, Any], tree: Any, data_var: float,
) -> tuple[dict[str, Any], GaussianMixture | None]:
    """A cell as a task on a worker: BLAS on one thread, warnings kept local."""
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", CollapseWarning)
        return _fit_cell(cell, X, sample_weight, w, params, tree, data_var)


def _distributed_client(X: Any) -> Any:
    """The active ``distributed`` client when ``X`` is a Dask collection, else None."""
    from .execution.sources import is_dask_collection

    if not is_dask_collection(X):
        return None
    try:
        from distributed import get_client
    except ImportError:  # plain dask: cells run here, on the computed rows
        return None
    try:
        return get_client()
    except ValueError:  # no client started
        return None


def _fit_cells_on_cluster(
    client: Any, cells: list[tuple[str, int]], X: np.ndarray, sample_weight: Any,
    w: np.ndarray, params: dict[str, Any], tree: Any, data_var: float,
) -> list[tuple[dict[str, Any], GaussianMixture | None]]:
    """Every cell as a concurrent task on the cluster; the rows are sent once."""
    X_f, w_f, sw_f = client.scatter([X, w, sample_weight], broadcast=True)
    futures = [
        client.submit(_remote_cell, cell, X_f, sw_f, w_f, params, tree, data_var,
                      key=f"gaussmix-select-{code}-{k}-{id(cells)}", pure=False)
        for cell in cells
        for code, k in [cell]
    ]
    return client.gather(futures)  # type: ignore[no-any-return]


def select(
    X: Any,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_types: str | Iterable[str] = "all",
    criterion: str = "bic",
    sample_weight: Any = None,
    **gmm_params: Any,
) -> Selection:
    """Fit Gaussian mixtures over a grid and choose one by BIC, AIC or ICL.

    Every (covariance model, number of components) cell is one
    :class:`GaussianMixture` fit. By default cells start and stop as R's
    ``Mclust`` does: from mclust's model-based hierarchical tree
    (``init_params="hc"``), built once and cut at each number of components,
    until ``|ΔL| / (1 + |L|) < 1e-5``. A cell that cannot be
    fitted (singular or degenerate covariance, too few distinct rows) gets no
    score and its reason in the table; it never aborts the selection.

    When ``X`` is a Dask array or DataFrame and a ``distributed`` client is
    active, the rows are computed and sent to the workers once, and every
    cell runs as its own task there, concurrently; the table is the same as
    in memory. (The cells of a grid need the rows in memory, so this is for
    many cells on moderate data; a single huge fit streams its blocks instead.)

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or a Dask collection
    n_components : int or iterable of int, default=range(1, 10)
    covariance_types : "all", str or iterable of str, default="all"
        mclust codes (``"EII"`` ... ``"VVV"``) or scikit-learn aliases;
        ``"all"`` is the 14 models.
    criterion : {"bic", "aic", "icl"}, default="bic"
        All three are computed (lower is better, scikit-learn's sign);
        this one picks ``best_``.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights; the log-likelihood is weighted and BIC's sample size is
        the total weight.
    **gmm_params
        Passed to every :class:`GaussianMixture` (e.g. ``tol``, ``reg_covar``,
        ``stopping``, ``max_iter``, ``random_state``, ``n_jobs``). Defaults are
        GaussianMixture's except mclust's start and stopping rule
        (``init_params="hc", stopping="relative", tol=1e-5, max_iter=1000``) and
        ``n_jobs=1`` (row-chunk threads pay off only for large data). To
        reproduce mclust exactly add ``reg_covar=0, on_collapse="off"``.

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        For invalid ``X``, grid, criterion or ``gmm_params`` (checked before
        any fit).

    Examples
    --------
    >>> from gaussmix import load_iris, select
    >>> X, _, _ = load_iris()
    >>> sel = select(X, reg_covar=0, on_collapse="off")
    >>> sel.best_.covariance_model_, sel.best_.n_components
    ('VEV', 2)
    >>> print(round(sel.ranked()[0]["bic"], 3))
    561.728
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    client = _distributed_client(X)
    for fixed in ("n_components", "covariance_type"):
        if fixed in gmm_params:
            raise ValueError(f"{fixed} is set by the grid; do not pass it in gmm_params")
    models = _model_list(covariance_types)
    ks = _component_list(n_components)
    # Defaults differ from GaussianMixture's: mclust's hierarchical start and
    # stopping rule (scores are compared across cells, so fits must be converged,
    # not stopped early), and one thread per fit (a grid is many small fits,
    # where chunk threads cost more than they save; pass n_jobs for big data).
    params = {"init_params": "hc", "stopping": "relative", "tol": 1e-5, "max_iter": 1000,
              "n_jobs": 1, **gmm_params}
    proto = GaussianMixture(**params)
    proto._validate_params()
    if client is not None:
        X = X.compute() if hasattr(X, "compute") else X  # cells need the rows in memory
        X = X.to_numpy() if hasattr(X, "to_numpy") else X
    X = check_X(proto, X, reset=True, min_samples=2)
    w = check_sample_weight(sample_weight, X)
    data_var = float(np.mean(np.var(X, axis=0)))

    tree = None
    if params["init_params"] == "hc" and params.get("resp_init") is None:
        from .hc import hc_tree

        tree = hc_tree(X, random_state=check_random_state(params.get("random_state")))

    cells = [(code, k) for code in models for k in ks]
    # Cells are many small-matrix fits: one BLAS thread avoids oversubscription
    # (each fit spreads its row chunks over ``n_jobs`` threads itself).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # Per-cell warnings would flood; convergence is in the table, collapse
        # repairs in each fit's fit_history_, dropped components as the cell's error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", CollapseWarning)
        if client is None:
            results = [_fit_cell(c, X, sample_weight, w, params, tree, data_var) for c in cells]
        else:
            results = _fit_cells_on_cluster(client, cells, X, sample_weight, w, params, tree,
                                            data_var)

    table = [r for r, _ in results]
    best: GaussianMixture | None = None
    best_score = np.inf
    for record, gm in results:
        if gm is not None and record[criterion] < best_score:
            best, best_score = gm, record[criterion]
    if best is not None:
        del best._hc_tree  # only a start-up aid; the fitted model must not hold the tree
    return Selection([{c: r.get(c) for c in _COLUMNS} for r in table], best, criterion)
