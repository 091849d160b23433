"""One self-contained HTML report of a model selection: tables, curves, parameters, plots.

Images are PNGs embedded as base64 ``data:`` URIs and the style sheet is
inline, so the file opens anywhere with no network. Figures are drawn on
``matplotlib.figure.Figure`` objects (no pyplot state, no display needed);
without matplotlib the report is written with its tables and a note.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from . import __version__
from ._grid import record_get, selection_criterion
from .covariance import get_model

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.best td{background:#fff3c4;font-weight:bold}
.answer{background:#eef6ee;border-left:4px solid #3a3;padding:.6em 1em}
.note{color:#666;font-size:.9em}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
"""

Drawer = Callable[[Any], None]
_MAX_MATRIX_FEATURES = 10


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not np.isfinite(x):
            return "–"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.{digits}g}"
        return f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1,
           highlight: int | None = None) -> str:
    h = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(c))}</th>'
                for i, c in enumerate(header))
    body = []
    for r_i, row in enumerate(rows):
        cls = ' class="best"' if r_i == highlight else ""
        cells = "".join(f'<td class="{"l" if i < left else ""}">{html.escape(_fmt(c))}</td>'
                        for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _png(draw: Drawer, size: tuple[float, float]) -> str:
    """Draw on a fresh Figure and return it as a base64 PNG ``<img>`` source."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(draw: Drawer, alt: str, size: tuple[float, float] = (7.0, 5.0)) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_png(draw, size)}">'


def _selection_grid(selection: Any, crit: str) -> str:
    """Criterion values as a models x k grid, the best cell bold."""
    recs = list(selection.table_)
    codes = list(dict.fromkeys(str(record_get(r, "covariance_type")) for r in recs))
    ks = sorted({int(record_get(r, "n_components")) for r in recs})
    val: dict[tuple[str, int], Any] = {}
    for r in recs:
        err = record_get(r, "error")
        val[(str(record_get(r, "covariance_type")), int(record_get(r, "n_components")))] = (
            "failed" if err not in (None, "") else record_get(r, crit))
    best = getattr(selection, "best_", None)
    bkey = (str(best.covariance_model_), int(best.means_.shape[0])) if best is not None else None
    head = "".join(f"<th>k={k}</th>" for k in ks)
    rows = []
    for code in codes:
        cells = []
        for k in ks:
            v = val.get((code, k))
            style = ' style="background:#fff3c4;font-weight:bold"' if (code, k) == bkey else ""
            text = v if isinstance(v, str) else ("–" if v is None else f"{float(v):.1f}")
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        rows.append(f'<tr><th class="l">{html.escape(code)}</th>{"".join(cells)}</tr>')
    return (f'<table><thead><tr><th class="l">{crit.upper()}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _records_table(selection: Any) -> str:
    fields = ["covariance_type", "n_components", "log_likelihood", "n_parameters", "bic",
              "aic", "icl", "converged", "n_iter", "error"]
    rows = [[record_get(r, f) for f in fields] for r in selection.table_]
    return _table(fields, rows, left=1)


def _parameters(model: Any, columns: Sequence[str]) -> str:
    k, d = model.means_.shape
    cov = get_model(model.covariance_model_).layout.full(model.covariances_, k, d)
    parts = [_table(["component", "weight", *columns],
                    [[j, model.weights_[j], *model.means_[j]] for j in range(k)])]
    if d > _MAX_MATRIX_FEATURES:
        parts.append(f'<p class="note">More than {_MAX_MATRIX_FEATURES} features: standard '
                     "deviations shown instead of full covariance matrices.</p>")
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        parts.append(_table(["component", *columns], [[j, *sd[j]] for j in range(k)]))
        return "".join(parts)
    for j in range(k):
        parts.append(f"<p>Covariance of component {j}:</p>")
        parts.append(_table(["", *columns], [[columns[a], *cov[j, a]] for a in range(d)]))
    return "".join(parts)


def build_report(
    X: Any,
    selection: Any,
    *,
    columns: Sequence[str] | None = None,
    title: str = "gaussmix report",
    comparison: Any = None,
    notes: Sequence[str] = (),
    max_plot_points: int = 20_000,
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data the selection was fitted on.
    selection : Selection
        From ``gaussmix.select`` (``best_``, ``table_``, criterion).
    columns : sequence of str, default=None
        Feature names.
    title : str, default="gaussmix report"
    comparison : Comparison, default=None
        From :func:`gaussmix.compare`; adds the k-means vs GMM section.
    notes : sequence of str
        Lines about the input (file, dropped rows, standardisation).
    max_plot_points : int, default=20000
        Scatter plots draw at most this many rows (a fixed random subset).

    Returns
    -------
    html : str

    Examples
    --------
    >>> from gaussmix import load_faithful
    >>> from gaussmix import select
    >>> from gaussmix.report import build_report
    >>> X, cols = load_faithful()
    >>> page = build_report(X, select(X, [1, 2], ["VVV"]), columns=cols)
    >>> page.startswith("<!DOCTYPE html>")
    True
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    cols = list(columns) if columns is not None else [f"x{j}" for j in range(d)]
    best = selection.best_
    crit = selection_criterion(selection)
    k = int(best.means_.shape[0])
    body = [f"<h1>{html.escape(title)}</h1>",
            (f'<p class="note">{n} rows × {d} features ({html.escape(", ".join(cols))}); '
             f"gaussmix {html.escape(__version__)}, "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>")]
    for line in notes:
        body.append(f'<p class="note">{html.escape(line)}</p>')
    answer = (f"Chosen by {crit.upper()}: <b>{html.escape(best.covariance_model_)}</b> with "
              f"<b>{k}</b> component{'s' if k != 1 else ''}.")
    if comparison is not None:
        answer += "<br>" + html.escape(comparison.answer)
    body.append(f'<p class="answer">{answer}</p>')

    try:
        import matplotlib  # noqa: F401

        have_mpl = True
        Xp = X
        if n > max_plot_points:
            # Plots show a fixed random subset: a scatter of millions of points is slow
            # to draw and no clearer. The selection and parameters use every row.
            keep = np.random.default_rng(0).choice(n, max_plot_points, replace=False)
            Xp = X[np.sort(keep)]
            body.append(f'<p class="note">Plots show a random {max_plot_points:,} of the '
                        f"{n:,} rows.</p>")
    except ImportError:  # pragma: no cover - depends on the environment
        have_mpl = False
        body.append('<p class="note">Plots need matplotlib: pip install "gaussmix[plot]".</p>')
    from . import plot as gplot

    body.append("<h2>Model selection</h2>")
    if have_mpl:
        body.append(_img(lambda f: gplot.plot_selection(selection, criterion="bic",
                                                        ax=f.add_subplot()),
                         "BIC against number of components, per covariance model"))
        if crit != "bic":
            body.append(_img(lambda f: gplot.plot_selection(selection, ax=f.add_subplot()),
                             f"{crit.upper()} curves"))
    body.append(_selection_grid(selection, crit))
    body.append("<details><summary>All fits</summary>" + _records_table(selection)
                + "</details>")

    body.append("<h2>Chosen model</h2>")
    body.append(f"<p>{html.escape(best.covariance_model_)}, {k} components, "
                f"{int(best._n_parameters())} free parameters, "
                f"converged: {_fmt(bool(best.converged_))}. Means and covariances are in "
                "the units the model was fitted in.</p>")
    body.append(_parameters(best, cols))
    if have_mpl:
        body.append("<h2>Plots</h2>")
        if d > 2:
            body.append('<p class="note">More than two features: drawn in the plane of the '
                        "first two principal axes, Gaussians projected onto it.</p>")
        body.append(_img(lambda f: gplot.plot_clusters(best, Xp, ax=f.add_subplot(),
                                                       columns=cols),
                         "clusters with 1 and 2 sigma ellipses"))
        body.append(_img(lambda f: gplot.plot_uncertainty(best, Xp, ax=f.add_subplot(),
                                                          columns=cols),
                         "classification uncertainty"))
        body.append(_img(lambda f: gplot.plot_density(best, Xp, ax=f.add_subplot(),
                                                      columns=cols),
                         "log-density contours"))
    if comparison is not None:
        body.append(f"<h2>k-means or GMM (k = {comparison.k})</h2>")
        rows = comparison.rows()
        body.append(_table(list(rows[0]), [list(r) for r in rows[1:]]))
        body.append("<p>Reasons:</p><ul>" + "".join(
            f"<li>{'✔' if r.favours_gmm else '–'} {html.escape(r.text)}</li>"
            for r in comparison.reasons) + "</ul>")
        if have_mpl:
            body.append(_img(lambda f: gplot.plot_comparison(
                comparison.kmeans, comparison.gmm, Xp, ax=f.subplots(1, 2), columns=cols),
                "k-means and GMM partitions side by side", size=(11.0, 4.5)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def write_report(path: str | os.PathLike[str], X: Any, selection: Any, **kwargs: Any) -> None:
    """Write :func:`build_report` to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    path : path-like
    X, selection, **kwargs
        As for :func:`build_report`.
    """
    from ._tabular import write_atomic

    page = build_report(X, selection, **kwargs)
    def _write(tmp: Any) -> None:
        tmp.write_text(page, encoding="utf-8")

    write_atomic(path, _write)
