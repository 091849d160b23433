"""Compile the numba kernels ahead of time.

Kernels compile on their first call and are cached on disk, so only the first
fit on a machine (per input dtype) pays the compilation, a few seconds. Call
:func:`warmup` (or run ``gaussmix warmup``) once after installing, for example
while building a container image, and no fit pays it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

__all__ = ["warmup"]


def warmup() -> dict[str, float]:
    """Run tiny fits that call every kernel, for float64 and float32 rows.

    Returns
    -------
    seconds : dict
        Wall-clock seconds per input dtype: the compilation (first call on
        this machine) or the load from numba's cache (later calls).

    Examples
    --------
    >>> from gaussmix.warmup import warmup
    >>> sorted(warmup())
    ['float32', 'float64']
    """
    from .cluster import KMeans
    from .mixture import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, size=(200, 3)) for c in (0.0, 6.0)])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            t = time.perf_counter()
            KMeans(2, n_init=1, random_state=0).fit(Xd).predict(Xd)
            for ct in ("full", "tied", "diag", "spherical"):
                for assignment in ("soft", "hard"):
                    gm = GaussianMixture(2, covariance_type=ct, assignment=assignment,
                                         max_iter=2, random_state=0).fit(Xd)
                gm.predict_proba(Xd)
                gm.score_samples(Xd)
            out[np.dtype(dtype).name] = time.perf_counter() - t
    return out
