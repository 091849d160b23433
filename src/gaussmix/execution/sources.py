"""Block sources: tables of rows read one block at a time.

A source yields ``(offset, X_block, w_block)`` for consecutive row blocks;
:meth:`BlockSource.map_sum` sums ``fn(X_block, w_block)`` over them, which is
one pass over the data. Memory is bounded by the block size, never by the
number of rows. Sources for files import their readers (pyarrow, pandas) only
when used.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .chunks import current_n_jobs, iter_slices, thread_pool

T = TypeVar("T")

Block = tuple[np.ndarray, "np.ndarray | None"]


def _as_float_block(X: np.ndarray) -> np.ndarray:
    """Keep float32 and float64 as they are (like in-memory input); else float64."""
    if X.dtype == np.float64 or X.dtype == np.float32:
        return X
    return X.astype(np.float64)


def _rebatch(blocks: Iterator[Block], chunk_size: int) -> Iterator[Block]:
    """Blocks of exactly ``chunk_size`` rows (the last may be shorter).

    Readers return batches of their own sizes (Parquet row groups); cutting
    them to the chunk size makes every source sum its blocks in the same
    order as the in-memory path, so results agree bit for bit.
    """
    xs: list[np.ndarray] = []
    ws: list[np.ndarray | None] = []
    held = 0
    for X, w in blocks:
        if not xs and X.shape[0] == chunk_size:
            yield X, w
            continue
        xs.append(X)
        ws.append(w)
        held += X.shape[0]
        while held >= chunk_size:
            Xa = np.concatenate(xs)
            wa: np.ndarray | None = None if ws[0] is None else np.concatenate(ws)  # type: ignore[arg-type]
            yield Xa[:chunk_size], None if wa is None else wa[:chunk_size]
            xs, ws = [Xa[chunk_size:]], [None if wa is None else wa[chunk_size:]]
            held -= chunk_size
    if held:
        yield np.concatenate(xs), None if ws[0] is None else np.concatenate(ws)  # type: ignore[arg-type]


class BlockSource(ABC):
    """Rows of a data set read in blocks; one :meth:`map_sum` is one pass.

    Subclasses implement :meth:`_read` (blocks of rows and, optionally, of a
    weight column) and set ``n_features`` and ``feature_names``.

    Parameters
    ----------
    sample_weight : array-like of shape (n_rows,), default=None
        Weight of every row, aligned with the source's row order. Overrides
        a weight column.
    """

    n_features: int
    feature_names: list[str] | None = None

    def __init__(self, sample_weight: Any = None) -> None:
        self.sample_weight = None if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float64
        )
        if self.sample_weight is not None and self.sample_weight.ndim != 1:
            raise ValueError(
                f"sample_weight must be 1-D, got shape {self.sample_weight.shape}"
            )

    # -- to implement ------------------------------------------------------
    @abstractmethod
    def _read(self, chunk_size: int) -> Iterator[Block]:
        """Consecutive blocks ``(X_block, weight_column_block or None)``."""

    @property
    def n_rows(self) -> int | None:
        """Number of rows, when known without a pass (else ``None``)."""
        return None

    # -- shared ------------------------------------------------------------
    def with_sample_weight(self, sample_weight: Any) -> BlockSource:
        """Set per-row weights (see the class parameters); returns ``self``."""
        BlockSource.__init__(self, sample_weight)
        return self

    def iter_blocks(self, chunk_size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(row offset, X_block, w_block)`` for consecutive blocks of rows.

        ``X_block`` is float32 or float64 of shape (rows, n_features) and
        ``w_block`` float64 of shape (rows,).
        """
        sw = self.sample_weight
        offset = 0
        for X, wcol in _rebatch(self._read(chunk_size), chunk_size):
            X = _as_float_block(X)
            if X.ndim != 2 or X.shape[1] != self.n_features:
                raise ValueError(
                    f"block at row {offset} has shape {X.shape}; expected "
                    f"(rows, {self.n_features})"
                )
            m = X.shape[0]
            if m == 0:
                continue
            if sw is not None:
                if offset + m > sw.shape[0]:
                    raise ValueError(
                        f"sample_weight has {sw.shape[0]} entries but the data has more rows"
                    )
                w = sw[offset : offset + m]
            elif wcol is not None:
                w = np.asarray(wcol, dtype=np.float64)
            else:
                w = np.ones(m)
            yield offset, X, w
            offset += m
        if sw is not None and offset != sw.shape[0]:
            raise ValueError(
                f"sample_weight has {sw.shape[0]} entries but the data has {offset} rows"
            )

    def map_sum_indexed(
        self, fn: Callable[[int, np.ndarray, np.ndarray], T], chunk_size: int
    ) -> T:
        """Sum ``fn(offset, X_block, w_block)`` over one pass.

        Inside :func:`~gaussmix.execution.parallel` with several threads,
        blocks are read here while up to two per thread are processed on the
        pool (reading overlaps computing; memory stays a few blocks); results
        are still added in block order, so they do not depend on the threads.
        """
        n_threads = current_n_jobs()
        pending: deque[Future[T]] = deque()
        total: T | None = None

        def add(part: T) -> None:
            nonlocal total
            total = part if total is None else total + part  # type: ignore[operator]

        for offset, X, w in self.iter_blocks(chunk_size):
            if n_threads <= 1:
                add(fn(offset, X, w))
                continue
            pending.append(thread_pool(n_threads).submit(fn, offset, X, w))
            if len(pending) >= 2 * n_threads:
                add(pending.popleft().result())
        while pending:
            add(pending.popleft().result())
        if total is None:
            raise ValueError(f"{self!r} has no rows")
        return total

    def map_sum(self, fn: Callable[[np.ndarray, np.ndarray], T], chunk_size: int) -> T:
        """Sum ``fn(X_block, w_block)`` over one pass (the seam of every fit)."""
        return self.map_sum_indexed(lambda _off, X, w: fn(X, w), chunk_size)

    def map_rows(self, fn: Callable[[np.ndarray], np.ndarray], chunk_size: int) -> Any:
        """``fn`` of every block, concatenated along rows (a result per row)."""
        parts = [fn(X) for _off, X, _w in self.iter_blocks(chunk_size)]
        return np.concatenate(parts, axis=0)


class ArraySource(BlockSource):
    """An in-memory array seen as a block source (row chunks, no copy).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    sample_weight : array-like of shape (n_rows,), default=None

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.execution import ArraySource
    >>> src = ArraySource(np.arange(10.0).reshape(5, 2))
    >>> src.map_sum(lambda X, w: w @ X, chunk_size=2)
    array([20., 25.])
    """

    def __init__(self, X: Any, sample_weight: Any = None) -> None:
        super().__init__(sample_weight)
        self.X = np.asarray(X)
        if self.X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {self.X.shape}")
        self.n_features = self.X.shape[1]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def _read(self, chunk_size: int) -> Iterator[Block]:
        for sl in iter_slices(self.X.shape[0], chunk_size):
            yield self.X[sl], None

    def __repr__(self) -> str:
        return f"ArraySource(shape={self.X.shape})"


class NpySource(BlockSource):
    """A 2-D ``.npy`` file read in row blocks.

    Blocks are read with positioned reads (``os.pread``) rather than through a
    memory map, so the process's resident memory stays at one block: the
    pages of a memory map stay resident as a pass touches them and would count
    towards the whole file.

    Parameters
    ----------
    path : str or Path
        A C-ordered 2-D array of a numeric dtype.
    sample_weight : array-like of shape (n_rows,), default=None

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from gaussmix import NpySource
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> src = NpySource(path)
    >>> src.n_rows, src.n_features
    (3, 2)
    """

    def __init__(self, path: str | os.PathLike[str], sample_weight: Any = None) -> None:
        super().__init__(sample_weight)
        self.path = Path(path)
        with open(self.path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            except ValueError as exc:
                raise ValueError(f"{self.path}: not a readable .npy file ({exc})") from None
            self._offset = f.tell()
        if len(shape) != 2:
            raise ValueError(f"{self.path}: expected a 2-D array, got shape {shape}")
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise ValueError(f"{self.path}: Fortran-ordered arrays cannot be read by rows")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise ValueError(f"{self.path}: dtype {dtype} is not numeric")
        self.dtype = dtype
        self.shape = (int(shape[0]), int(shape[1]))
        self.n_features = self.shape[1]

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    def _read(self, chunk_size: int) -> Iterator[Block]:
        row_bytes = self.dtype.itemsize * self.n_features
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for sl in iter_slices(self.shape[0], chunk_size):
                m = sl.stop - sl.start
                buf = np.empty((m, self.n_features), dtype=self.dtype)
                view = buf.data.cast("B")
                pos, done = self._offset + sl.start * row_bytes, 0
                while done < len(view):
                    got = os.preadv(fd, [view[done:]], pos + done)
                    if got == 0:
                        raise ValueError(f"{self.path}: file ends before row {sl.stop}")
                    done += got
                native = buf if buf.dtype.isnative else buf.astype(buf.dtype.newbyteorder("="))
                yield native, None
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"NpySource({str(self.path)!r})"


def _select_columns(
    where: str, names: list[str], numeric: dict[str, bool], columns: Any, weight_column: str | None
) -> list[str]:
    """Validated feature columns: those asked for, or every numeric one but the weight."""
    if weight_column is not None:
        if weight_column not in names:
            raise ValueError(f"{where}: weight_column {weight_column!r} not among {names}")
        if not numeric[weight_column]:
            raise ValueError(f"{where}: weight_column {weight_column!r} is not numeric")
    if columns is None:
        cols = [c for c in names if c != weight_column]
        bad = [c for c in cols if not numeric[c]]
        if bad:
            raise ValueError(
                f"{where}: non-numeric column(s) {bad}; pass columns=[...] to choose features"
            )
    else:
        cols = [str(c) for c in columns]
        missing = [c for c in cols if c not in names]
        if missing:
            raise ValueError(f"{where}: no column(s) {missing}; the file has {names}")
        bad = [c for c in cols if not numeric[c]]
        if bad:
            raise ValueError(f"{where}: column(s) {bad} are not numeric")
    if not cols:
        raise ValueError(f"{where}: no feature columns")
    return cols


class ParquetSource(BlockSource):
    """A Parquet file or directory of Parquet files, read in record batches.

    Reads only the chosen columns, batch by batch (pyarrow's dataset
    scanner), so memory is bounded by the batch size.

    Parameters
    ----------
    path : str or Path
        A ``.parquet`` file or a directory holding a Parquet dataset.
    columns : list of str, default=None
        Feature columns in order; default: every column but ``weight_column``
        (all must be numeric).
    weight_column : str, default=None
        Column holding sample weights.
    sample_weight : array-like of shape (n_rows,), default=None

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from gaussmix import ParquetSource
    >>> path = os.path.join(tempfile.mkdtemp(), "x.parquet")
    >>> pq.write_table(pa.table({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 1.0]}), path)
    >>> ParquetSource(path, columns=["a"]).map_sum(lambda X, w: X.sum(), 2)
    np.float64(3.0)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Any = None,
        weight_column: str | None = None,
        sample_weight: Any = None,
    ) -> None:
        super().__init__(sample_weight)
        import pyarrow as pa
        import pyarrow.dataset as ds

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file or directory")
        self._dataset = ds.dataset(str(self.path), format="parquet")
        schema = self._dataset.schema
        names = list(schema.names)
        numeric = {
            f.name: bool(pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                         or pa.types.is_boolean(f.type))
            for f in schema
        }
        self.columns = _select_columns(str(self.path), names, numeric, columns, weight_column)
        self.weight_column = weight_column
        self.feature_names = list(self.columns)
        self.n_features = len(self.columns)
        self._n_rows = int(self._dataset.count_rows())

    @property
    def n_rows(self) -> int:
        return self._n_rows

    def _read(self, chunk_size: int) -> Iterator[Block]:
        wanted = self.columns + ([self.weight_column] if self.weight_column else [])
        offset = 0
        for batch in self._dataset.to_batches(columns=wanted, batch_size=chunk_size):
            if batch.num_rows == 0:
                continue
            cols = []
            for name in wanted:
                arr = batch.column(name)
                if arr.null_count:
                    first = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
                    raise ValueError(
                        f"{self.path}: column {name!r} has a missing value at row {offset + first}"
                    )
                cols.append(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64))
            X = np.column_stack(cols[: self.n_features])
            yield X, (cols[-1] if self.weight_column else None)
            offset += batch.num_rows

    def __repr__(self) -> str:
        return f"ParquetSource({str(self.path)!r}, columns={self.columns!r})"


class CSVSource(BlockSource):
    """A delimited text file with a header row, streamed in chunks of rows.

    Values are parsed exactly (round-trip float parsing), so a file written
    with 17 significant digits reads back the same float64 values.

    Parameters
    ----------
    path : str or Path
    columns : list of str, default=None
        Feature columns in order; default: every column but ``weight_column``.
    weight_column : str, default=None
    delimiter : str, default=","
    sample_weight : array-like of shape (n_rows,), default=None

    Examples
    --------
    >>> import tempfile, os
    >>> from gaussmix import CSVSource
    >>> path = os.path.join(tempfile.mkdtemp(), "x.csv")
    >>> _ = open(path, "w").write("a,b\\n1,2\\n3,4\\n")
    >>> CSVSource(path).map_sum(lambda X, w: X.sum(axis=0), 1)
    array([4., 6.])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Any = None,
        weight_column: str | None = None,
        delimiter: str = ",",
        sample_weight: Any = None,
    ) -> None:
        super().__init__(sample_weight)
        import pandas as pd

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file")
        self.delimiter = delimiter
        head = pd.read_csv(self.path, sep=delimiter, nrows=0)
        names = [str(c) for c in head.columns]
        # Numeric-ness is checked per chunk while reading; here only names.
        self.columns = _select_columns(
            str(self.path), names, dict.fromkeys(names, True), columns, weight_column
        )
        self.weight_column = weight_column
        self.feature_names = list(self.columns)
        self.n_features = len(self.columns)

    def _read(self, chunk_size: int) -> Iterator[Block]:
        import pandas as pd

        wanted = self.columns + ([self.weight_column] if self.weight_column else [])
        # pandas >= 3 parses floats exactly by default and deprecates the option.
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        reader = pd.read_csv(
            self.path, sep=self.delimiter, usecols=wanted, chunksize=chunk_size, **exact
        )
        offset = 0
        with reader:
            for frame in reader:
                cols = []
                for name in wanted:
                    s = frame[name]
                    if s.dtype.kind not in "biuf":
                        num = pd.to_numeric(s, errors="coerce")
                        bad = np.flatnonzero(num.isna().to_numpy() & s.notna().to_numpy())
                        if bad.size:
                            raise ValueError(
                                f"{self.path}: column {name!r} has a non-numeric value "
                                f"{s.iloc[bad[0]]!r} at data row {offset + int(bad[0])}"
                            )
                        s = num
                    cols.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
                yield np.column_stack(cols[: self.n_features]), (
                    cols[-1] if self.weight_column else None
                )
                offset += len(frame)

    def __repr__(self) -> str:
        return f"CSVSource({str(self.path)!r}, columns={self.columns!r})"


def is_dask_collection(X: Any) -> bool:
    """Whether ``X`` is a Dask array or DataFrame (without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "__dask_graph__")


def is_block_input(X: Any) -> bool:
    """Whether ``X`` must be read block by block: a source, a file path or a Dask collection."""
    return isinstance(X, (BlockSource, str, os.PathLike)) or is_dask_collection(X)


_SUFFIXES: dict[str, Callable[[Path], BlockSource]] = {
    ".npy": NpySource,
    ".parquet": ParquetSource,
    ".pq": ParquetSource,
    ".csv": CSVSource,
    ".tsv": lambda p: CSVSource(p, delimiter="\t"),
}


def as_source(X: Any, sample_weight: Any = None) -> BlockSource:
    """A block source for ``X``: a source, a path (by suffix; a directory is a
    Parquet dataset) or a Dask array/DataFrame.

    Raises
    ------
    ValueError
        For a path with an unknown suffix.
    FileNotFoundError
        For a path that does not exist.
    """
    if isinstance(X, BlockSource):
        src = X
    elif isinstance(X, (str, os.PathLike)):
        path = Path(X)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            src = ParquetSource(path)
        else:
            make = _SUFFIXES.get(path.suffix.lower())
            if make is None:
                raise ValueError(
                    f"{path}: unknown file type {path.suffix!r}; expected one of "
                    f"{sorted(_SUFFIXES)} (or pass a NpySource/ParquetSource/CSVSource)"
                )
            src = make(path)
    elif is_dask_collection(X):
        from .dask_source import DaskSource

        return DaskSource(X, sample_weight=sample_weight)
    else:
        raise TypeError(f"cannot read blocks from {type(X).__name__}")
    if sample_weight is not None:
        if is_dask_collection(sample_weight):
            raise TypeError("a Dask sample_weight goes with a Dask X only")
        src = copy.copy(src).with_sample_weight(sample_weight)
    return src
