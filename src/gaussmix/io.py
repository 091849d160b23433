"""Safe model files: plain data in, plain data out, never pickle.

A model file is a zip archive (stored, not compressed) holding

- ``metadata.json``: format name and version, the estimator's type, its
  constructor parameters and scalar fitted attributes, and the dtype and
  shape of every array;
- ``arrays/<name>.npy``: one NumPy array per name, read back with
  ``allow_pickle=False``.

:func:`load` runs no code from the file: it parses JSON and ``.npy`` headers
only, checks every field (types, shapes, dtypes, finite values, symmetric
positive-definite covariances, weights summing to 1, known model codes,
consistency of precisions with covariances), and turns anything wrong into
:class:`ModelFileError`. :func:`save` writes to a temporary file in the
target's directory and renames it over the target, so a crash never leaves a
half-written file in place of a good one.

Each estimator type has a :class:`Codec` in a small registry
(:func:`register_codec`), so other estimators (e.g. a model-selection result)
can join without changing this module's dispatch.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
_META = "metadata.json"
_MAX_META_BYTES = 1 << 20
_MAX_ARRAY_BYTES = 1 << 32
_MAX_ENTRIES = 256
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
_DTYPES = {"<f8": np.float64, "<i8": np.int64}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same model gives the same bytes


class ModelFileError(ValueError):
    """A model file is damaged, hostile, of an unknown format, or holds invalid parameters."""


@dataclass(frozen=True)
class Codec:
    """How one estimator type becomes plain data and back.

    Attributes
    ----------
    type_name : str
        Name written in the file (the class name).
    cls : type
        The estimator class.
    dump : callable
        ``dump(model) -> (meta, arrays)``: a JSON-able dict and a dict of
        float64 / int64 arrays.
    load : callable
        ``load(meta, arrays) -> model``; raises ``ModelFileError`` (or any
        ``ValueError`` / ``TypeError``, which :func:`load` converts) for bad
        content.
    """

    type_name: str
    cls: type
    dump: Callable[[Any], tuple[dict[str, Any], dict[str, np.ndarray]]]
    load: Callable[[dict[str, Any], dict[str, np.ndarray]], Any]


_CODECS: dict[str, Codec] = {}


def register_codec(codec: Codec) -> Codec:
    """Make ``save``/``load`` handle ``codec.cls`` (replaces an earlier codec of that name)."""
    _CODECS[codec.type_name] = codec
    return codec


def _codec_for(model: Any) -> Codec:
    from . import _codecs  # noqa: F401  (registers the built-in estimators)

    for codec in _CODECS.values():
        if type(model) is codec.cls:
            return codec
    raise TypeError(
        f"cannot save a {type(model).__name__}; savable types: {', '.join(sorted(_CODECS))}"
    )


# ----------------------------------------------------------------------- save
def save(model: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted estimator to ``path`` as a versioned, pickle-free model file.

    Parameters
    ----------
    model : GaussianMixture or KMeans (or any registered type), fitted
    path : str or path-like
        Written atomically: a temporary file in the same directory is renamed
        over ``path`` only once complete.

    Raises
    ------
    TypeError
        For an estimator type without a codec.
    sklearn.exceptions.NotFittedError
        For an unfitted estimator.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> import gaussmix
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> gm = gaussmix.GaussianMixture(2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.gmx")
    >>> gaussmix.save(gm, path)
    >>> np.array_equal(gaussmix.load(path).predict_proba(X), gm.predict_proba(X))
    True
    """
    codec = _codec_for(model)
    meta, arrays = codec.dump(model)
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "type": codec.type_name,
        "arrays": {},
        **meta,
    }
    blobs: dict[str, bytes] = {}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        dtype = arr.dtype.newbyteorder("<").str
        if dtype not in _DTYPES or not _NAME.match(name):
            raise TypeError(f"array {name!r} of dtype {arr.dtype} cannot be saved")
        arr = arr.astype(_DTYPES[dtype], copy=False)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, allow_pickle=False)
        blobs[f"arrays/{name}.npy"] = buf.getvalue()
        header["arrays"][name] = {"dtype": dtype, "shape": list(arr.shape)}
    text = json.dumps(header, indent=1, sort_keys=True).encode("utf-8")

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gaussmix-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                for name, data in [(_META, text), *blobs.items()]:
                    zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------- load
def load(path: str | os.PathLike[str]) -> Any:
    """Read a model file written by :func:`save`, validating every field.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model : the fitted estimator

    Raises
    ------
    ModelFileError
        (a ``ValueError``) for a damaged, truncated, hostile or unknown file,
        or one whose parameters are invalid. Nothing from the file is executed.
    OSError
        If the file cannot be opened.

    Examples
    --------
    See :func:`save`.
    """
    with open(os.fspath(path), "rb") as fh:
        if os.fstat(fh.fileno()).st_size > _MAX_ARRAY_BYTES + _MAX_META_BYTES:
            raise ModelFileError("model file too large")
        try:
            return _load_file(fh)
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to parse is a bad file
            raise ModelFileError(
                f"not a valid gaussmix model file: {type(exc).__name__}: {exc}"
            ) from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    methods = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    if info.file_size > limit or info.compress_type not in methods:
        raise ModelFileError(f"entry {info.filename!r} is too large or oddly compressed")
    with zf.open(info) as f:
        out = f.read(limit + 1)
    if len(out) > limit:
        raise ModelFileError(f"entry {info.filename!r} is too large")
    return out


def _load_file(fh: Any) -> Any:
    """Parse an open model file; members are read one at a time, each size-capped."""
    from . import _codecs  # noqa: F401

    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        raise ModelFileError("not a gaussmix model file (not a zip archive)") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(infos) > _MAX_ENTRIES or len(set(names)) != len(names) or _META not in names:
            raise ModelFileError("model file has a missing, duplicated or unexpected entry")
        by_name = {i.filename: i for i in infos}
        try:
            meta = json.loads(_read_member(zf, by_name[_META], _MAX_META_BYTES).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"metadata is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ModelFileError("not a gaussmix model file (format field)")
        version = meta.get("format_version")
        if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
            raise ModelFileError(
                f"unsupported model file version {version!r}; this gaussmix reads up to "
                f"{FORMAT_VERSION}"
            )
        type_name = meta.get("type")
        if not isinstance(type_name, str) or type_name not in _CODECS:
            raise ModelFileError(f"unknown estimator type {type_name!r} in model file")
        declared = meta.get("arrays")
        if not isinstance(declared, dict):
            raise ModelFileError("metadata field 'arrays' must be an object")
        expected = {_META} | {f"arrays/{n}.npy" for n in declared if isinstance(n, str)}
        if set(names) != expected:
            raise ModelFileError("model file entries do not match its metadata")
        arrays = {name: _read_array(zf, by_name[f"arrays/{name}.npy"], name, spec)
                  for name, spec in declared.items()}
        return _CODECS[type_name].load(meta, arrays)


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, spec: Any) -> np.ndarray:
    if not _NAME.match(name) or not isinstance(spec, dict):
        raise ModelFileError(f"bad array entry {name!r}")
    dtype, shape = spec.get("dtype"), spec.get("shape")
    if dtype not in _DTYPES or not isinstance(shape, list) or len(shape) > 4 or not all(
        type(s) is int and 0 <= s for s in shape
    ):
        raise ModelFileError(f"array {name!r}: bad dtype or shape in metadata")
    raw = _read_member(zf, info, _MAX_ARRAY_BYTES)
    arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    if arr.dtype != np.dtype(dtype) or list(arr.shape) != shape:
        raise ModelFileError(
            f"array {name!r} is {arr.dtype} {arr.shape}, metadata says {dtype} {tuple(shape)}"
        )
    return arr
