"""Model files (gaussmix.io): round trips, atomic writes, and hostile or damaged files."""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

import gaussmix
from gaussmix import MODELS, GaussianMixture, KMeans, ModelFileError

FIXTURE = [HealthCheck.function_scoped_fixture]
X = np.random.default_rng(0).normal(size=(120, 3)) + np.repeat(np.eye(3) * 5, 40, axis=0)


def _roundtrip(model, tmp_path):
    path = tmp_path / "model.gmx"
    gaussmix.save(model, path)
    return gaussmix.load(path)


@pytest.mark.parametrize("code", sorted(MODELS))
def test_gmm_roundtrip_is_bit_identical_for_every_model(code, tmp_path):
    gm = GaussianMixture(3, covariance_type=code, n_init=2, random_state=0).fit(X)
    back = _roundtrip(gm, tmp_path)
    assert type(back) is GaussianMixture and back.get_params() == gm.get_params()
    for method in ("predict_proba", "score_samples", "predict"):
        assert np.array_equal(getattr(back, method)(X), getattr(gm, method)(X))
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert np.array_equal(getattr(back, attr), getattr(gm, attr))
    assert back.fit_history_ == gm.fit_history_ and back.lower_bounds_ == gm.lower_bounds_
    assert back.bic(X) == gm.bic(X)


def test_kmeans_roundtrip_and_its_gmm(tmp_path):
    km = KMeans(3, random_state=0, n_init=2).fit(X)
    back = _roundtrip(km, tmp_path)
    assert np.array_equal(back.predict(X), km.predict(X))
    assert np.array_equal(back.transform(X), km.transform(X))
    assert np.array_equal(back.labels_, km.labels_) and back.inertia_ == km.inertia_
    gm = km.to_gmm()
    assert np.array_equal(_roundtrip(gm, tmp_path).predict_proba(X), gm.predict_proba(X))
    km_arr = KMeans(3, init=km.cluster_centers_).fit(X)
    assert np.array_equal(_roundtrip(km_arr, tmp_path).init, km.cluster_centers_)


def test_roundtrip_keeps_feature_names_prior_and_dropped_components(tmp_path):
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(3, prior={"shrinkage": 0.1}, random_state=0).fit(df)
    back = _roundtrip(gm, tmp_path)
    assert list(back.feature_names_in_) == ["a", "b", "c"] and back.prior == {"shrinkage": 0.1}
    assert np.array_equal(back.predict_proba(df), gm.predict_proba(df))
    from .test_collapse import collapse_data

    C = collapse_data()
    with pytest.warns(gaussmix.CollapseWarning):
        dropped = GaussianMixture(5, on_collapse="drop", random_state=0).fit(C)
    back = _roundtrip(dropped, tmp_path)
    assert back.n_components_ == dropped.n_components_ < 5
    assert back.fit_history_ == dropped.fit_history_
    assert np.array_equal(back.predict_proba(C), dropped.predict_proba(C))


def test_same_model_same_bytes(tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(X)
    gaussmix.save(gm, tmp_path / "a")
    gaussmix.save(gm, tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_unfitted_and_unsupported(tmp_path):
    with pytest.raises(NotFittedError):
        gaussmix.save(GaussianMixture(2), tmp_path / "m")
    with pytest.raises(TypeError, match="cannot save"):
        gaussmix.save(object(), tmp_path / "m")
    assert not os.listdir(tmp_path)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.gmx"
    good = GaussianMixture(2, random_state=0).fit(X)
    gaussmix.save(good, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        gaussmix.save(GaussianMixture(3, random_state=0).fit(X), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.gmx"]  # no temporary left behind


# ----------------------------------------------------------------- hostile files
def _saved_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        gaussmix.save(model, os.path.join(d, "m"))
        with open(os.path.join(d, "m"), "rb") as fh:
            return fh.read()


def _unpack(data: bytes) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(members.pop("metadata.json")), members


def _pack(meta, members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


GMM = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
KM = KMeans(3, random_state=0).fit(X)
GOOD = {"gmm": _saved_bytes(GMM), "km": _saved_bytes(KM),
        "diag": _saved_bytes(GaussianMixture(2, covariance_type="diag", random_state=0).fit(X))}


def _load_bytes(data: bytes, tmp_path):
    p = tmp_path / "fuzz.gmx"
    p.write_bytes(data)
    return gaussmix.load(p)


def _assert_valid(model) -> None:
    """A model that did load must be usable: finite, normalised output."""
    if isinstance(model, GaussianMixture):
        proba = model.predict_proba(X)
        assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
        assert np.all(np.isfinite(model.score_samples(X)))
    else:
        assert np.all(np.isfinite(model.transform(X)))


def _mutated(meta, members, path, value):
    meta = json.loads(json.dumps(meta))
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return _pack(meta, members)


@pytest.mark.parametrize("case", [
    "pickle_array", "object_array", "extra_entry", "traversal_name", "version", "type",
    "not_json", "json_list", "huge_shape", "asymmetric", "indefinite", "weights_sum",
    "nan_mean", "unknown_code", "prec_mismatch", "bool_as_int", "labels_range", "empty",
])
def test_hostile_files_are_rejected(case, tmp_path):
    meta, members = _unpack(GOOD["gmm"])
    cov = np.load(io.BytesIO(members["arrays/covariances_.npy"]))
    if case == "pickle_array":
        members["arrays/means_.npy"] = pickle.dumps(os.system)
    elif case == "object_array":
        members["arrays/means_.npy"] = _npy(np.array([[os.system]] * 3, dtype=object))
    elif case == "extra_entry":
        members["payload.py"] = b"import os"
    elif case == "traversal_name":
        meta["arrays"]["../../evil"] = {"dtype": "<f8", "shape": [1]}
        members["arrays/../../evil.npy"] = _npy(np.zeros(1))
    elif case == "version":
        meta["format_version"] = 99
    elif case == "type":
        meta["type"] = "os.system"
    elif case == "huge_shape":
        meta["arrays"]["means_"]["shape"] = [10**12, 3]
    elif case == "asymmetric":
        cov[0, 0, 1] += 1.0
        members["arrays/covariances_.npy"] = _npy(cov)
    elif case == "indefinite":
        cov[1] = -cov[1]
        members["arrays/covariances_.npy"] = _npy(cov)
    elif case == "weights_sum":
        members["arrays/weights_.npy"] = _npy(np.array([0.5, 0.5, 0.5]))
    elif case == "nan_mean":
        m = np.load(io.BytesIO(members["arrays/means_.npy"]))
        m[1, 2] = np.nan
        members["arrays/means_.npy"] = _npy(m)
    elif case == "unknown_code":
        meta["attributes"]["covariance_model_"] = "ZZZ"
    elif case == "prec_mismatch":
        members["arrays/covariances_.npy"] = _npy(cov * 2.0)
    elif case == "bool_as_int":
        meta["attributes"]["n_iter_"] = True
    elif case == "labels_range":
        meta, members = _unpack(GOOD["km"])
        lab = np.load(io.BytesIO(members["arrays/labels_.npy"]))
        lab[0] = 7
        members["arrays/labels_.npy"] = _npy(lab)
    data = _pack(meta, members)
    if case in ("not_json", "json_list"):
        buf = io.BytesIO()
        text = json.dumps(meta).replace('"format"', "'format'") if case == "not_json" else "[1]"
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("metadata.json", text)
            for name, blob in members.items():
                zf.writestr(name, blob)
        data = buf.getvalue()
    elif case == "empty":
        data = b""
    with pytest.raises(ModelFileError):
        _load_bytes(data, tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE)
@given(which=st.sampled_from(sorted(GOOD)), data=st.data())
def test_fuzz_bytes(which, data, tmp_path):
    raw = bytearray(GOOD[which])
    n_mut = data.draw(st.integers(1, 4))
    for _ in range(n_mut):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "truncate":
            del raw[pos:]
        elif kind == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[pos]
    try:
        model = _load_bytes(bytes(raw), tmp_path)
    except ModelFileError:
        return
    _assert_valid(model)


_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURE)
@given(which=st.sampled_from(sorted(GOOD)), data=st.data())
def test_fuzz_fields(which, data, tmp_path):
    meta, members = _unpack(GOOD[which])
    if data.draw(st.booleans()):
        path = data.draw(st.sampled_from(sorted(_paths(meta), key=str)))
        blob = _mutated(meta, members, path, data.draw(_JSON_VALUES))
    else:
        name = data.draw(st.sampled_from(sorted(members)))
        arr = np.load(io.BytesIO(members[name]))
        how = data.draw(st.sampled_from(["value", "shape", "dtype", "drop"]))
        if how == "value" and arr.size:
            flat = arr.astype(np.float64).ravel()
            flat[data.draw(st.integers(0, flat.size - 1))] = data.draw(
                st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e308, -1e-300, 7.0]))
            arr = flat.reshape(arr.shape)
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float64)
        elif how == "shape":
            arr = arr.ravel()[: max(arr.size - 1, 0)]
        elif how == "dtype":
            arr = arr.astype(np.float32)
        if how == "drop":
            del members[name]
        else:
            members[name] = _npy(arr)
        blob = _pack(meta, members)
    try:
        model = _load_bytes(blob, tmp_path)
    except ModelFileError:
        return
    _assert_valid(model)


def test_selection_roundtrip(tmp_path):
    pytest.importorskip("gaussmix.selection")
    from gaussmix.selection import select

    sel = select(X, n_components=range(1, 4), covariance_types=["EII", "VVV"],
                 init_params="kmeans", random_state=0)
    back = _roundtrip(sel, tmp_path)
    assert type(back) is type(sel) and back.criterion == sel.criterion
    assert np.array_equal(back.best_.predict_proba(X), sel.best_.predict_proba(X))
    assert len(back.table_) == len(sel.table_)
    for a, b in zip(back.table_, sel.table_, strict=True):
        for key, value in b.items():
            same = a[key] == value or (isinstance(value, float) and np.isnan(value)
                                       and np.isnan(a[key]))
            assert same, key
    meta, members = _unpack(_saved_bytes(sel))
    meta["attributes"]["table_"][0]["bic"] = "low"
    with pytest.raises(ModelFileError):
        _load_bytes(_pack(meta, members), tmp_path)
