"""``KMeans``: Lloyd's algorithm with k-means++ seeding, scikit-learn API."""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._input import check_predict_input, prepare_fit_input
from ._validation import N_JOBS_CONSTRAINT, check_sample_weight, check_X
from .execution import is_block_input, map_blocks, map_rows, parallel, resolve_chunk_size
from .init_streaming import seeds_for_source
from .kmeans import KMeansResult, lloyd, nearest_center
from .kmeans_plusplus import kmeans_plusplus
from .mixture import GaussianMixture


def _nearest_label(X: np.ndarray, *, centers_c: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return nearest_center(np.asarray(X, dtype=np.float64) - shift, centers_c)[0]


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """K-means clustering by Lloyd's algorithm.

    Rows stream through the same block machinery as the GMM: the E-step is
    nearest-centroid assignment, the M-step the weighted centroid mean. Empty
    clusters are moved onto the points farthest from their centres. On an
    in-memory array of at most 8 features (4 in float32), each row keeps
    Hamerly's bounds on its distances, and a row whose centre cannot have
    changed is skipped: the same iterations, labels and centres, with less
    arithmetic.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features)
        ``"k-means++"``: greedy k-means++; ``"random"``: distinct rows chosen
        at random; an array: those centres.
    n_init : int, default=1
        Runs from different seeds; the lowest inertia is kept.
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative tolerance: Lloyd stops when the summed squared centre shift
        falls below ``tol`` times the mean per-feature variance of the data
        (or when labels no longer change).
    random_state : int, RandomState instance or None, default=None
    chunk_size : int or None, default=None
        Rows per block.
    n_jobs : int or None, default=None
        Threads over row chunks (``None`` or ``-1``: all cores).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Weighted sum of squared distances to the nearest centre.
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import KMeans
    >>> X = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_[:, 0].tolist())
    [0.0, 10.0]
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "random_state": ["random_state"],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, block source or Dask array
            Files and Dask arrays are read block by block, one pass per
            Lloyd iteration; seeds then come from a one-pass sample (files)
            or k-means|| (Dask).
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : KMeans
        """
        self._validate_params()
        with parallel(self.n_jobs):
            return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any) -> KMeans:
        k = self.n_clusters
        rng = check_random_state(self.random_state)
        data = prepare_fit_input(self, X, sample_weight, k, self.chunk_size, rng=rng,
                                 name="n_clusters")
        X, w, shift, chunk, d = data.X, data.w, data.shift, data.chunk_size, data.n_features
        mean_var = data.mean_variance()
        tol = mean_var * self.tol
        given = not isinstance(self.init, str)
        if given:
            centers0 = np.asarray(self.init, dtype=np.float64)
            if centers0.shape != (k, d) or not np.all(np.isfinite(centers0)):
                raise ValueError(
                    f"init array must be finite with shape {(k, d)}, got {centers0.shape}"
                )
        best: KMeansResult | None = None
        for _ in range(1 if given else self.n_init):
            if given:
                c0 = centers0
            elif data.summary is not None:  # block source: sample or k-means|| seeds
                c0 = seeds_for_source(self.init, X, data.summary.sample, k, rng, shift, chunk)
            elif self.init == "k-means++":
                assert w is not None
                c0 = kmeans_plusplus(X, w, k, rng)
            else:
                c0 = np.asarray(X[rng.permutation(X.shape[0])[:k]], dtype=np.float64)
            res = lloyd(X, w, c0, max_iter=self.max_iter, tol=tol, shift=shift, chunk_size=chunk,
                        spread=d * mean_var)
            if best is None or res.inertia < best.inertia:
                best = res
        assert best is not None
        self.cluster_centers_ = best.centers
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self._weight_sum = data.total_weight
        # A block source keeps no per-row state during Lloyd: one more pass for labels.
        self.labels_ = best.labels if best.labels is not None else self.predict(X)
        n_distinct = int(np.count_nonzero(np.bincount(self.labels_, minlength=k)))
        if n_distinct < k:
            warnings.warn(
                f"Number of distinct clusters ({n_distinct}) found smaller than n_clusters ({k}): "
                "X has fewer distinct rows than clusters, so some centres coincide.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _assign(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "cluster_centers_")
        X = check_X(self, X, reset=False)
        chunk = resolve_chunk_size(self.chunk_size, self.n_clusters, X.shape[1])
        shift = self.cluster_centers_.mean(axis=0)
        cc = self.cluster_centers_ - shift

        def block(Xb: np.ndarray, _w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return nearest_center(np.asarray(Xb, dtype=np.float64) - shift, cc)

        with parallel(self.n_jobs):
            parts = map_blocks(X, np.empty(X.shape[0]), chunk, block)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre for every row, shape (n_samples,).

        ``X`` may also be a path or block source (an array comes back) or a
        Dask array (a lazy Dask array comes back).
        """
        if not is_block_input(X):
            return self._assign(X)[0]
        check_is_fitted(self, "cluster_centers_")
        X = check_predict_input(self, X)
        chunk = resolve_chunk_size(self.chunk_size, self.n_clusters, self.n_features_in_)
        shift = self.cluster_centers_.mean(axis=0)
        fn = partial(_nearest_label, centers_c=self.cluster_centers_ - shift, shift=shift)
        return map_rows(X, fn, chunk, None, np.intp)  # type: ignore[no-any-return]

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of every row to every centre, shape (n_samples, n_clusters)."""
        check_is_fitted(self, "cluster_centers_")
        X = check_X(self, X, reset=False)
        chunk = resolve_chunk_size(self.chunk_size, self.n_clusters, X.shape[1])
        shift = self.cluster_centers_.mean(axis=0)
        cc = self.cluster_centers_ - shift

        def block(Xb: np.ndarray, _w: np.ndarray) -> np.ndarray:
            Xc = np.asarray(Xb, dtype=np.float64) - shift
            d2 = (np.einsum("ij,ij->i", Xc, Xc)[:, None] - 2.0 * Xc @ cc.T
                  + np.einsum("ij,ij->i", cc, cc))
            return np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2)

        with parallel(self.n_jobs):
            return np.concatenate(map_blocks(X, np.empty(X.shape[0]), chunk, block))

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Minus the (weighted) inertia of ``X`` against the fitted centres."""
        _, d2 = self._assign(X)
        w = check_sample_weight(sample_weight, d2[:, None])
        return -float(w @ d2)

    def to_gmm(self) -> GaussianMixture:
        """The fitted k-means solution as an equivalent Gaussian mixture.

        An ``EII`` mixture with equal weights, the centres as means and the
        maximum-likelihood shared variance ``inertia / (n d)`` (``n`` the
        total sample weight). Its ``predict`` equals k-means' labels, and its
        log-likelihood and BIC put k-means on the same yardstick as any GMM.

        Returns
        -------
        gmm : GaussianMixture
            Fitted (``converged_`` true, ``n_iter_`` 0).
        """
        check_is_fitted(self, "cluster_centers_")
        k, d = self.cluster_centers_.shape
        var = self.inertia_ / (self._weight_sum * d)
        if not var > 0:
            raise ValueError("k-means inertia is zero: no Gaussian variance to express it with")
        gm = GaussianMixture(n_components=k, covariance_type="EII", equal_weights=True,
                             random_state=self.random_state)
        gm.weights_ = np.full(k, 1.0 / k)
        gm.means_ = self.cluster_centers_.copy()
        gm.covariances_ = np.full(k, var)
        gm.precisions_cholesky_ = np.full(k, 1.0 / np.sqrt(var))
        gm.precisions_ = np.full(k, 1.0 / var)
        gm.covariance_model_ = "EII"
        gm.converged_, gm.n_iter_ = True, 0
        gm.lower_bound_, gm.lower_bounds_ = -np.inf, []
        gm.n_features_in_ = d
        if hasattr(self, "feature_names_in_"):
            gm.feature_names_in_ = self.feature_names_in_
        return gm
