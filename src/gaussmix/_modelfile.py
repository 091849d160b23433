"""Model files for the command line: a fitted mixture plus how its input was prepared.

The command line needs, besides the mixture, the feature columns and the
standardisation used at fit time. :class:`PreparedMixture` holds both. With
the library's safe model files (``gaussmix.save``/``gaussmix.load``) it is
written as one more registered estimator type: the mixture's own fields plus a
``preprocessing`` object, validated on load. Where the library has no
``gaussmix.io`` the interim format here is used: one ``.npz`` whose arrays are
the parameters and whose ``meta`` entry is a JSON string. Both are plain data
(never pickle), written atomically.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._tabular import DataError, write_atomic
from .covariance import get_model
from .mixture import GaussianMixture

FORMAT = "gaussmix-cli-model"
VERSION = 1
_ARRAYS = ("weights_", "means_", "covariances_")


@dataclass
class Preprocessing:
    """Feature columns and the affine map applied before the model.

    ``z = (x - center) / scale`` column-wise; identity when not standardised.
    """

    columns: list[str]
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, columns: list[str], standardize: bool) -> Preprocessing:
        d = X.shape[1]
        if not standardize:
            return cls(list(columns), np.zeros(d), np.ones(d))
        center = X.mean(axis=0)
        scale = X.std(axis=0)
        const = np.flatnonzero(~(scale > 0))
        if const.size:
            raise DataError(f"column {columns[const[0]]!r} is constant: cannot standardize it")
        return cls(list(columns), center, scale)

    @property
    def standardized(self) -> bool:
        return bool(np.any(self.center != 0) or np.any(self.scale != 1))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center) / self.scale

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "center": self.center.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Preprocessing:
        if not isinstance(obj, dict) or not isinstance(obj.get("columns"), list) or not all(
                isinstance(c, str) for c in obj["columns"]):
            raise ValueError("preprocessing needs a list of column names")
        cols = list(obj["columns"])
        center = np.asarray(obj["center"], dtype=np.float64)
        scale = np.asarray(obj["scale"], dtype=np.float64)
        if center.shape != (len(cols),) or scale.shape != (len(cols),):
            raise ValueError("preprocessing arrays do not match the columns")
        if not (np.all(np.isfinite(center)) and np.all(scale > 0) and np.all(np.isfinite(scale))):
            raise ValueError("preprocessing arrays are not finite and positive")
        return cls(cols, center, scale)


class PreparedMixture:
    """A fitted mixture and the column choice and scaling applied before it.

    What ``gaussmix fit`` saves; ``gaussmix.load`` on such a file returns one.

    Parameters
    ----------
    mixture : GaussianMixture
        Fitted on ``preprocessing.transform(X)``.
    preprocessing : Preprocessing

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> from gaussmix._modelfile import PreparedMixture, Preprocessing
    >>> X = np.random.default_rng(0).normal(size=(50, 2)) * [1, 100]
    >>> prep = Preprocessing.fit(X, ["a", "b"], standardize=True)
    >>> pm = PreparedMixture(GaussianMixture(2, random_state=0).fit(prep.transform(X)), prep)
    >>> pm.predict(X).shape
    (50,)
    """

    def __init__(self, mixture: GaussianMixture, preprocessing: Preprocessing) -> None:
        self.mixture = mixture
        self.preprocessing = preprocessing

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable component of each row of ``X`` (in the input's units)."""
        return np.asarray(self.mixture.predict(self.preprocessing.transform(X)))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Responsibilities, shape (n_samples, n_components)."""
        return np.asarray(self.mixture.predict_proba(self.preprocessing.transform(X)))

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Log-density in the input's units (the scaling's Jacobian included)."""
        z = self.mixture.score_samples(self.preprocessing.transform(X))
        return np.asarray(z) - float(np.sum(np.log(self.preprocessing.scale)))


def _library_io() -> Any:
    """``gaussmix.io`` with its codec registry, or None where the library has none."""
    try:
        from . import io as lib_io  # type: ignore[attr-defined]
    except ImportError:
        return None
    if not hasattr(lib_io, "register_codec"):
        return None
    if "PreparedMixture" not in getattr(lib_io, "_CODECS", {}):
        _register(lib_io)
    return lib_io


def _register(lib_io: Any) -> None:
    # The mixture's fields are written and checked by the library's own
    # GaussianMixture codec; this one adds and checks the preprocessing.
    def dump(pm: PreparedMixture) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = lib_io._codec_for(pm.mixture).dump(pm.mixture)
        return {**meta, "preprocessing": pm.preprocessing.to_json()}, arrays

    def load(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> PreparedMixture:
        try:
            prep = Preprocessing.from_json(meta["preprocessing"])
        except (KeyError, TypeError, ValueError) as exc:
            raise lib_io.ModelFileError(f"invalid model file: preprocessing: {exc}") from None
        gm = lib_io._CODECS["GaussianMixture"].load(meta, arrays)
        if gm.n_features_in_ != len(prep.columns):
            raise lib_io.ModelFileError("invalid model file: preprocessing columns do not "
                                        "match the mixture's features")
        return PreparedMixture(gm, prep)

    lib_io.register_codec(lib_io.Codec("PreparedMixture", PreparedMixture, dump, load))


def _model_meta(model: GaussianMixture) -> dict[str, Any]:
    k, d = model.means_.shape
    return {
        "n_components": int(k), "n_features": int(d),
        "covariance_type": str(model.covariance_model_),
        "equal_weights": bool(getattr(model, "equal_weights", False)),
        "converged": bool(model.converged_), "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
    }


def save_model(path: str | os.PathLike[str], model: GaussianMixture, prep: Preprocessing) -> None:
    """Write a fitted mixture and its preprocessing atomically (no pickle)."""
    lib_io = _library_io()
    if lib_io is not None:
        lib_io.save(PreparedMixture(model, prep), path)
        return
    meta = {"format": FORMAT, "version": VERSION, "model": _model_meta(model),
            "preprocessing": prep.to_json()}
    arrays = {name: np.asarray(getattr(model, name), dtype=np.float64) for name in _ARRAYS}

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]

    write_atomic(path, _write)


def load_model(path: str | os.PathLike[str]) -> tuple[GaussianMixture, Preprocessing]:
    """Read a file written by :func:`save_model`; runs no code from it.

    Raises
    ------
    DataError
        Missing, corrupt, or inconsistent file (one line saying which).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    lib_io = _library_io()
    if lib_io is not None:
        try:
            obj = lib_io.load(path)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: {' '.join(str(exc).split())}") from None
        if isinstance(obj, PreparedMixture):
            return obj.mixture, obj.preprocessing
        if isinstance(obj, GaussianMixture):  # saved from Python with gaussmix.save
            d = int(obj.n_features_in_)
            names = getattr(obj, "feature_names_in_", None)
            cols = [str(c) for c in names] if names is not None else [f"x{j}" for j in range(d)]
            return obj, Preprocessing(cols, np.zeros(d), np.ones(d))
        raise DataError(f"{path}: holds a {type(obj).__name__}, not a Gaussian mixture")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"][()]))
            arrays = {name: np.array(z[name]) for name in _ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a gaussmix model file ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a gaussmix model file")
    if meta.get("version") != VERSION:
        raise DataError(f"{path}: model file version {meta.get('version')!r} is not supported")
    try:
        m = meta["model"]
        k, d = int(m["n_components"]), int(m["n_features"])
        cov_model = get_model(str(m["covariance_type"]))
        prep = Preprocessing.from_json(meta["preprocessing"])
        weights, means, cov = arrays["weights_"], arrays["means_"], arrays["covariances_"]
        if weights.shape != (k,) or means.shape != (k, d) or len(prep.columns) != d:
            raise ValueError("array shapes do not match n_components/n_features")
        if cov.shape != cov_model.layout.shape(k, d):
            raise ValueError("covariance shape does not match the model")
        for a in (weights, means, cov):
            if not np.all(np.isfinite(a)):
                raise ValueError("non-finite parameters")
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError("weights are not a probability vector")
        prec_chol = cov_model.layout.precisions_cholesky(cov)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: corrupt model file: {exc}") from None
    gm = GaussianMixture(n_components=k, covariance_type=cov_model.code,
                         equal_weights=bool(m.get("equal_weights", False)))
    gm.weights_, gm.means_, gm.covariances_ = weights, means, cov
    gm.precisions_cholesky_ = prec_chol
    gm.precisions_ = cov_model.layout.precisions(prec_chol)
    gm.covariance_model_ = cov_model.code
    gm.converged_, gm.n_iter_ = bool(m.get("converged", True)), int(m.get("n_iter", 0))
    gm.lower_bound_ = float(m.get("lower_bound", -np.inf))
    gm.lower_bounds_ = []
    gm.n_features_in_ = d
    return gm, prep
