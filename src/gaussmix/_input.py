"""Fit input for the estimators: an in-memory array, or a block source and its summary.

Arrays are validated as before (:mod:`gaussmix._validation`). Anything read
in blocks (a path, a :class:`~gaussmix.execution.BlockSource`, a Dask
collection) is summarised in one pass instead: size, shift, variance, the
first bad value (an error that names its row and column) and a weighted
sample of rows for seeding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._blocks import weighted_column_sums
from ._validation import check_n_components, check_sample_weight, check_X
from .execution import as_source, is_block_input, map_blocks_sum, resolve_chunk_size
from .execution.chunks import weighted_mean_variance
from .execution.summary import DataSummary, summarize


class FitInput(NamedTuple):
    """What a fit runs on.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features) or BlockSource
        Passed as is to the engine (:func:`~gaussmix.execution.map_blocks_sum`).
    w : ndarray of shape (n_samples,) or None
        Sample weights of an array (a source carries its own).
    n_samples, n_features : int
    shift : ndarray of shape (n_features,)
        Weighted mean of the rows.
    chunk_size : int
    summary : DataSummary or None
        Only for block sources; holds the seeding sample.
    """

    X: Any
    w: np.ndarray | None
    n_samples: int
    n_features: int
    shift: np.ndarray
    chunk_size: int
    summary: DataSummary | None

    @property
    def in_memory(self) -> bool:
        return self.summary is None

    @property
    def total_weight(self) -> float:
        """Sum of the sample weights."""
        if self.summary is not None:
            return self.summary.weight_sum
        assert self.w is not None
        return float(self.w.sum())

    def mean_variance(self) -> float:
        """Mean over features of the weighted variance (k-means' tolerance scale)."""
        if self.summary is not None:
            return self.summary.mean_variance
        assert self.w is not None
        return weighted_mean_variance(self.X, self.w, self.shift, self.chunk_size)


def weighted_mean(X: np.ndarray, w: np.ndarray, chunk_size: int) -> np.ndarray:
    """``Σ w x / Σ w`` accumulated in float64 over row chunks."""
    # One pass per block of ~4 MiB (a GEMV, or a kernel for float32 rows), not
    # the E-step's chunk (which can be 1,024 rows, 50 Python round trips at d = 64).
    rows = max(chunk_size, (4 << 20) // (8 * max(X.shape[1], 1)))
    return map_blocks_sum(X, w, rows, weighted_column_sums) / w.sum()  # type: ignore[no-any-return]


def sample_size_for(n_components: int) -> int:
    """Rows kept for seeding a fit of a block source."""
    return max(10_000, 100 * n_components)


def prepare_fit_input(
    estimator: Any,
    X: Any,
    sample_weight: Any,
    n_components: int,
    chunk_size: int | None,
    *,
    rng: np.random.RandomState,
    min_samples: int = 1,
    name: str = "n_components",
) -> FitInput:
    """Validate fit input and compute its shift (one pass for a block source).

    Sets ``estimator.n_features_in_`` (and drops ``feature_names_in_`` for a
    block source).

    Raises
    ------
    ValueError
        For non-finite values (naming the first row and column), too few
        rows, or bad weights.
    """
    if not is_block_input(X):
        X = check_X(estimator, X, reset=True, min_samples=min_samples)
        w = check_sample_weight(sample_weight, X)
        check_n_components(n_components, X, name)
        chunk = resolve_chunk_size(chunk_size, n_components, X.shape[1])
        return FitInput(X, w, X.shape[0], X.shape[1], weighted_mean(X, w, chunk), chunk, None)

    seed = int(rng.randint(2**31 - 1))  # drawn only here: array fits keep their stream
    source = as_source(X, sample_weight)
    d = source.n_features
    chunk = resolve_chunk_size(chunk_size, n_components, d)
    if hasattr(source, "persist"):
        source = source.persist()
    summary = summarize(source, chunk, sample_size=sample_size_for(n_components), seed=seed)
    if summary.first_bad is not None:
        row, col, what = summary.first_bad
        raise ValueError(
            f"Input X contains {what} (first at row {row}, column {col}; "
            f"{summary.n_bad} non-finite value(s) in all). Remove or impute them before fitting."
        )
    if summary.min_weight < 0:
        raise ValueError(f"sample_weight must be non-negative; got {summary.min_weight}")
    if not summary.weight_sum > 0:
        raise ValueError("sample_weight sums to zero: at least one row needs a positive weight")
    n = summary.n_rows
    if n < max(min_samples, 1):
        raise ValueError(f"Found array with {n} sample(s) while a minimum of {min_samples} "
                         "is required.")
    if n < n_components:
        raise ValueError(
            f"Expected n_samples >= {name}, but got {name} = {n_components} and "
            f"n_samples = {n}: a mixture needs at least one row per component."
        )
    estimator.n_features_in_ = d
    if hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    return FitInput(source, None, n, d, summary.shift, chunk, summary)


def check_predict_input(estimator: Any, X: Any) -> Any:
    """An array validated against the fit, or a block source whose width is checked."""
    if not is_block_input(X):
        return check_X(estimator, X, reset=False)
    source = as_source(X)
    if source.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {source.n_features} features, but {type(estimator).__name__} "
            f"is expecting {estimator.n_features_in_} features as input."
        )
    return source
