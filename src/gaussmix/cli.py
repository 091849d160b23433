"""Command line: ``gaussmix fit | predict | compare | report | demo``.

A thin layer over the library: parse arguments, read the table, call the
library, print and write results. Heavy modules (pandas, matplotlib) are
imported inside the commands that use them. Errors end the command with one
line on stderr and a non-zero exit status (``--debug`` shows the traceback);
outputs are written to a temporary file and renamed, never over an input.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Progress:
    """Progress on stderr for work that lasts: grid cell, EM iteration, objective.

    Silent for the first ``delay`` seconds (quick commands print nothing) and
    then at most one line every ``every`` seconds. EM iterations arrive through
    the ``gaussmix`` logger at DEBUG level, which :meth:`attach` listens to.
    """

    def __init__(self, quiet: bool, stream: TextIO | None = None, delay: float = 1.0,
                 every: float = 0.5) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.delay, self.every = delay, every
        self.t0 = time.monotonic()
        self.last = -1e9
        self.context = ""
        self.grid_total = self.grid_done = 0

    def say(self, msg: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if force or (now - self.t0 >= self.delay and now - self.last >= self.every):
            self.last = now
            print(f"[gaussmix {now - self.t0:5.1f}s] {msg}", file=self.stream, flush=True)

    def cell(self, i: int, total: int, code: str, k: int) -> None:
        """A grid cell starts; ``code == "grid"`` announces a grid of ``total`` EM runs."""
        if code == "grid":
            self.grid_total, self.grid_done = total, 0
            self.context = f"selection: 0/{total} EM runs done"
        else:
            self.grid_total = 0
            self.context = f"fit {i + 1}/{total}: {code} k={k}"
        self.say(self.context)

    def _record(self, msg: str) -> None:
        # With the library's select, each finished fit logs "init <i>: objective ...".
        if self.grid_total and msg.startswith("init ") and "objective" in msg:
            self.grid_done = min(self.grid_done + 1, self.grid_total)
            self.context = f"selection: {self.grid_done}/{self.grid_total} EM runs done"
            self.say(self.context)
        else:
            self.say(f"{self.context}: {msg}")

    def attach(self) -> tuple[logging.Logger, logging.Handler, int]:
        progress = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                progress._record(record.getMessage())

        logger = logging.getLogger("gaussmix")
        handler = _Handler(level=logging.DEBUG)
        old = logger.level
        logger.addHandler(handler)
        if not self.quiet:
            logger.setLevel(logging.DEBUG)
        return logger, handler, old


def _parse_k(text: str) -> list[int]:
    """``"3"``, ``"1..9"``, ``"1-9"`` or ``"2,4,6"`` as a list of positive ints."""
    t = text.strip()
    try:
        for sep in ("..", "-", ":"):
            if sep in t and not t.startswith(sep):
                lo, hi = (int(p) for p in t.split(sep, 1))
                ks = list(range(lo, hi + 1))
                break
        else:
            ks = [int(p) for p in t.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid -k {text!r}: use a number (3), a range (1..9) or a list (2,3,5)"
        ) from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"invalid -k {text!r}: components must be >= 1")
    return sorted(set(ks))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("--columns is empty")
    return cols


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="CSV, TSV, Parquet or .npy file")
    p.add_argument("--columns", type=_columns, default=None, metavar="A,B,C",
                   help="feature columns (default: every numeric column)")
    p.add_argument("--drop-na", action="store_true",
                   help="drop rows with missing values (reported) instead of failing")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--components", type=_parse_k, default=list(range(1, 10)),
                   metavar="K", help="components: 3, a range 1..9 (default) or a list 2,3,5")
    p.add_argument("--models", default="all", metavar="all|VVV,EEE,...",
                   help="covariance models (mclust codes or full/tied/diag/spherical)")
    p.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic")
    p.add_argument("--standardize", action="store_true",
                   help="scale every feature to mean 0, standard deviation 1 first")
    p.add_argument("--sample-weight", default=None, metavar="COL", help="weight column")
    p.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                   help="EM starts per fit (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    """The ``gaussmix`` argument parser."""
    parser = _Parser(prog="gaussmix",
                     description="Gaussian mixture models and k-means on your data.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit (and select) a mixture, save the model")
    _add_data(p)
    _add_fit_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    _add_common(p)

    p = sub.add_parser("predict", help="labels and memberships for rows of a table")
    p.add_argument("model", metavar="MODEL", help="model file from 'gaussmix fit'")
    p.add_argument("data", metavar="DATA", help="CSV, TSV, Parquet or .npy file")
    p.add_argument("--drop-na", action="store_true",
                   help="leave rows with missing values unlabelled instead of failing")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=".csv, .tsv or .parquet")
    p.add_argument("--proba", action="store_true", help="add proba_<j> columns")
    p.add_argument("--log-density", action="store_true", help="add a log_density column")
    p.add_argument("--uncertainty", action="store_true",
                   help="add an uncertainty column (1 - max responsibility)")
    _add_common(p)

    p = sub.add_parser("compare", help="k-means vs a GMM on the same data, with a verdict")
    _add_data(p)
    p.add_argument("-k", type=_positive_int, required=True, metavar="K",
                   help="number of clusters")
    p.add_argument("--labels", default=None, metavar="COL", help="known classes, for ARI")
    p.add_argument("--models", default="all", metavar="all|VVV,EEE,...")
    p.add_argument("--standardize", action="store_true")
    p.add_argument("--n-init", type=_positive_int, default=3, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    _add_common(p)

    p = sub.add_parser("report", help="self-contained HTML report of a model selection")
    _add_data(p)
    _add_fit_options(p)
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="report file to write")
    p.add_argument("--no-compare", action="store_true", help="leave out k-means vs GMM")
    _add_common(p)

    p = sub.add_parser("warmup", help="compile the numba kernels now (cached for later runs)")
    _add_common(p)

    p = sub.add_parser("demo", help="the whole answer on built-in data")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--output-dir", default=None, metavar="DIR",
                   help="where to write the reports (default: a new temporary folder)")
    _add_common(p)
    return parser


# ------------------------------------------------------------------ helpers
def _note(msg: str) -> None:
    print(f"gaussmix: {msg}", file=sys.stderr)


def _read(args: argparse.Namespace, extra: dict[str, str] | None = None,
          ks: Sequence[int] = ()) -> Any:
    """Read DATA; check the row count against ``ks`` before printing notes (so an
    error is the only line on stderr)."""
    from ._tabular import read_table

    table = read_table(args.data, args.columns, drop_na=args.drop_na, extra=extra)
    if ks:
        _check_ks(ks, table.X.shape[0])
    for n in table.notes:
        _note(n)
    return table


def _prepare(args: argparse.Namespace, table: Any) -> tuple[Any, Any]:
    from ._modelfile import Preprocessing

    prep = Preprocessing.fit(table.X, table.columns, getattr(args, "standardize", False))
    return prep, prep.transform(table.X)


def _check_ks(ks: Sequence[int], n_rows: int) -> None:
    from ._tabular import DataError

    if max(ks) > n_rows:
        raise DataError(f"-k asks for up to {max(ks)} components but the data has only "
                        f"{n_rows} row(s)")


def _select(args: argparse.Namespace, table: Any, Z: Any, progress: Progress) -> Any:
    from ._grid import select_models

    w = table.extra.get("sample_weight")
    return select_models(Z, args.components, args.models, criterion=args.criterion,
                         sample_weight=w, n_init=args.n_init, random_state=args.seed,
                         on_cell=progress.cell)


def format_selection(selection: Any) -> str:
    """Criterion grid (models x k) as text, the chosen cell starred."""
    from ._grid import record_get, selection_criterion

    crit = selection_criterion(selection)
    best = selection.best_
    bkey = (str(best.covariance_model_), int(best.means_.shape[0]))
    codes = list(dict.fromkeys(str(record_get(r, "covariance_type")) for r in selection.table_))
    ks = sorted({int(record_get(r, "n_components")) for r in selection.table_})
    cells: dict[tuple[str, int], str] = {}
    for r in selection.table_:
        key = (str(record_get(r, "covariance_type")), int(record_get(r, "n_components")))
        v = record_get(r, crit)
        err = record_get(r, "error")
        text = "failed" if err not in (None, "") or v is None else f"{float(v):.1f}"
        cells[key] = text + ("*" if key == bkey else "")
    width = max([len(s) for s in cells.values()] + [6]) + 1
    lines = [f"{crit.upper()} (lower is better; * = chosen)",
             "model " + "".join(f"{'k=' + str(k):>{width}}" for k in ks)]
    for code in codes:
        lines.append(f"{code:<6}" + "".join(f"{cells.get((code, k), ''):>{width}}" for k in ks))
    return "\n".join(lines)


def format_model(model: Any, prep: Any) -> str:
    """The chosen model: code, k, weights and means in the input's units."""
    import numpy as np

    k = model.means_.shape[0]
    means = model.means_ * prep.scale + prep.center
    cols = prep.columns
    w0 = max(len("component"), 9)
    head = f"  {'component':<{w0}} {'weight':>8} " + " ".join(f"{c[:12]:>12}" for c in cols)
    lines = [f"Chosen model: {model.covariance_model_} with {k} component(s)"
             + (" (fitted on standardized features)" if prep.standardized else ""),
             "Means in the input's units:", head]
    for j in np.argsort(-model.weights_):
        lines.append(f"  {j:<{w0}} {model.weights_[j]:>8.3f} "
                     + " ".join(f"{v:>12.4g}" for v in means[j]))
    return "\n".join(lines)


# ------------------------------------------------------------------ commands
def _cmd_fit(args: argparse.Namespace, progress: Progress) -> int:
    from ._grid import resolve_models
    from ._modelfile import save_model
    from ._tabular import check_output

    resolve_models(args.models)  # unknown codes fail before any reading
    check_output(args.output, [args.data])
    extra = {"sample_weight": args.sample_weight} if args.sample_weight else None
    table = _read(args, extra, args.components)
    prep, Z = _prepare(args, table)
    sel = _select(args, table, Z, progress)
    print(format_selection(sel))
    print()
    print(format_model(sel.best_, prep))
    save_model(args.output, sel.best_, prep)
    print(f"\nModel saved to {args.output}")
    return 0


def _cmd_predict(args: argparse.Namespace, progress: Progress) -> int:
    import numpy as np

    from ._modelfile import load_model
    from ._tabular import DataError, check_output, file_kind, read_table, write_table

    check_output(args.output, [args.data, args.model])
    if file_kind(args.output) == "npy":
        raise DataError(f"{args.output}: write predictions to .csv, .tsv or .parquet")
    model, prep = load_model(args.model)
    if file_kind(args.data) == "npy":
        table = read_table(args.data, None, drop_na=args.drop_na)
        if table.X.shape[1] != len(prep.columns):
            raise DataError(f"{args.data}: has {table.X.shape[1]} column(s); the model was "
                            f"fitted on {len(prep.columns)}")
    else:
        table = read_table(args.data, prep.columns, drop_na=args.drop_na)
    for note in table.notes:
        _note(note)
    import pandas as pd

    Z = prep.transform(table.X)
    frame = table.frame
    out = (pd.DataFrame(frame, columns=[f"x{j}" for j in range(frame.shape[1])])
           if isinstance(frame, np.ndarray) else frame.copy())
    n, kept = table.n_rows, table.kept

    def put(name: str, values: np.ndarray, integer: bool = False) -> None:
        col = name
        while col in out.columns:
            col += "_gaussmix"
        full: Any = (pd.array(np.zeros(n, dtype=np.int64), dtype="Int64") if integer
                     else np.full(n, np.nan))
        if integer:
            full[:] = pd.NA
        full[kept] = values
        out[col] = full

    put("cluster", model.predict(Z), integer=True)
    if args.proba:
        proba = model.predict_proba(Z)
        for j in range(proba.shape[1]):
            put(f"proba_{j}", proba[:, j])
    if args.log_density:
        put("log_density", model.score_samples(Z) - float(np.sum(np.log(prep.scale))))
    if args.uncertainty:
        put("uncertainty", 1.0 - model.predict_proba(Z).max(axis=1))
    write_table(args.output, out)
    print(f"Wrote {len(kept)} labelled row(s) of {n} to {args.output}")
    return 0


def _cmd_compare(args: argparse.Namespace, progress: Progress) -> int:
    from ._grid import resolve_models
    from .compare import compare

    resolve_models(args.models)
    extra = {"labels": args.labels} if args.labels else None
    table = _read(args, extra, [args.k])
    _, Z = _prepare(args, table)
    progress.context = f"compare k={args.k}"
    result = compare(Z, args.k, labels=table.extra.get("labels"), covariance_types=args.models,
                     n_init=args.n_init, random_state=args.seed)
    print(f"k-means vs GMM, k = {args.k}, on {Z.shape[0]} rows x {Z.shape[1]} features "
          f"({', '.join(table.columns)})")
    print(result.summary())
    return 0


def _cmd_report(args: argparse.Namespace, progress: Progress) -> int:
    from ._grid import resolve_models
    from ._tabular import check_output
    from .report import write_report

    resolve_models(args.models)
    check_output(args.output, [args.data])
    extra = {"sample_weight": args.sample_weight} if args.sample_weight else None
    table = _read(args, extra, args.components)
    prep, Z = _prepare(args, table)
    sel = _select(args, table, Z, progress)
    comparison = None
    k = int(sel.best_.means_.shape[0])
    if not args.no_compare and k >= 2:
        from .compare import compare

        progress.context = f"compare k={k}"
        comparison = compare(Z, k, random_state=args.seed, gmm=sel.best_,
                             sample_weight=table.extra.get("sample_weight"))
    notes = [f"Data: {args.data}"] + table.notes
    if prep.standardized:
        notes.append("Features standardized to mean 0 and standard deviation 1 before fitting.")
    progress.say("drawing the report")
    write_report(args.output, Z, sel, columns=table.columns, comparison=comparison,
                 notes=notes, title=f"gaussmix report: {args.data}")
    print(format_selection(sel))
    print()
    print(format_model(sel.best_, prep))
    if comparison is not None:
        print("\n" + comparison.answer)
    print(f"\nReport written to {args.output}")
    return 0


def _cmd_demo(args: argparse.Namespace, progress: Progress) -> int:
    from .demo import run_demo
    from .demo_report import run_answer_demo

    progress.context = "demo: k-means vs GMM table"
    run_demo(sys.stdout, seed=args.seed)
    print()
    run_answer_demo(sys.stdout, seed=args.seed, output_dir=args.output_dir,
                    on_cell=progress.cell)
    return 0


def _cmd_warmup(args: argparse.Namespace, progress: Progress) -> int:
    from .warmup import warmup

    progress.quiet = True  # the tiny fits' iterations are not news
    for dtype, seconds in warmup().items():
        print(f"{dtype}: kernels ready in {seconds:.2f} s")
    return 0


_COMMANDS = {"fit": _cmd_fit, "predict": _cmd_predict, "compare": _cmd_compare,
             "report": _cmd_report, "demo": _cmd_demo, "warmup": _cmd_warmup}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns
    -------
    status : int
        0 on success, 1 on a data or model error, 2 on a usage error.
    """
    args = build_parser().parse_args(argv)
    progress = Progress(quiet=getattr(args, "quiet", False))
    logger, handler, old_level = progress.attach()

    def _show(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
        if not progress.quiet:
            text = message if isinstance(message, Warning) else Warning(message)
            _note(f"warning: {_one_line(text)}")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show
            return _COMMANDS[args.command](args, progress)
    except KeyboardInterrupt:
        print(f"gaussmix {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError, ArithmeticError) as exc:
        if args.debug:
            raise
        print(f"gaussmix {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
