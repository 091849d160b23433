"""Tables in and out for the command line: CSV, TSV, Parquet and ``.npy``.

Reading picks the numeric feature columns, names what it skipped and why,
and refuses missing or non-numeric values with a message that says where.
Writing goes to a temporary file in the target's folder and is renamed into
place, so a failure never leaves a half-written or clobbered output.
pandas (and pyarrow for Parquet) are imported only here, only when used.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv",
                  ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}


#: Extra columns read as class labels (any dtype) rather than numbers.
CATEGORICAL_ROLES = frozenset({"labels"})


class DataError(ValueError):
    """Input data that cannot be used, with a one-line reason."""


@dataclass
class Table:
    """Feature matrix read from a file plus what the command line needs about it.

    Attributes
    ----------
    X : ndarray of shape (n_kept, n_features)
        Numeric features, float64, rows with missing values removed if asked.
    columns : list of str
        Feature names (``x0, x1, ...`` for ``.npy``).
    frame : pandas.DataFrame or ndarray
        The whole input as read (all rows, all columns), for writing outputs
        next to it.
    kept : ndarray of shape (n_kept,)
        Indices into the input's rows of the rows in ``X``.
    extra : dict of str to ndarray
        Named non-feature columns requested (labels, sample weights), restricted
        to ``kept`` rows.
    notes : list of str
        Things the user should be told (skipped columns, dropped rows).
    """

    X: np.ndarray
    columns: list[str]
    frame: Any
    kept: np.ndarray
    n_rows: int
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def file_kind(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; "
            "use .csv, .tsv, .parquet or .npy"
        )
    return TABLE_SUFFIXES[suffix]


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise DataError(
            "reading and writing tables needs pandas: pip install 'gaussmix[cli]'"
        ) from None
    return pd


def _read_frame(path: Path, kind: str) -> Any:
    pd = _pandas()
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        sep = "\t" if kind == "tsv" else ","
        return pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse as {kind}: {first}") from None


def _first_non_numeric(values: Any) -> tuple[int, str] | None:
    """Row and text of the first non-empty value that does not parse as a number."""
    pd = _pandas()
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna().to_numpy() & values.notna().to_numpy()
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return i, str(values.iloc[i])


def _is_numeric(series: Any) -> bool:
    pd = _pandas()
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _numeric_column(frame: Any, name: str, path: Path, role: str) -> np.ndarray:
    if name not in frame.columns:
        known = ", ".join(map(str, frame.columns))
        raise DataError(f"{path}: no column {name!r} ({role}); columns are: {known}")
    col = frame[name]
    if not _is_numeric(col):
        bad = _first_non_numeric(col)
        if bad is not None:
            row, text = bad
            raise DataError(
                f"{path}: column {name!r} ({role}) is not numeric: "
                f"value {text!r} at data row {row + 1}"
            )
    return np.asarray(col, dtype=np.float64)


def read_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    drop_na: bool = False,
    extra: dict[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> Table:
    """Read a table and pick its numeric feature columns.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.tsv``, ``.parquet`` or ``.npy`` (2-D numeric, or 1-D as
        one column).
    columns : sequence of str, default=None
        Feature columns; ``None`` takes every numeric column not named in
        ``extra`` or ``exclude`` (skipped non-numeric columns are noted).
    drop_na : bool, default=False
        Drop rows with a missing value in a used column (noted) instead of
        raising.
    extra : dict of role to column name, default=None
        Other numeric columns to read (``{"labels": "species"}``); they are
        never features.
    exclude : sequence of str
        Columns that are never features.

    Raises
    ------
    DataError
        One line naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file")
    kind = file_kind(path)
    extra = dict(extra or {})
    notes: list[str] = []
    if kind == "npy":
        if extra:
            raise DataError(f"{path}: .npy files have no named columns for "
                            + ", ".join(f"--{r.replace('_', '-')}" for r in extra))
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise DataError(f"{path}: expected a 1-D or 2-D array, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.bool_)):
            raise DataError(f"{path}: array dtype {arr.dtype} is not numeric")
        all_names = [f"x{j}" for j in range(arr.shape[1])]
        if columns is not None:
            unknown = [c for c in columns if c not in all_names]
            if unknown:
                raise DataError(f"{path}: no column {unknown[0]!r}; .npy columns are "
                                f"named x0..x{arr.shape[1] - 1}")
            idx = [all_names.index(c) for c in columns]
        else:
            idx = list(range(arr.shape[1]))
        names = [all_names[j] for j in idx]
        X = np.asarray(arr[:, idx], dtype=np.float64)
        frame: Any = arr
        extras: dict[str, np.ndarray] = {}
    else:
        frame = _read_frame(path, kind)
        frame.columns = [str(c) for c in frame.columns]
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise DataError(f"{path}: the file has no data rows")
        not_features = set(extra.values()) | set(exclude)
        if columns is None:
            names, skipped = [], []
            for c in frame.columns:
                if c in not_features:
                    continue
                col = frame[c]
                if _is_numeric(col):
                    names.append(c)
                    continue
                try:
                    bad = _first_non_numeric(col)
                except (TypeError, ValueError):  # dates, categories: not numbers at all
                    bad = None
                if bad is not None:
                    parsed = _pandas().to_numeric(col, errors="coerce")
                    if float(parsed.notna().sum()) >= 0.5 * float(col.notna().sum()):
                        # Mostly numbers with a few bad entries: a data error, not a label.
                        raise DataError(
                            f"{path}: column {c!r} has a non-numeric value {bad[1]!r} "
                            f"at data row {bad[0] + 1}"
                        )
                skipped.append(c)
            if skipped:
                notes.append("skipped non-numeric column(s): " + ", ".join(skipped)
                             + " (choose columns with --columns)")
            if not names:
                raise DataError(f"{path}: no numeric columns"
                                + (f" (non-numeric: {', '.join(skipped)})" if skipped else ""))
        else:
            names = list(columns)
            if len(set(names)) != len(names):
                raise DataError(f"--columns names a column twice: {', '.join(names)}")
        X = np.column_stack([_numeric_column(frame, c, path, "feature") for c in names])
        extras = {}
        for role, c in extra.items():
            if role in CATEGORICAL_ROLES:
                if c not in frame.columns:
                    raise DataError(f"{path}: no column {c!r} ({role}); columns are: "
                                    + ", ".join(map(str, frame.columns)))
                # Any dtype names classes; missing labels become their own class.
                codes = _pandas().factorize(frame[c], use_na_sentinel=False)[0]
                extras[role] = codes.astype(np.float64)
            else:
                extras[role] = _numeric_column(frame, c, path, role.replace("_", " "))
    n_rows = X.shape[0]
    if n_rows == 0:
        raise DataError(f"{path}: the file has no data rows")
    checked = np.column_stack([X, *extras.values()]) if extras else X
    check_names = names + [extra[r] for r in extras]
    inf = np.isinf(checked)
    if inf.any():
        r, c = np.argwhere(inf)[0]
        raise DataError(f"{path}: column {check_names[c]!r} has an infinite value "
                        f"at data row {r + 1}")
    na_rows = np.isnan(checked).any(axis=1)
    if na_rows.any():
        r, c = np.argwhere(np.isnan(checked))[0]
        n_na = int(na_rows.sum())
        if not drop_na:
            raise DataError(
                f"{path}: {n_na} row(s) have missing values (first: column "
                f"{check_names[c]!r}, data row {r + 1}); pass --drop-na to drop them"
            )
        notes.append(f"dropped {n_na} of {n_rows} row(s) with missing values (--drop-na)")
    kept = np.flatnonzero(~na_rows)
    if kept.size == 0:
        raise DataError(f"{path}: every row has a missing value")
    return Table(
        X=X[kept], columns=names, frame=frame, kept=kept, n_rows=n_rows,
        extra={r: v[kept] for r, v in extras.items()}, notes=notes,
    )


def check_output(out: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]]) -> Path:
    """Refuse an output path that is one of the inputs or in a missing folder."""
    out_p = Path(out)
    for inp in inputs:
        inp_p = Path(inp)
        if out_p.resolve() == inp_p.resolve() or (
            out_p.exists() and inp_p.exists() and os.path.samefile(out_p, inp_p)
        ):
            raise DataError(f"{out}: refusing to overwrite the input file")
    if out_p.is_dir():
        raise DataError(f"{out}: is a folder; give a file name")
    if not out_p.resolve().parent.is_dir():
        raise DataError(f"{out}: folder {out_p.parent} does not exist")
    return out_p


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary keeps the target's suffix (some writers pick the format
    from it) and is removed if the body raises.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}",
                               dir=target.resolve().parent)
    os.close(fd)
    tmp_p = Path(tmp)
    try:
        yield tmp_p
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_p, 0o666 & ~umask)
        os.replace(tmp_p, target)
    except BaseException:
        tmp_p.unlink(missing_ok=True)
        raise


def write_atomic(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` then rename the result onto ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)


def write_table(target: str | os.PathLike[str], frame: Any) -> None:
    """Write a DataFrame atomically as CSV, TSV or Parquet, chosen by extension."""
    kind = file_kind(target)
    if kind == "npy":
        raise DataError(f"{target}: write predictions to .csv, .tsv or .parquet")

    def _write(tmp: Path) -> None:
        if kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, sep="\t" if kind == "tsv" else ",", index=False)

    write_atomic(target, _write)
