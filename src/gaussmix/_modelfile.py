"""Model files for the command line: a fitted mixture plus how its input was prepared.

The mixture itself is written with the library's safe format
(``gaussmix.save``/``gaussmix.load``) when that exists; otherwise with the
interim format here: one ``.npz`` whose arrays are the parameters and whose
``meta`` entry is a JSON string. Both are plain data (never pickle). The
command line also needs the feature columns and the standardisation used at
fit time; they travel in a JSON sidecar object stored in the same file.
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
        cols = [str(c) for c in obj["columns"]]
        center = np.asarray(obj["center"], dtype=np.float64)
        scale = np.asarray(obj["scale"], dtype=np.float64)
        if center.shape != (len(cols),) or scale.shape != (len(cols),):
            raise ValueError("preprocessing arrays do not match the columns")
        if not (np.all(np.isfinite(center)) and np.all(scale > 0) and np.all(np.isfinite(scale))):
            raise ValueError("preprocessing arrays are not finite and positive")
        return cls(cols, center, scale)


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
