import os

import numpy as np
import pytest
from hypothesis import settings

from gaussmix import load_faithful, load_iris, make_elongated

# CI runs a fixed, reproducible set of examples (derandomised); local runs
# explore new ones each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def faithful() -> np.ndarray:
    return load_faithful()[0]


@pytest.fixture(scope="session")
def iris() -> np.ndarray:
    return load_iris()[0]


def blobs(n: int = 300, d: int = 3, k: int = 3, seed: int = 0) -> np.ndarray:
    """Rotated anisotropic blobs of unequal sizes."""
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - k * 5, np.arange(1, k + 1) / np.arange(1, k + 1).sum()) + 5
    parts = []
    for j, m in enumerate(sizes):
        A = rng.normal(size=(d, d)) * (0.3 + j * 0.4)
        parts.append(rng.normal(size=(m, d)) @ A + rng.normal(scale=4.0, size=d))
    return np.vstack(parts)


DATASETS = {
    "faithful": lambda: load_faithful()[0],
    "iris": lambda: load_iris()[0],
    "elongated": lambda: make_elongated(300)[0],
    "blobs5d": lambda: blobs(400, 5, 4, seed=3),
}
