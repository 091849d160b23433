"""Benchmark workloads: mixtures of rotated, anisotropic Gaussians (fixed seeds)."""

from __future__ import annotations

import numpy as np

#: name -> (n_samples, n_features, n_components)
WORKLOADS = {
    "W1": (100_000, 2, 5),
    "W2": (200_000, 16, 10),
    "W3": (50_000, 64, 20),
    "W4": (1_000_000, 8, 8),
}


def make_workload(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """Rotated anisotropic clusters with unequal weights and some overlap."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 2.0))
    counts = rng.multinomial(n, weights)
    spread = 3.0 * np.sqrt(d)
    parts = []
    for c in counts:
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        scales = rng.uniform(0.3, 2.0, d)
        A = q * scales
        z = rng.normal(size=(c, d))  # drawn before the centre: keeps the seeded data as it was
        parts.append(z @ A.T + rng.normal(scale=spread / np.sqrt(d) * 2, size=d))
    X = np.vstack(parts)
    return X[rng.permutation(n)]
