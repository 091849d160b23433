"""The second half of ``gaussmix demo``: selection, verdict and report on built-in data.

For Old Faithful and the synthetic elongated set it selects the number of
components and covariance model by BIC, weighs k-means against the GMM at
that k, prints the answer, and writes one HTML report per data set.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, TextIO

from ._grid import CellCallback, select_models
from .compare import compare
from .datasets import load_faithful, make_elongated


def run_answer_demo(out: TextIO, seed: int = 0, output_dir: str | os.PathLike[str] | None = None,
                    on_cell: CellCallback | None = None) -> list[Path]:
    """Select, compare and report on ``faithful`` and the synthetic set; print the answers.

    Parameters
    ----------
    out : text stream
    seed : int, default=0
    output_dir : path-like, default=None
        Folder for the reports; a new temporary folder when ``None``.
    on_cell : callable, default=None
        Progress callback ``(i, total, model, k)`` for every fit of the grid.

    Returns
    -------
    paths : list of Path
        The reports written.
    """
    from .report import write_report

    folder = Path(output_dir) if output_dir is not None else Path(
        tempfile.mkdtemp(prefix="gaussmix-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    X_e, _ = make_elongated(random_state=seed)
    X_f, cols_f = load_faithful()
    cases: list[tuple[str, str, Any, list[str]]] = [
        ("faithful", "Old Faithful geyser (272 x 2)", X_f, cols_f),
        ("synthetic", "synthetic elongated clusters (900 x 2)", X_e, ["x0", "x1"]),
    ]
    print("How many clusters, which covariance model, and k-means or a GMM?\n", file=out)
    paths = []
    for key, title, X, cols in cases:
        sel = select_models(X, range(1, 10), "all", criterion="bic", random_state=seed,
                            on_cell=on_cell)
        best = sel.best_
        k = int(best.means_.shape[0])
        result = compare(X, k, random_state=seed, gmm=best) if k >= 2 else None
        path = folder / f"gaussmix-demo-{key}.html"
        write_report(path, X, sel, columns=cols, comparison=result,
                     title=f"gaussmix demo: {title}")
        paths.append(path)
        print(f"{title}", file=out)
        print(f"  BIC chooses {best.covariance_model_} with {k} components.", file=out)
        if result is not None:
            print(f"  {result.answer}", file=out)
            for r in result.reasons:
                print(f"    {'+' if r.favours_gmm else '-'} {r.text}", file=out)
        print(f"  Report: {path}\n", file=out)
    return paths
