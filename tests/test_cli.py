"""The ``gaussmix`` command end to end: files written, their contents, and clean errors."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from gaussmix._grid import select_models
from gaussmix._modelfile import load_model
from gaussmix.cli import Progress, _parse_k, main
from gaussmix.compare import compare
from gaussmix.covariance import get_model

SRC = Path(__file__).resolve().parents[1] / "src"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "gaussmix.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _blobs(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 7.0]])
    y = np.repeat(np.arange(3), n // 3)
    X = centers[y] + rng.normal(size=(len(y), 2)) * np.array([1.0, 0.5])
    return X, y


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    X, y = _blobs()
    df = pd.DataFrame(X, columns=["a", "b"])
    df["species"] = np.array(["red", "green", "blue"])[y]
    df["w"] = np.where(y == 0, 2.0, 1.0)
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ end to end
def test_fit_then_predict_end_to_end(tmp_path: Path, data_csv: Path) -> None:
    r = run_cli("fit", str(data_csv), "-k", "1..4", "--models", "VVV,EEE,EII", "-o",
                "model.gmm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "skipped non-numeric column(s): species" in r.stderr
    assert "BIC (lower is better" in r.stdout and "Chosen model: " in r.stdout
    assert "Traceback" not in r.stderr

    # The saved model is the one the library selects with the same settings.
    df = pd.read_csv(data_csv)
    X = df[["a", "b", "w"]].to_numpy()
    ref = select_models(X, [1, 2, 3, 4], ["VVV", "EEE", "EII"], random_state=0).best_
    model, prep = load_model(tmp_path / "model.gmm")
    assert prep.columns == ["a", "b", "w"] and not prep.standardized
    assert model.covariance_model_ == ref.covariance_model_
    np.testing.assert_allclose(model.means_, ref.means_, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), ref.predict(X))
    assert f"Chosen model: {ref.covariance_model_} with {ref.n_components}" in r.stdout

    r = run_cli("predict", "model.gmm", str(data_csv), "-o", "pred.csv", "--proba",
                "--log-density", "--uncertainty", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "pred.csv")
    # The input's rows and columns come through unchanged, results beside them.
    pd.testing.assert_frame_equal(out[df.columns], df)
    np.testing.assert_array_equal(out["cluster"].to_numpy(), ref.predict(X))
    proba = out[[f"proba_{j}" for j in range(ref.n_components)]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(out["log_density"], ref.score_samples(X), rtol=1e-8)
    np.testing.assert_allclose(out["uncertainty"], 1 - proba.max(axis=1), atol=1e-12)


def test_fit_standardized_with_weights_and_parquet_predict(tmp_path: Path, data_csv: Path
                                                           ) -> None:
    r = run_cli("fit", str(data_csv), "-k", "3", "--models", "full", "--columns", "a,b",
                "--standardize", "--sample-weight", "w", "-o", "m.gmm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(data_csv)
    X = df[["a", "b"]].to_numpy()
    model, prep = load_model(tmp_path / "m.gmm")
    np.testing.assert_allclose(prep.center, X.mean(axis=0))
    np.testing.assert_allclose(prep.scale, X.std(axis=0))
    Z = (X - prep.center) / prep.scale
    ref = select_models(Z, [3], ["VVV"], sample_weight=df["w"].to_numpy(), random_state=0).best_
    np.testing.assert_allclose(model.means_, ref.means_, rtol=1e-10)

    tsv = tmp_path / "data.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    r = run_cli("predict", "m.gmm", str(tsv), "-o", "pred.parquet", "--log-density",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = pd.read_parquet(tmp_path / "pred.parquet")
    np.testing.assert_array_equal(out["cluster"].to_numpy(), model.predict(Z))
    # log-density in the input's units: the mixture mapped back through the scaling.
    D = np.diag(prep.scale)
    dens = sum(w * multivariate_normal(m * prep.scale + prep.center, D @ c @ D).pdf(X)
               for w, m, c in zip(model.weights_, model.means_, model.covariances_, strict=True))
    np.testing.assert_allclose(out["log_density"], np.log(dens), rtol=1e-9)


def test_npy_input_and_drop_na(tmp_path: Path) -> None:
    X, _ = _blobs()
    np.save(tmp_path / "x.npy", X)
    assert main(["fit", str(tmp_path / "x.npy"), "-k", "3", "--models", "VVV", "-o",
                 str(tmp_path / "m.gmm"), "-q"]) == 0
    Xn = X.copy()
    Xn[[4, 10], 1] = np.nan
    pd.DataFrame(Xn, columns=["x0", "x1"]).to_csv(tmp_path / "na.csv", index=False)
    assert main(["predict", str(tmp_path / "m.gmm"), str(tmp_path / "na.csv"), "-o",
                 str(tmp_path / "p.csv"), "--drop-na"]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    model, _ = load_model(tmp_path / "m.gmm")
    assert out["cluster"].isna().sum() == 2 and out["cluster"].isna()[[4, 10]].all()
    keep = ~np.isnan(Xn).any(axis=1)
    np.testing.assert_array_equal(out["cluster"][keep].astype(int), model.predict(X[keep]))


def test_compare_command(tmp_path: Path, data_csv: Path) -> None:
    r = run_cli("compare", str(data_csv), "-k", "3", "--columns", "a,b", "--labels",
                "species", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(data_csv)
    truth = pd.factorize(df["species"])[0]
    ref = compare(df[["a", "b"]].to_numpy(), 3, labels=truth)
    assert "Should I prefer a GMM here? " + ref.answer in r.stdout
    assert "ARI vs known labels" in r.stdout
    assert f"{ref.ari_gmm_truth:.3f}" in r.stdout and f"{ref.ari_kmeans_truth:.3f}" in r.stdout
    for reason in ref.reasons:
        assert reason.text in r.stdout
    assert f"{ref.bic_kmeans:.1f}" in r.stdout and f"{ref.bic_gmm:.1f}" in r.stdout


def test_report_command(tmp_path: Path, data_csv: Path) -> None:
    r = run_cli("report", str(data_csv), "--columns", "a,b", "-k", "1..4", "--models",
                "VVV,VII", "-o", "out.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') >= 5
    assert "Model selection" in page and "Chosen model" in page and "k-means or GMM" in page
    assert "http://" not in page and "https://" not in page
    assert "Report written to out.html" in r.stdout


def test_demo_under_a_minute(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    r = run_cli("demo", "--output-dir", str(tmp_path / "reports"), "-q", cwd=tmp_path)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert elapsed < 60, elapsed
    assert "k-means or a Gaussian mixture?" in r.stdout  # the original table is kept
    for name in ("faithful", "synthetic"):
        path = tmp_path / "reports" / f"gaussmix-demo-{name}.html"
        assert f"Report: {path}" in r.stdout
        assert path.stat().st_size > 50_000
    assert "Prefer a GMM" in r.stdout
    assert r.stderr == ""  # --quiet


# ------------------------------------------------------------------ errors
def _err_case(tmp_path: Path, kind: str) -> list[str]:
    X, _ = _blobs(30)
    good = tmp_path / "good.csv"
    pd.DataFrame(X, columns=["a", "b"]).to_csv(good, index=False)
    out = str(tmp_path / "out.gmm")
    if kind == "missing":
        return ["fit", str(tmp_path / "nope.csv"), "-o", out]
    if kind == "empty":
        (tmp_path / "empty.csv").write_text("")
        return ["fit", str(tmp_path / "empty.csv"), "-o", out]
    if kind == "header_only":
        (tmp_path / "h.csv").write_text("a,b\n")
        return ["fit", str(tmp_path / "h.csv"), "-o", out]
    if kind == "text_column":
        df = pd.DataFrame(X, columns=["a", "b"]).assign(name="x")
        df.to_csv(tmp_path / "t.csv", index=False)
        return ["fit", str(tmp_path / "t.csv"), "--columns", "a,name", "-o", out]
    if kind == "bad_value":
        df = pd.DataFrame(X, columns=["a", "b"]).astype(object)
        df.loc[7, "b"] = "oops"
        df.to_csv(tmp_path / "v.csv", index=False)
        return ["fit", str(tmp_path / "v.csv"), "-o", out]
    if kind == "nan":
        Xn = X.copy()
        Xn[5, 0] = np.nan
        pd.DataFrame(Xn, columns=["a", "b"]).to_csv(tmp_path / "n.csv", index=False)
        return ["fit", str(tmp_path / "n.csv"), "-o", out]
    if kind == "unknown_model":
        return ["fit", str(good), "--models", "VVV,XYZ", "-o", out]
    if kind == "k_too_large":
        return ["fit", str(good), "-k", "50", "-o", out]
    if kind == "bad_column":
        return ["fit", str(good), "--columns", "a,zz", "-o", out]
    if kind == "corrupt_model":
        bad = tmp_path / "bad.gmm"
        bad.write_bytes(b"not a model")
        return ["predict", str(bad), str(good), "-o", str(tmp_path / "out.csv")]
    if kind == "overwrite_input":
        return ["report", str(good), "-o", str(good)]
    raise AssertionError(kind)


ERRORS = {
    "missing": "no such file", "empty": "empty", "header_only": "no data rows",
    "text_column": "'name' (feature) is not numeric", "bad_value": "'oops' at data row 8",
    "nan": "missing values (first: column 'a', data row 6); pass --drop-na",
    "unknown_model": "unknown covariance_type 'XYZ'", "k_too_large": "only 30 row(s)",
    "bad_column": "no column 'zz'", "corrupt_model": "not a gaussmix model file",
    "overwrite_input": "refusing to overwrite the input",
}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_errors_one_line_and_nothing_written(tmp_path: Path, kind: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    argv = _err_case(tmp_path, kind)
    out_path = Path(argv[argv.index("-o") + 1])
    before = out_path.read_bytes() if out_path.exists() else None
    sentinel = tmp_path / "out.gmm"
    if before is None:
        sentinel.write_bytes(b"previous model")  # an existing output must survive
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ERRORS[kind] in lines[0] and lines[0].startswith("gaussmix ")
    assert "Traceback" not in err
    if before is not None:
        assert out_path.read_bytes() == before
    else:
        assert sentinel.read_bytes() == b"previous model"
        assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_errors_in_subprocess_no_traceback(tmp_path: Path) -> None:
    for kind in ("missing", "nan"):
        r = run_cli(*_err_case(tmp_path, kind), cwd=tmp_path)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [r.stderr.strip()]
        assert ERRORS[kind] in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "out.gmm").exists()
    r = run_cli(*_err_case(tmp_path, "missing"), "--debug", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_drop_na_reports_and_usage_errors(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = _err_case(tmp_path, "nan") + ["-k", "2", "--drop-na"]
    assert main(argv) == 0
    assert "dropped 1 of 30 row(s) with missing values (--drop-na)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fit", "x.csv", "-k", "two", "-o", "m"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid -k 'two'" in err


def test_parse_k() -> None:
    assert _parse_k("3") == [3]
    assert _parse_k("1..4") == [1, 2, 3, 4]
    assert _parse_k("2-5") == [2, 3, 4, 5]
    assert _parse_k("5,2,2") == [2, 5]
    for bad in ("0", "a", "3..x", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            _parse_k(bad)


def test_progress_throttle_and_quiet() -> None:
    import io

    buf = io.StringIO()
    p = Progress(quiet=False, stream=buf, delay=0.0, every=0.0)
    p.cell(0, 4, "VVV", 2)
    assert "fit 1/4: VVV k=2" in buf.getvalue()
    quiet = io.StringIO()
    q = Progress(quiet=True, stream=quiet, delay=0.0, every=0.0)
    q.cell(0, 4, "VVV", 2)
    q.say("x", force=True)
    assert quiet.getvalue() == ""
    slow = io.StringIO()
    s = Progress(quiet=False, stream=slow, delay=60.0)
    s.cell(0, 1, "EII", 1)  # quick commands stay silent
    assert slow.getvalue() == ""


def test_progress_shows_em_iterations() -> None:
    import io
    import logging

    from gaussmix import GaussianMixture

    buf = io.StringIO()
    p = Progress(quiet=False, stream=buf, delay=0.0, every=0.0)
    logger, handler, old = p.attach()
    try:
        p.context = "fit 1/1: VVV k=2"
        X, _ = _blobs()
        GaussianMixture(2, random_state=0).fit(X)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert "fit 1/1: VVV k=2: EM iteration 1" in buf.getvalue()
    assert logging.getLogger("gaussmix").level == old


def test_model_file_has_no_pickle(tmp_path: Path) -> None:
    X, _ = _blobs()
    assert main(["fit", "-q", "--columns", "x0,x1", str(_npy(tmp_path, X)), "-k", "2",
                 "--models", "diag", "-o", str(tmp_path / "m.gmm")]) == 0
    import io
    import zipfile

    # Both model formats are zip archives of .npy arrays (+ JSON): all read without pickle.
    with zipfile.ZipFile(tmp_path / "m.gmm") as zf:
        npys = [n for n in zf.namelist() if n.endswith(".npy")]
        assert npys
        for name in npys:
            arr = np.lib.format.read_array(io.BytesIO(zf.read(name)), allow_pickle=False)
            assert arr.dtype != object
    model, _ = load_model(tmp_path / "m.gmm")
    assert model.covariances_.shape == get_model("diag").layout.shape(2, 2)
    ref = select_models(X, [2], ["VVI"], random_state=0).best_
    np.testing.assert_array_equal(model.predict(X), ref.predict(X))
    np.testing.assert_allclose(model.covariances_, ref.covariances_, rtol=1e-12)


def _npy(tmp_path: Path, X: np.ndarray) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


def test_progress_counts_runs_of_a_whole_grid() -> None:
    """With the library's select (no per-cell hook), finished runs are counted from the log."""
    import io

    buf = io.StringIO()
    p = Progress(quiet=False, stream=buf, delay=0.0, every=0.0)
    p.cell(0, 3, "grid", 0)
    for i in range(5):
        p._record("EM iteration 1: objective -1.0")
        p._record(f"init 1: objective -{i}.5 after 7 iterations")
    text = buf.getvalue()
    assert "selection: 0/3 EM runs done" in text
    assert "selection: 0/3 EM runs done: EM iteration 1" in text
    assert "selection: 3/3 EM runs done" in text and "4/3" not in text


def test_warmup_compiles_the_kernels_then_loads_them(tmp_path: Path) -> None:
    r = run_cli("warmup", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["float64", "float32"]
    assert all("kernels ready in" in line for line in lines)
    assert r.stderr == ""  # no progress lines from the tiny fits
    # in this process the kernels are already compiled: a second warm-up is quick
    from gaussmix import warmup

    warmup()
    assert max(warmup().values()) < 2.0


def test_warmup_compiles_every_kernel() -> None:
    """No fit after ``gaussmix warmup`` pays a compilation: every kernel of the
    package has been through numba (those that only other kernels call too)."""
    import importlib
    import pkgutil

    import gaussmix
    from gaussmix import warmup

    warmup()
    kernels = {}
    for info in pkgutil.walk_packages(gaussmix.__path__, "gaussmix."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if callable(obj) and hasattr(obj, "is_compiled") and hasattr(obj, "py_func"):
                kernels[f"{obj.py_func.__module__}.{name}"] = obj
    sources = Path(gaussmix.__file__).parent.rglob("*.py")
    assert len(kernels) == sum(line.startswith("@kernel") for f in sources
                               for line in f.read_text(encoding="utf-8").splitlines())
    assert [name for name, k in sorted(kernels.items()) if not k.is_compiled()] == []
