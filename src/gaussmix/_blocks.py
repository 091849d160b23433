"""Row blocks as the compiled kernels take them, and two small reductions over them.

Below the execution layer: :mod:`gaussmix.execution` (the shift and the
k-means tolerance), :mod:`gaussmix.stats` and :mod:`gaussmix.kmeans` use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._jit import kernel


def kernel_block(Xb: Any) -> np.ndarray:
    """A block as the kernels take it: C order, float32 kept, anything else float64.

    (Kernels are compiled for C order: a Fortran block is copied once; a
    C-order float64 block is not copied.)
    """
    Xb = np.asarray(Xb)
    if Xb.dtype != np.float32:
        Xb = Xb.astype(np.float64, copy=False)
    return np.ascontiguousarray(Xb)


@kernel(reassociate=True)
def weighted_sq_dev(X, w, shift):  # type: ignore[no-untyped-def]
    """``Σ_i w_i ||x_i - shift||²`` in float64, without a shifted copy of the block."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        row = 0.0
        for j in range(d):
            t = X[i, j] - shift[j]
            row += t * t
        total += w[i] * row
    return total


@kernel
def _column_sums(X, w, out):  # type: ignore[no-untyped-def]
    """``out += Σ_i w_i x_i`` in float64, reading float32 rows as they are."""
    n, d = X.shape
    for i in range(n):
        wi = w[i]
        for j in range(d):
            out[j] += wi * X[i, j]


def weighted_column_sums(Xb: Any, wb: np.ndarray) -> np.ndarray:
    """``Σ w x`` of a block in float64.

    Float64 rows go to BLAS (faster there, and any memory order); float32
    rows take one kernel pass instead of a float64 copy.
    """
    Xb = np.asarray(Xb)
    wb = np.asarray(wb, dtype=np.float64)
    if Xb.dtype != np.float32:
        return wb @ Xb.astype(np.float64, copy=False)  # type: ignore[no-any-return]
    out = np.zeros(Xb.shape[1])
    _column_sums(np.ascontiguousarray(Xb), np.ascontiguousarray(wb), out)
    return out
