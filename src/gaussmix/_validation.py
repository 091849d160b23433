"""Input checks shared by the estimators: clear errors that say where."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data


def _first_nonfinite(X: np.ndarray) -> tuple[int, int, str] | None:
    bad = ~np.isfinite(X)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    v = X[row, col]
    what = "NaN" if np.isnan(v) else "inf"
    return int(row), int(col), what


def check_X(
    estimator: Any, X: Any, *, reset: bool, min_samples: int = 1
) -> np.ndarray:
    """Validate a 2-D float array (float32 kept, anything else to float64).

    Raises
    ------
    ValueError
        For wrong dimensions, too few rows, or NaN/inf (naming the first row
        and column where one occurs).
    TypeError
        For sparse input.
    """
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
        raise TypeError(f"{exc} gaussmix needs a dense numeric array.") from None
    loc = _first_nonfinite(X)
    if loc is not None:
        row, col, what = loc
        n_bad = int((~np.isfinite(X)).sum())
        raise ValueError(
            f"Input X contains {what} (first at row {row}, column {col}; "
            f"{n_bad} non-finite value(s) in all). Remove or impute them before fitting."
        )
    return X


def check_sample_weight(sample_weight: Any, X: np.ndarray) -> np.ndarray:
    """Float64 sample weights of shape (n_samples,): finite, non-negative, positive sum."""
    if sample_weight is not None:
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
