"""Input checks shared by the estimators: clear errors that say where."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.validation import _check_sample_weight, validate_data

from .execution.chunks import current_n_jobs, thread_pool

# From this size the column ranges are taken by row parts on the fit's
# threads (NumPy's reductions release the GIL; below it a part costs less
# than handing it to a thread).
_PARALLEL_RANGE_BYTES = 8 << 20


def _column_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column minima and maxima of a non-empty X, float64; NaN where a column has NaN.

    Large C-ordered arrays are split by rows over the threads of the
    enclosing :func:`~gaussmix.execution.parallel` block (W3, 50,000 x 64
    float64, 2 threads: benchmarks/NOTES.md #102).

    NumPy's ``minimum``/``maximum`` propagate NaN, so a column holding NaN or
    ±inf has a non-finite minimum or maximum: no separate finiteness pass. A
    C-ordered X is reduced as rows of ~4,096 values (``g`` rows side by side,
    then the ``g`` partial results folded): a row-at-a-time reduction of 64
    columns spends its time between calls of the SIMD loop (W3, 50,000 x 64
    float32: 4.1 ms -> 0.7 ms, the compiled one-pass loop it replaces did not
    vectorise).
    """
    n_jobs = min(current_n_jobs(), X.shape[0])  # (no empty part: it has no minimum)
    if n_jobs > 1 and X.nbytes >= _PARALLEL_RANGE_BYTES and X.flags.c_contiguous:
        cuts = np.linspace(0, X.shape[0], n_jobs + 1).astype(int)
        parts = list(thread_pool(n_jobs).map(lambda a, b: _rows_range(X[a:b]), cuts[:-1],
                                             cuts[1:]))
        return (np.minimum.reduce([lo for lo, _ in parts]),
                np.maximum.reduce([hi for _, hi in parts]))
    return _rows_range(X)


def _rows_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_column_range` on the calling thread."""
    n, d = X.shape
    g = max(1, 4096 // max(d, 1)) if X.flags.c_contiguous else 1
    m = (n // g) * g
    if g > 1 and m:
        V = X[:m].reshape(m // g, g * d)
        lo = np.minimum.reduce(V, axis=0).reshape(g, d).min(axis=0)
        hi = np.maximum.reduce(V, axis=0).reshape(g, d).max(axis=0)
        if m < n:
            lo = np.minimum(lo, X[m:].min(axis=0))
            hi = np.maximum(hi, X[m:].max(axis=0))
    else:
        lo, hi = X.min(axis=0), X.max(axis=0)
    return lo.astype(np.float64), hi.astype(np.float64)


def _first_nonfinite(X: np.ndarray) -> tuple[int, int, str] | None:
    bad = ~np.isfinite(X)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    v = X[row, col]
    what = "NaN" if np.isnan(v) else "inf"
    return int(row), int(col), what


#: Largest magnitude whose square (a variance, a squared distance) stays finite
#: in float64 with room to spare.
MAX_ABS = 1e150
#: Smallest non-zero spread of a column whose variance does not underflow.
MIN_SPREAD = 1e-150


def _check_frame_columns(X: Any) -> None:
    """A DataFrame's non-numeric column is named (bool, int, uint and float pass)."""
    dtypes, columns = getattr(X, "dtypes", None), getattr(X, "columns", None)
    if dtypes is None or columns is None or not hasattr(dtypes, "__iter__"):
        return
    for name, dt in zip(columns, dtypes, strict=False):
        if getattr(dt, "kind", "O") not in "biuf":
            raise TypeError(
                f"column {name!r} of X has non-numeric dtype {dt}; gaussmix needs numeric "
                "features: encode or drop that column."
            )


def _first_unconvertible(X: Any) -> str:
    """Where the first cell that is not a real number sits, for an error message."""
    try:
        arr = np.asarray(X, dtype=object)
    except Exception:  # noqa: BLE001 - best effort only: the caller has the real error
        return ""
    if arr.ndim != 2:
        return ""
    for (row, col), v in np.ndenumerate(arr):
        try:
            float(v)
        except (TypeError, ValueError):
            return f" (first non-numeric value {v!r} at row {row}, column {col})"
    return ""


def _check_scale(X: np.ndarray, reset: bool, lo: np.ndarray, hi: np.ndarray) -> None:
    """Magnitudes whose squares overflow, or spreads whose squares underflow, float64.

    ``lo`` and ``hi`` are the column minima and maxima (float64).
    """
    if X.size == 0:
        return
    amax = np.maximum(np.abs(hi), np.abs(lo))
    if np.any(amax > MAX_ABS):
        col = int(np.flatnonzero(amax > MAX_ABS)[0])
        row = int(np.flatnonzero(np.abs(X[:, col].astype(np.float64)) > MAX_ABS)[0])
        raise ValueError(
            f"X has values of magnitude up to {float(amax.max()):.3g} (first at row {row}, "
            f"column {col}): their squares overflow float64, so variances and distances "
            f"would be infinite. Rescale X (e.g. divide by 10**{int(np.log10(amax.max()))})."
        )
    if reset and X.shape[0] > 1:
        spread = hi - lo
        tiny = np.flatnonzero((spread > 0) & (spread < MIN_SPREAD))
        if tiny.size:
            col = int(tiny[0])
            raise ValueError(
                f"column {col} of X varies only by {spread[col]:.3g}: its variance underflows "
                "float64, so clusters along it cannot be resolved. Rescale X (e.g. divide by "
                "its standard deviation) or drop the column."
            )


def check_X(
    estimator: Any, X: Any, *, reset: bool, min_samples: int = 1
) -> np.ndarray:
    """Validate a 2-D float array (float32 kept, anything else to float64).

    Raises
    ------
    ValueError
        For wrong dimensions or feature count, too few rows, NaN/inf (naming
        the first row and column where one occurs), a non-numeric cell of an
        array, or values whose squares overflow (or spreads whose squares
        underflow) float64.
    TypeError
        For sparse input and non-numeric DataFrame columns (named).
    """
    _check_frame_columns(X)
    try:
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=min_samples,
            accept_sparse=False,
        )
    except TypeError as exc:
        where = "" if "parse" in str(exc) else _first_unconvertible(X)
        raise TypeError(f"{exc}{where}. gaussmix needs a dense numeric array.") from None
    except ValueError as exc:
        if "could not convert" in str(exc) or "convert" in str(exc).lower():
            raise ValueError(f"X must be numeric: {exc}{_first_unconvertible(X)}") from None
        raise
    # The column ranges also tell whether X is finite (isfinite/any + max +
    # min over X took 4 passes: ~0.1 s on 1,000,000 x 8).
    d = X.shape[1] if X.ndim == 2 else 0
    lo, hi = _column_range(X) if X.size else (np.zeros(d), np.zeros(d))
    finite = bool(np.isfinite(lo).all() and np.isfinite(hi).all())
    loc = None if finite else _first_nonfinite(X)
    if loc is not None:
        row, col, what = loc
        n_bad = int((~np.isfinite(X)).sum())
        raise ValueError(
            f"Input X contains {what} (first at row {row}, column {col}; "
            f"{n_bad} non-finite value(s) in all). Remove or impute them before fitting."
        )
    _check_scale(X, reset, lo, hi)
    return X


def _probe_direction(d: int) -> np.ndarray:
    """The fixed direction of :func:`check_distinct_rows`' fast path (no two equal entries)."""
    return 1.0 + np.arange(d) / (d + np.pi)


def check_distinct_rows(X: np.ndarray, w: np.ndarray, k: int, hint: str = "") -> None:
    """At least ``k`` distinct rows with positive weight, or a ValueError that says so.

    First block: rows whose projections on a fixed direction
    (:func:`_probe_direction`) differ are distinct, which settles ordinary
    data with one product. Otherwise scans row blocks exactly and stops as
    soon as ``k`` distinct rows are seen.
    """
    n = X.shape[0]
    step = max(4 * k, 1024)
    head = np.asarray(X[:step], dtype=np.float64)[w[:step] > 0]
    if np.unique(head @ _probe_direction(head.shape[1])).size >= k:
        return
    seen: set[bytes] = set()
    for start in range(0, n, step):
        block = np.asarray(X[start : start + step], dtype=np.float64)
        block = block[w[start : start + step] > 0] + 0.0  # + 0.0 folds -0.0 into 0.0
        for row in np.unique(block, axis=0):
            seen.add(row.tobytes())
        if len(seen) >= k:
            return
    raise ValueError(
        f"X has only {len(seen)} distinct row(s) with positive weight, fewer than "
        f"n_components={k}: the likelihood is unbounded (a component would sit on a single "
        f"point). Use at most {len(seen)} components{', ' + hint if hint else ''}."
    )


def check_sample_weight(sample_weight: Any, X: np.ndarray) -> np.ndarray:
    """Float64 sample weights of shape (n_samples,): finite, non-negative, positive sum.

    Without weights, a read-only broadcast of 1.0 (no memory per row).
    """
    if sample_weight is None:
        return np.broadcast_to(np.float64(1.0), (X.shape[0],))
    sw = np.asarray(sample_weight)
    if sw.ndim == 1 and sw.shape[0] == X.shape[0] and np.issubdtype(sw.dtype, np.number):
        bad = np.flatnonzero(~np.isfinite(sw.astype(np.float64)))
        if bad.size:
            raise ValueError(f"sample_weight contains NaN or inf (first at index {bad[0]})")
    w = _check_sample_weight(sample_weight, X, dtype=np.float64)
    neg = np.flatnonzero(w < 0)
    if neg.size:
        raise ValueError(
            f"sample_weight must be non-negative; got {w[neg[0]]} at index {neg[0]}"
        )
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: at least one row needs a positive weight")
    return w


def check_n_components(n_components: int, X: np.ndarray, name: str = "n_components") -> None:
    """Fewer rows than components is an error that says so."""
    if X.shape[0] < n_components:
        raise ValueError(
            f"Expected n_samples >= {name}, but got {name} = {n_components} and "
            f"n_samples = {X.shape[0]}: a mixture needs at least one row per component."
        )


#: scikit-learn parameter constraint for ``n_jobs``: -1, a positive integer, or None.
N_JOBS_CONSTRAINT: list[Any] = [
    Options(Integral, {-1}),
    Interval(Integral, 1, None, closed="left"),
    None,
]


def check_array_shape(a: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def check_weights_init(a: Any, k: int) -> np.ndarray:
    w = check_array_shape(a, (k,), "weights_init")
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights_init must be non-negative and sum to 1, got sum {w.sum()}")
    return w


def check_resp_init(a: Any, n: int, k: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"resp_init labels must have length n_samples={n}, got {arr.shape[0]}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError("resp_init of shape (n_samples,) must hold integer labels")
            arr = arr.astype(np.intp)
        if arr.min() < 0 or arr.max() >= k:
            raise ValueError(
                f"resp_init labels must lie in [0, {k}), got [{arr.min()}, {arr.max()}]"
            )
        return arr.astype(np.intp)
    resp = check_array_shape(arr, (n, k), "resp_init")
    if np.any(resp < 0):
        raise ValueError("resp_init must be non-negative")
    sums = resp.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("every row of resp_init needs a positive sum")
    return resp / sums
