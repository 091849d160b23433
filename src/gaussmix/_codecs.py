"""Codecs of the built-in estimators for :mod:`gaussmix.io` (plain data, fully validated).

Every loader builds the estimator only from checked values: constructor
parameters go through scikit-learn's parameter validation, arrays are checked
for dtype, shape and finiteness, covariances for symmetry and positive
definiteness, precisions for agreement with the covariances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._validation import MAX_ABS
from .cluster import KMeans
from .collapse import CollapseEvent
from .covariance import MODELS, SingularCovarianceError
from .io import Codec, ModelFileError, register_codec
from .mixture import FitRecord, GaussianMixture

_GMM_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init", "resp_init")


# ------------------------------------------------------------------ helpers
def _bad(msg: str) -> ModelFileError:
    return ModelFileError(f"invalid model file: {msg}")


def _int(v: Any, name: str, lo: int = 0) -> int:
    if type(v) is not int or v < lo:
        raise _bad(f"{name} must be an integer >= {lo}, got {v!r}")
    return v


def _float(v: Any, name: str, *, allow_neg_inf: bool = False) -> float:
    if type(v) not in (int, float) or math.isnan(v):
        raise _bad(f"{name} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v) and not (allow_neg_inf and v == -math.inf):
        raise _bad(f"{name} must be finite, got {v!r}")
    return v


def _bool(v: Any, name: str) -> bool:
    if type(v) is not bool:
        raise _bad(f"{name} must be true or false, got {v!r}")
    return v


def _obj(meta: dict[str, Any], key: str) -> dict[str, Any]:
    v = meta.get(key)
    if not isinstance(v, dict):
        raise _bad(f"field {key!r} must be an object")
    return v


def _array(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...],
           dtype: type = np.float64) -> np.ndarray:
    if name not in arrays:
        raise _bad(f"array {name!r} is missing")
    a = arrays[name]
    if a.dtype != np.dtype(dtype) or a.shape != shape:
        raise _bad(f"array {name!r} must be {np.dtype(dtype)} of shape {shape}, "
                   f"got {a.dtype} {a.shape}")
    if dtype is np.float64 and not np.all(np.isfinite(a)):
        raise _bad(f"array {name!r} holds NaN or inf")
    return a


def _bounded(a: np.ndarray, name: str, limit: float = MAX_ABS) -> np.ndarray:
    """Magnitudes the library itself accepts as data (their squares stay finite)."""
    if a.size and float(np.max(np.abs(a))) > limit:
        raise _bad(f"array {name!r} has values beyond {limit:g} in magnitude")
    return a


def _random_state(v: Any) -> Any:
    ok = v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
    return v if ok else None


def _json_value(v: Any) -> Any:
    """Constructor parameter as JSON (arrays as lists); None if it cannot be represented."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _params(
    model: Any, array_params: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    params, arrays = {}, {}
    for key, value in model.get_params(deep=False).items():
        if key in array_params:
            if value is not None:
                arrays[f"param.{key}"] = np.asarray(value, dtype=np.float64)
            continue
        params[key] = _random_state(value) if key == "random_state" else _json_value(value)
    return params, arrays


def _build(cls: type, meta: dict[str, Any], arrays: dict[str, np.ndarray],
           array_params: tuple[str, ...]) -> Any:
    params = dict(_obj(meta, "params"))
    defaults = cls().get_params(deep=False)
    extra = set(params) - set(defaults)
    if extra:
        raise _bad(f"unknown parameter(s) {sorted(extra)}")
    for key, value in params.items():
        # JSON true/false pass scikit-learn's Integral checks; only boolean parameters take them.
        if type(value) is bool and type(defaults[key]) is not bool and key != "verbose":
            raise _bad(f"parameter {key} must not be a boolean")
    for key in array_params:
        if f"param.{key}" in arrays:
            a = arrays[f"param.{key}"]
            if a.dtype != np.float64 or not np.all(np.isfinite(a)):
                raise _bad(f"parameter {key} must be finite floats")
            params[key] = a
    est = cls(**params)
    try:
        est._validate_params()
    except (ValueError, TypeError) as exc:
        raise _bad(f"parameters: {exc}") from None
    return est


def _feature_names(attrs: dict[str, Any], d: int) -> np.ndarray | None:
    names = attrs.get("feature_names_in_")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != d or not all(isinstance(n, str) for n in names):
        raise _bad(f"feature_names_in_ must be a list of {d} strings")
    return np.asarray(names, dtype=object)


def _known(arrays: dict[str, np.ndarray], allowed: set[str]) -> None:
    extra = set(arrays) - allowed
    if extra:
        raise _bad(f"unexpected array(s) {sorted(extra)}")


# -------------------------------------------------------------- GaussianMixture
def _dump_gmm(gm: GaussianMixture) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    check_is_fitted(gm, "means_")
    if not isinstance(gm.covariance_type, str) or gm.covariance_model_ not in MODELS:
        raise TypeError(
            f"cannot save a GaussianMixture with covariance model {gm.covariance_model_!r}: "
            "only registered models (given by name) are savable"
        )
    params, arrays = _params(gm, _GMM_ARRAY_PARAMS)
    attrs: dict[str, Any] = {
        "covariance_model_": gm.covariance_model_,
        "converged_": bool(gm.converged_),
        "n_iter_": int(gm.n_iter_),
        "lower_bound_": float(gm.lower_bound_),
        "lower_bounds_": [float(v) for v in gm.lower_bounds_],
        "n_features_in_": int(gm.n_features_in_),
    }
    if hasattr(gm, "feature_names_in_"):
        attrs["feature_names_in_"] = [str(n) for n in gm.feature_names_in_]
    if hasattr(gm, "fit_history_"):
        attrs["fit_history_"] = [
            {**r._asdict(), "events": [list(e) for e in r.events]} for r in gm.fit_history_
        ]
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        arrays[name] = np.asarray(getattr(gm, name), dtype=np.float64)
    return {"params": params, "attributes": attrs}, arrays


def _load_history(v: Any) -> list[FitRecord]:
    if not isinstance(v, list):
        raise _bad("fit_history_ must be a list")
    out = []
    for r in v:
        if not isinstance(r, dict) or set(r) != set(FitRecord._fields):
            raise _bad("fit_history_ entries must have the fields of FitRecord")
        events = r["events"]
        if not isinstance(events, list):
            raise _bad("fit_history_ events must be a list")
        evs = []
        for e in events:
            if not isinstance(e, list) or len(e) != len(CollapseEvent._fields):
                raise _bad("collapse events must be lists of 6 fields")
            restart, it, comp, reason, action, detail = e
            _int(restart, "event restart")
            _int(it, "event iteration")
            _int(comp, "event component")
            if not all(isinstance(s, str) for s in (reason, action, detail)):
                raise _bad("collapse event reason/action/detail must be strings")
            evs.append(CollapseEvent(restart, it, comp, reason, action, detail))
        err = r["error"]
        if err is not None and not isinstance(err, str):
            raise _bad("fit_history_ error must be a string or null")
        out.append(FitRecord(
            _int(r["restart"], "restart"), _float(r["objective"], "objective", allow_neg_inf=True),
            _bool(r["converged"], "converged"), _int(r["n_iter"], "n_iter"),
            _int(r["n_components"], "n_components"), tuple(evs), err,
        ))
    return out


def _load_gmm(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> GaussianMixture:
    gm = _build(GaussianMixture, meta, arrays, _GMM_ARRAY_PARAMS)
    if isinstance(gm.prior, dict) and not set(gm.prior) <= {"shrinkage", "mean", "dof", "scale"}:
        raise _bad(f"unknown prior key(s) in {sorted(gm.prior)}")
    attrs = _obj(meta, "attributes")
    code = attrs.get("covariance_model_")
    if not isinstance(code, str) or code not in MODELS:
        raise _bad(f"unknown covariance model code {code!r}; known: {', '.join(sorted(MODELS))}")
    model = MODELS[code]
    _known(arrays, {"weights_", "means_", "covariances_", "precisions_cholesky_"}
           | {f"param.{p}" for p in _GMM_ARRAY_PARAMS})
    d = _int(attrs.get("n_features_in_"), "n_features_in_", 1)
    if "weights_" not in arrays or arrays["weights_"].ndim != 1:
        raise _bad("weights_ must be a 1-d array")
    k = arrays["weights_"].shape[0]
    if not 1 <= k <= gm.n_components:
        raise _bad(f"{k} components but n_components={gm.n_components}")
    weights = _array(arrays, "weights_", (k,))
    if np.any(weights < 0) or abs(float(weights.sum()) - 1.0) > 1e-8:
        raise _bad("weights_ must be non-negative and sum to 1")
    means = _bounded(_array(arrays, "means_", (k, d)), "means_")
    shape = model.layout.shape(k, d)
    cov = _bounded(_array(arrays, "covariances_", shape), "covariances_", MAX_ABS**2)
    pc = _array(arrays, "precisions_cholesky_", shape)
    full = model.layout.full(cov, k, d)
    scale = float(np.max(np.abs(full))) if full.size else 0.0
    if not np.allclose(full, np.swapaxes(full, 1, 2), rtol=0, atol=1e-12 * scale):
        raise _bad("covariances_ are not symmetric")
    try:
        expected_pc = model.layout.precisions_cholesky(cov)
    except SingularCovarianceError as exc:
        raise _bad(f"covariances_ are not positive definite ({exc})") from None
    if not np.all(np.isfinite(expected_pc)) or not np.allclose(pc, expected_pc, rtol=1e-7, atol=0):
        raise _bad("precisions_cholesky_ do not match covariances_")
    lbs = attrs.get("lower_bounds_")
    if not isinstance(lbs, list):
        raise _bad("lower_bounds_ must be a list")
    gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_ = weights, means, cov, pc
    gm.precisions_ = model.layout.precisions(pc)
    gm.covariance_model_ = code
    gm.n_components_ = k
    gm.converged_ = _bool(attrs.get("converged_"), "converged_")
    gm.n_iter_ = _int(attrs.get("n_iter_"), "n_iter_")
    gm.lower_bound_ = _float(attrs.get("lower_bound_"), "lower_bound_", allow_neg_inf=True)
    gm.lower_bounds_ = [_float(v, "lower_bounds_", allow_neg_inf=True) for v in lbs]
    gm.n_features_in_ = d
    names = _feature_names(attrs, d)
    if names is not None:
        gm.feature_names_in_ = names
    if "fit_history_" in attrs:
        gm.fit_history_ = _load_history(attrs["fit_history_"])
    return gm


# ------------------------------------------------------------------- KMeans
def _dump_kmeans(km: KMeans) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    check_is_fitted(km, "cluster_centers_")
    init = km.init
    params, arrays = _params(km, ("init",) if not isinstance(init, str) else ())
    attrs: dict[str, Any] = {
        "inertia_": float(km.inertia_),
        "n_iter_": int(km.n_iter_),
        "weight_sum": float(km._weight_sum),
        "n_features_in_": int(km.n_features_in_),
    }
    if hasattr(km, "feature_names_in_"):
        attrs["feature_names_in_"] = [str(n) for n in km.feature_names_in_]
    arrays["cluster_centers_"] = np.asarray(km.cluster_centers_, dtype=np.float64)
    arrays["labels_"] = np.asarray(km.labels_, dtype=np.int64)
    return {"params": params, "attributes": attrs}, arrays


def _load_kmeans(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> KMeans:
    params = _obj(meta, "params")
    array_init = ("init",) if "param.init" in arrays else ()
    if array_init and "init" in params:
        raise _bad("init given both as a parameter and as an array")
    km = _build(KMeans, meta, arrays, array_init)
    _known(arrays, {"cluster_centers_", "labels_", "param.init"})
    attrs = _obj(meta, "attributes")
    d = _int(attrs.get("n_features_in_"), "n_features_in_", 1)
    k = km.n_clusters
    centers = _bounded(_array(arrays, "cluster_centers_", (k, d)), "cluster_centers_")
    if "labels_" not in arrays or arrays["labels_"].ndim != 1:
        raise _bad("labels_ must be a 1-d array")
    labels = _array(arrays, "labels_", arrays["labels_"].shape, np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise _bad(f"labels_ must lie in [0, {k})")
    if array_init:
        _array(arrays, "param.init", (k, d))
    inertia = _float(attrs.get("inertia_"), "inertia_")
    weight_sum = _float(attrs.get("weight_sum"), "weight_sum")
    if inertia < 0 or weight_sum <= 0:
        raise _bad("inertia_ must be >= 0 and weight_sum > 0")
    km.cluster_centers_ = centers
    km.labels_ = labels.astype(np.intp)
    km.inertia_ = inertia
    km.n_iter_ = _int(attrs.get("n_iter_"), "n_iter_")
    km._weight_sum = weight_sum
    km.n_features_in_ = d
    names = _feature_names(attrs, d)
    if names is not None:
        km.feature_names_in_ = names
    return km


register_codec(Codec("GaussianMixture", GaussianMixture, _dump_gmm, _load_gmm))
register_codec(Codec("KMeans", KMeans, _dump_kmeans, _load_kmeans))


# ---------------------------------------------------------------- Selection
# Model selection (issue 3) joins the registry when its module is present.
_TABLE_TYPES: dict[str, tuple[type, ...]] = {
    "covariance_type": (str,), "n_components": (int,), "log_likelihood": (float, int),
    "n_parameters": (int,), "bic": (float, int), "aic": (float, int), "icl": (float, int),
    "converged": (bool,), "n_iter": (int,), "error": (str, type(None)),
}


def _dump_selection(sel: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    table = [{key: _json_value(r.get(key)) for key in _TABLE_TYPES} for r in sel.table_]
    meta: dict[str, Any] = {"attributes": {"criterion": sel.criterion, "table_": table}}
    arrays: dict[str, np.ndarray] = {}
    if sel.best_ is not None:
        best_meta, best_arrays = _dump_gmm(sel.best_)
        meta["best_"] = best_meta
        arrays = {f"best.{name}": a for name, a in best_arrays.items()}
    return meta, arrays


def _load_selection(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from .selection import CRITERIA, Selection

    attrs = _obj(meta, "attributes")
    criterion = attrs.get("criterion")
    if criterion not in CRITERIA:
        raise _bad(f"unknown selection criterion {criterion!r}")
    table = attrs.get("table_")
    if not isinstance(table, list):
        raise _bad("table_ must be a list")
    for r in table:
        if not isinstance(r, dict) or set(r) != set(_TABLE_TYPES):
            raise _bad("table_ records must have the selection table's fields")
        for key, types in _TABLE_TYPES.items():
            v = r[key]
            if type(v) not in types or (key != "converged" and type(v) is bool):
                raise _bad(f"table_ field {key} has type {type(v).__name__}")
        if not isinstance(r["covariance_type"], str) or r["covariance_type"] not in MODELS:
            raise _bad(f"unknown covariance model {r['covariance_type']!r} in table_")
    best = None
    if "best_" in meta:
        best_arrays = {k[len("best."):]: a for k, a in arrays.items() if k.startswith("best.")}
        if len(best_arrays) != len(arrays):
            raise _bad("unexpected arrays in a selection file")
        best_meta = meta["best_"]
        if not isinstance(best_meta, dict):
            raise _bad("best_ must be an object")
        best = _load_gmm(best_meta, best_arrays)
    elif arrays:
        raise _bad("arrays without a best_ model")
    return Selection(table, best, criterion)


from .selection import Selection as _Selection  # noqa: E402

register_codec(Codec("Selection", _Selection, _dump_selection, _load_selection))
