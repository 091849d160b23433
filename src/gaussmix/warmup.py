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

    (Narrow and wide data, the four covariance types and EII, whose statistics
    read a strided view: each shape of argument is compiled once.)

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
    from .covariance import get_model
    from .estep import GMMParams, estep_soft
    from .mixture import GaussianMixture

    rng = np.random.default_rng(0)
    # 8 far-apart clusters in 32 dimensions, centred: wide enough for the
    # kernels that only wide rows use (rows that count for a full second
    # moment, from 12 features; sparse statistics and spherical distances
    # from the raw rows, from 16, once every row has one nonzero
    # responsibility; k-means++'s skips, from 32), and narrow data for the
    # small-d paths.
    wide = np.vstack([rng.normal(100.0 * np.eye(32)[c], 1.0, size=(60, 32)) for c in range(8)])
    wide -= wide.mean(axis=0)
    narrow = np.vstack([rng.normal(c, 1.0, size=(200, 3)) for c in (0.0, 6.0)])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in (np.float64, np.float32):
            t = time.perf_counter()
            for X, k in ((narrow.astype(dtype), 2), (wide.astype(dtype), 8)):
                KMeans(k, n_init=1, random_state=0).fit(X).predict(X)
                for ct in ("full", "tied", "diag", "spherical", "EII"):
                    for assignment in ("soft", "hard"):
                        gm = GaussianMixture(k, covariance_type=ct, assignment=assignment,
                                             max_iter=2, random_state=0).fit(X)
                    gm.predict_proba(X)
                    gm.score_samples(X)
                    if ct in ("diag", "spherical"):
                        # the ordinary E-steps too, which these separated clusters'
                        # fits skip (estep_pruned) and others take: the one-kernel
                        # E-step and, with the components repeated three times
                        # (wide: past its cells), the GEMM one
                        for times in (1, 3):
                            params = GMMParams(*(np.concatenate([a] * times) for a in (
                                gm.weights_ / times, gm.means_, gm.covariances_,
                                gm.precisions_cholesky_)))
                            estep_soft(X, np.ones(X.shape[0]), params, get_model(ct),
                                       X.astype(np.float64).mean(axis=0))
            if dtype is np.float64:  # the hierarchical start works in float64 alone
                GaussianMixture(2, init_params="hc", max_iter=2).fit(narrow)
            out[np.dtype(dtype).name] = time.perf_counter() - t
    return out
