"""Shared helpers for the tests that compare execution paths (files, Dask) with in-memory fits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture

RTOL = 1e-10


def blobs(n: int = 600, d: int = 3, k: int = 3, seed: int = 0) -> np.ndarray:
    """Rotated anisotropic blobs of unequal sizes (well conditioned: axis scales 0.5-2)."""
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - 5 * k, np.arange(1, k + 1) / np.arange(1, k + 1).sum()) + 5
    parts = []
    for m in sizes:
        Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
        A = Q * rng.uniform(0.5, 2.0, size=d)
        parts.append(rng.normal(size=(m, d)) @ A.T + rng.normal(scale=2.5, size=d))
    return np.vstack(parts)[rng.permutation(n)]


def start_params(X: np.ndarray, k: int, code: str) -> dict[str, np.ndarray]:
    """Starting parameters: one EM step from random seeds, in the model's layout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = GaussianMixture(k, covariance_type=code, max_iter=1, random_state=1,
                            init_params="random_from_data").fit(X)
    return {"weights_init": g.weights_, "means_init": g.means_,
            "precisions_init": g.precisions_}


def assert_same_fit(got: GaussianMixture, ref: GaussianMixture, rtol: float = RTOL) -> None:
    assert got.n_iter_ == ref.n_iter_
    assert got.converged_ == ref.converged_
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a, b = getattr(got, attr), getattr(ref, attr)
        # Relative to each array's scale, so entries near 0 do not dominate.
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)), err_msg=attr)
    assert got.lower_bound_ == pytest.approx(ref.lower_bound_, rel=rtol)
