"""Model files for the command line: a fitted mixture plus how its input was prepared.

The command line needs, besides the mixture, the feature columns and the
standardisation used at fit time. :class:`PreparedMixture` holds both and is
written with the library's safe model files (:func:`gaussmix.save` /
:func:`gaussmix.load`) as one more registered estimator type: the mixture's
own fields, written and checked by the library's ``GaussianMixture`` codec,
plus a ``preprocessing`` object checked here. Plain data, never pickle,
written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import io as lib_io
from ._tabular import DataError
from .mixture import GaussianMixture


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


def _register() -> None:
    # The mixture's fields are written and checked by the library's own
    # GaussianMixture codec; this one adds and checks the preprocessing.
    if "PreparedMixture" in lib_io._CODECS:
        return

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


def save_model(path: str | os.PathLike[str], model: GaussianMixture, prep: Preprocessing) -> None:
    """Write a fitted mixture and its preprocessing atomically (no pickle)."""
    _register()
    lib_io.save(PreparedMixture(model, prep), path)


def load_model(path: str | os.PathLike[str]) -> tuple[GaussianMixture, Preprocessing]:
    """Read a model file; runs no code from it.

    Files written by ``gaussmix fit`` give their preprocessing; a
    ``GaussianMixture`` saved from Python with :func:`gaussmix.save` gets the
    identity (columns from ``feature_names_in_``, else ``x0, x1, ...``).

    Raises
    ------
    DataError
        Missing, corrupt or inconsistent file, or one holding another
        estimator (one line saying which).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    _register()
    try:
        obj = lib_io.load(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: {' '.join(str(exc).split())}") from None
    if isinstance(obj, PreparedMixture):
        return obj.mixture, obj.preprocessing
    if isinstance(obj, GaussianMixture):
        d = int(obj.n_features_in_)
        names = getattr(obj, "feature_names_in_", None)
        cols = [str(c) for c in names] if names is not None else [f"x{j}" for j in range(d)]
        return obj, Preprocessing(cols, np.zeros(d), np.ones(d))
    raise DataError(f"{path}: holds a {type(obj).__name__}, not a Gaussian mixture")
