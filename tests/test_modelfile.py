"""CLI model files: a mixture and its preprocessing come back exactly; bad files are refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gaussmix import MODELS, GaussianMixture
from gaussmix._modelfile import Preprocessing, load_model, save_model
from gaussmix._tabular import DataError


def _X() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(4, 0.5, (40, 3))])


@pytest.mark.parametrize("code", sorted(MODELS))
def test_roundtrip_every_model(tmp_path: Path, code: str) -> None:
    X = _X()
    gm = GaussianMixture(2, covariance_type=code, random_state=0).fit(X)
    prep = Preprocessing.fit(X, ["a", "b", "c"], standardize=True)
    path = tmp_path / "m.gmm"
    save_model(path, gm, prep)
    gm2, prep2 = load_model(path)
    assert gm2.covariance_model_ == code
    np.testing.assert_array_equal(gm2.means_, gm.means_)
    np.testing.assert_array_equal(gm2.covariances_, gm.covariances_)
    np.testing.assert_array_equal(gm2.predict(X), gm.predict(X))
    np.testing.assert_allclose(gm2.predict_proba(X), gm.predict_proba(X), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gm2.score_samples(X), gm.score_samples(X), rtol=1e-12)
    assert prep2.columns == ["a", "b", "c"]
    np.testing.assert_array_equal(prep2.transform(X), prep.transform(X))


def test_preprocessing() -> None:
    X = _X()
    p = Preprocessing.fit(X, ["a", "b", "c"], standardize=False)
    assert not p.standardized and np.array_equal(p.transform(X), X)
    q = Preprocessing.fit(X, ["a", "b", "c"], standardize=True)
    Z = q.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)
    X[:, 1] = 5.0
    with pytest.raises(DataError, match="'b' is constant"):
        Preprocessing.fit(X, ["a", "b", "c"], standardize=True)


def _saved(tmp_path: Path) -> Path:
    X = _X()
    path = tmp_path / "m.gmm"
    save_model(path, GaussianMixture(2, random_state=0).fit(X),
               Preprocessing.fit(X, ["a", "b", "c"], False))
    return path


def _rewrite(path: Path, edit) -> None:
    """Apply ``edit(meta)`` to a saved file's metadata.json."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(entries["metadata.json"])
    edit(meta)
    entries["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "columns", "column_type", "scale",
                                    "no_prep"])
def test_bad_files_refused(tmp_path: Path, damage: str) -> None:
    path = _saved(tmp_path)
    if damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "columns":
        _rewrite(path, lambda m: m["preprocessing"].update(columns=["a"]))
    elif damage == "column_type":
        _rewrite(path, lambda m: m["preprocessing"].update(columns=[1, 2, 3]))
    elif damage == "scale":
        _rewrite(path, lambda m: m["preprocessing"].update(scale=[1.0, -1.0, 1.0]))
    elif damage == "no_prep":
        _rewrite(path, lambda m: m.pop("preprocessing"))
    with pytest.raises(DataError, match="model file|preprocessing"):
        load_model(path)


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.gmm"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False,"
                                b" 'shape': (), }" + b" " * 60 + b"\n" + b"cos\nsystem\n")
    with pytest.raises(DataError, match="model file"):
        load_model(path)


def test_library_model_files(tmp_path: Path) -> None:
    """With the library's safe format: CLI files load in Python, library files in the CLI."""
    import gaussmix
    from gaussmix._modelfile import PreparedMixture

    X = _X() * [1.0, 10.0, 100.0]
    prep = Preprocessing.fit(X, ["a", "b", "c"], standardize=True)
    gm = GaussianMixture(2, random_state=0).fit(prep.transform(X))
    path = tmp_path / "cli.gmm"
    save_model(path, gm, prep)
    pm = gaussmix.load(path)
    assert isinstance(pm, PreparedMixture)
    np.testing.assert_array_equal(pm.predict(X), gm.predict(prep.transform(X)))
    jac = np.sum(np.log(prep.scale))
    np.testing.assert_allclose(pm.score_samples(X), gm.score_samples(prep.transform(X)) - jac)

    plain = tmp_path / "plain.gmm"
    gaussmix.save(gm, plain)
    gm2, prep2 = load_model(plain)
    assert prep2.columns == ["x0", "x1", "x2"] and not prep2.standardized
    np.testing.assert_array_equal(gm2.predict(X), gm.predict(X))
