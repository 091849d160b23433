"""One pass over a block source: size, weighted mean, variance, bad values and a sample.

Everything a fit needs before its first EM iteration comes from this single
pass: the shift (the weighted mean, about which second moments are taken),
the per-feature variance (k-means' tolerance), the first non-finite value if
any, and a weighted sample of rows without replacement for seeding.

The sample uses Efraimidis & Spirakis' keys ``log(u) / w`` (the rows with
the largest keys form a weighted sample). ``u`` is a hash of the row's index
and the seed, not a stream of random numbers, so the sample is the same
whatever the block boundaries: files, arrays and Dask blocks of the same
data give the same sample, and the same starting point.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def row_uniforms(seed: int, start: int, n: int) -> np.ndarray:
    """Uniforms in (0, 1) for rows ``start .. start+n-1``: splitmix64 of index and seed."""
    mix = np.uint64((int(seed) * int(_GOLDEN)) % 2**64)
    with np.errstate(over="ignore"):
        x = np.arange(start, start + n, dtype=np.uint64) + mix
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


class RowSample(NamedTuple):
    """The ``size`` rows with the largest keys seen so far (additive by merging)."""

    size: int
    keys: np.ndarray
    row_ids: np.ndarray
    rows: np.ndarray

    def __add__(self, other: object) -> RowSample:  # type: ignore[override]
        if not isinstance(other, RowSample):
            return NotImplemented
        keys = np.concatenate([self.keys, other.keys])
        index = np.concatenate([self.row_ids, other.row_ids])
        rows = np.concatenate([self.rows, other.rows])
        return top_keyed(self.size, keys, index, rows)


def top_keyed(size: int, keys: np.ndarray, index: np.ndarray, rows: np.ndarray) -> RowSample:
    """The ``size`` rows with the largest keys, in row order."""
    if keys.shape[0] > size:
        # Largest keys first, ties by row index: independent of merge order.
        keep = np.lexsort((index, -keys))[:size]
        keys, index, rows = keys[keep], index[keep], rows[keep]
    order = np.argsort(index, kind="stable")
    return RowSample(size, keys[order], index[order], rows[order])


class DataSummary(NamedTuple):
    """Additive summary of a data set from one pass.

    Attributes
    ----------
    n_rows : int
    weight_sum : float
    weighted_sum : ndarray of shape (n_features,)
        ``Σ w x``.
    mean, m2 : ndarray of shape (n_features,)
        Weighted mean and weighted sum of squared deviations from it, merged
        by Chan et al.'s rule (stable in one pass).
    first_bad : tuple of (row, column, kind) or None
        First non-finite value.
    n_bad : int
    min_weight : float
    sample : RowSample
    """

    n_rows: int
    weight_sum: float
    weighted_sum: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    first_bad: tuple[int, int, str] | None
    n_bad: int
    min_weight: float
    sample: RowSample

    def __add__(self, other: object) -> DataSummary:  # type: ignore[override]
        if not isinstance(other, DataSummary):
            return NotImplemented
        wa, wb = self.weight_sum, other.weight_sum
        wt = wa + wb
        delta = other.mean - self.mean
        frac = wb / wt if wt > 0 else 0.0
        bads = [b for b in (self.first_bad, other.first_bad) if b is not None]
        return DataSummary(
            self.n_rows + other.n_rows,
            wt,
            self.weighted_sum + other.weighted_sum,
            self.mean + delta * frac,
            self.m2 + other.m2 + delta * delta * (wa * frac),
            min(bads) if bads else None,
            self.n_bad + other.n_bad,
            min(self.min_weight, other.min_weight),
            self.sample + other.sample,
        )

    @property
    def shift(self) -> np.ndarray:
        """The weighted mean of the rows."""
        return self.weighted_sum / self.weight_sum

    @property
    def mean_variance(self) -> float:
        """Mean over features of the weighted variance (integer weights act as repeats)."""
        return float(np.mean(self.m2) / self.weight_sum)


def summarize_block(
    offset: int, X: np.ndarray, w: np.ndarray, *, sample_size: int, seed: int
) -> DataSummary:
    """The summary of one block whose first row is row ``offset`` of the data."""
    m = X.shape[0]
    Xf = np.asarray(X, dtype=np.float64)
    bad = ~np.isfinite(Xf)
    n_bad = int(bad.sum())
    first_bad = None
    if n_bad:
        r, c = np.argwhere(bad)[0]
        first_bad = (offset + int(r), int(c), "NaN" if np.isnan(Xf[r, c]) else "inf")
        Xf = np.where(bad, 0.0, Xf)
    bad_w = ~np.isfinite(w)
    if bad_w.any():
        raise ValueError(
            f"sample_weight contains NaN or inf (first at row {offset + int(np.argmax(bad_w))})"
        )
    wsum = float(w.sum())
    wx = w @ Xf
    mean = wx / wsum if wsum > 0 else np.zeros(Xf.shape[1])
    dev = Xf - mean
    with np.errstate(divide="ignore"):
        keys = np.log(row_uniforms(seed, offset, m)) / w
    sample = top_keyed(sample_size, keys, np.arange(offset, offset + m), Xf)
    return DataSummary(
        m, wsum, wx, mean, w @ (dev * dev), first_bad, n_bad, float(w.min()), sample,
    )


def summarize(source: Any, chunk_size: int, *, sample_size: int, seed: int) -> DataSummary:
    """One pass over ``source`` (a block source) into a :class:`DataSummary`."""
    fn = partial(summarize_block, sample_size=sample_size, seed=seed)
    return source.map_sum_indexed(fn, chunk_size)  # type: ignore[no-any-return]
