"""Reading tables for the CLI: numbers come through exactly; problems are named where they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gaussmix._tabular import DataError, atomic_path, check_output, read_table, write_table

finite = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None)
@given(X=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)), elements=finite),
       fmt=st.sampled_from(["csv", "tsv", "parquet", "npy"]))
def test_roundtrip_exact(tmp_path_factory: pytest.TempPathFactory, X: np.ndarray, fmt: str
                         ) -> None:
    path = tmp_path_factory.mktemp("rt") / f"x.{fmt}"
    cols = [f"c{j}" for j in range(X.shape[1])]
    if fmt == "npy":
        np.save(path, X)
        cols = [f"x{j}" for j in range(X.shape[1])]
    else:
        df = pd.DataFrame(X, columns=cols)
        if fmt == "parquet":
            df.to_parquet(path)
        else:
            df.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False)
    t = read_table(path)
    np.testing.assert_array_equal(t.X, X)  # shortest-repr CSV floats read back exactly
    assert t.columns == cols and t.notes == []
    np.testing.assert_array_equal(t.kept, np.arange(X.shape[0]))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_missing_values_located_and_dropped(tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 15))
    X = np.arange(n * 3, dtype=float).reshape(n, 3)
    mask = data.draw(arrays(np.bool_, (n, 3)))
    mask[data.draw(st.integers(0, n - 1))] = False  # at least one complete row
    X[mask] = np.nan
    path = tmp_path_factory.mktemp("na") / "x.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(path, index=False)
    bad_rows = np.flatnonzero(mask.any(axis=1))
    if bad_rows.size == 0:
        assert read_table(path).X.shape == (n, 3)
        return
    r, c = np.argwhere(mask)[0]
    with pytest.raises(DataError, match=rf"{bad_rows.size} row\(s\) have missing values "
                                        rf"\(first: column '{'abc'[c]}', data row {r + 1}\)"):
        read_table(path)
    t = read_table(path, drop_na=True)
    keep = ~mask.any(axis=1)
    np.testing.assert_array_equal(t.X, X[keep])
    np.testing.assert_array_equal(t.kept, np.flatnonzero(keep))
    assert t.notes == [f"dropped {bad_rows.size} of {n} row(s) with missing values (--drop-na)"]


def test_columns_extra_and_messages(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [4.0, 3, 2, 1], "name": list("wxyz"),
                       "w": [1.0, 2, 1, 2], "g": ["u", "v", "u", None]})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    t = read_table(path, extra={"sample_weight": "w", "labels": "g"})
    assert t.columns == ["a", "b"]  # extra columns are never features
    np.testing.assert_array_equal(t.extra["sample_weight"], [1, 2, 1, 2])
    np.testing.assert_array_equal(t.extra["labels"], [0, 1, 0, 2])  # missing label: own class
    assert t.notes == ["skipped non-numeric column(s): name (choose columns with --columns)"]
    assert read_table(path, ["b"]).columns == ["b"]
    with pytest.raises(DataError, match="no column 'zz'"):
        read_table(path, ["zz"])
    with pytest.raises(DataError, match="'name' \\(feature\\) is not numeric: value 'w' at data"):
        read_table(path, ["a", "name"])
    with pytest.raises(DataError, match="twice"):
        read_table(path, ["a", "a"])
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        read_table(tmp_path / "d.xlsx")
    (tmp_path / "inf.csv").write_text("a,b\n1,2\n3,inf\n")
    with pytest.raises(DataError, match="infinite value at data row 2"):
        read_table(tmp_path / "inf.csv")
    (tmp_path / "text.csv").write_text("a\nx\ny\n")
    with pytest.raises(DataError, match="no numeric columns \\(non-numeric: a\\)"):
        read_table(tmp_path / "text.csv")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="not numeric"):
        read_table(tmp_path / "s.npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable .npy"):
        read_table(tmp_path / "o.npy")  # never unpickled


def test_output_checks_and_atomic_writes(tmp_path: Path) -> None:
    inp = tmp_path / "in.csv"
    inp.write_text("a\n1\n")
    with pytest.raises(DataError, match="refusing to overwrite the input"):
        check_output(tmp_path / "." / "in.csv", [inp])
    with pytest.raises(DataError, match="does not exist"):
        check_output(tmp_path / "nope" / "o.csv", [inp])
    out = tmp_path / "o.csv"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.csv", "o.csv"]
    write_table(out, pd.DataFrame({"x": [1, 2]}))
    assert out.read_text().splitlines() == ["x", "1", "2"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not left private by mkstemp
