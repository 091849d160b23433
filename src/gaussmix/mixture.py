"""``GaussianMixture``: the scikit-learn estimator over the EM engine.

The estimator validates input, picks the covariance model from the registry,
runs the engine (:mod:`gaussmix.em`) and stores trailing-underscore
attributes. It holds no math of its own.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import check_n_components, check_sample_weight, check_X
from .covariance import ALIASES, MODELS, CovarianceModel, get_model
from .em import STOPPING_RULES, EMResult, run_em
from .estep import GMMParams, log_resp
from .execution import iter_slices, resolve_chunk_size
from .init import INIT_METHODS, initial_stats, stats_from_partition, stats_from_resp
from .mstep import mstep

logger = logging.getLogger("gaussmix")


def _weighted_mean(X: np.ndarray, w: np.ndarray, chunk_size: int) -> np.ndarray:
    total = np.zeros(X.shape[1])
    for sl in iter_slices(X.shape[0], chunk_size):
        total += w[sl] @ np.asarray(X[sl], dtype=np.float64)
    return total / w.sum()


class GaussianMixture(DensityMixin, BaseEstimator):  # type: ignore[misc]
    """Gaussian mixture model fitted by expectation-maximisation.

    Each EM iteration streams the data in row chunks through one E-step
    kernel that reduces them to additive sufficient statistics; the M-step
    reads only their sum. Covariance structure comes from a registry of
    models under mclust's codes, with scikit-learn's names as aliases.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default="full"
        ``"full"`` (= ``"VVV"``), ``"tied"`` (= ``"EEE"``), ``"diag"``
        (= ``"VVI"``), ``"spherical"`` (= ``"VII"``) or ``"EII"`` (one
        spherical covariance shared by all components: the model k-means
        assumes).
    tol : float, default=1e-3
        Convergence threshold on the change of the objective (see ``stopping``).
    reg_covar : float, default=1e-6
        Non-negative value added to every variance, keeping covariances
        positive definite.
    max_iter : int, default=100
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hc"}, default="kmeans"
        How starting responsibilities are found, when not given by
        ``resp_init`` or all of ``weights_init``, ``means_init`` and
        ``precisions_init``. ``k-means++`` and ``random_from_data`` assign
        every row to its nearest seed. ``hc`` is mclust's default start:
        model-based hierarchical clustering (:mod:`gaussmix.hc`), cut at
        ``n_components`` groups; deterministic, on a seeded subset of 2,000
        rows for larger data.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances) in the shape of the model's
        layout: (k, d, d) full, (d, d) tied, (k, d) diag, (k,) spherical.
    resp_init : array-like of shape (n_samples, n_components) or (n_samples,), default=None
        Initial responsibilities, or integer labels in ``[0, n_components)``
        of a starting partition. EM then starts with an M-step (as R's mclust
        does from its hierarchical partition). Overrides ``init_params``.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
    verbose : int, default=0
        ``1`` logs each initialisation's result, ``2`` also every
        ``verbose_interval``-th iteration, through the ``gaussmix`` logger.
    verbose_interval : int, default=10
    assignment : {"soft", "hard"}, default="soft"
        ``"hard"`` is classification EM: responsibilities replaced by the
        one-hot argmax of the posterior; the objective is then the
        classification log-likelihood.
    equal_weights : bool, default=False
        Hold mixing weights at ``1 / n_components`` (mclust's ``equalPro``).
    stopping : {"absolute", "relative"}, default="absolute"
        ``"absolute"`` (scikit-learn): stop when the mean log-likelihood per
        sample changes by less than ``tol``. ``"relative"`` (mclust): stop when
        ``|L_new - L_old| / (1 + |L_new|) < tol`` on the total log-likelihood;
        use ``tol=1e-5`` to reproduce mclust.
    chunk_size : int or None, default=None
        Rows per block in every pass; ``None`` picks a size that keeps each
        temporary near 4 MiB. Results do not depend on it beyond round-off.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape given by the model's layout (see ``precisions_init``).
    precisions_ : ndarray
        Inverse covariances, same shape.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions, same shape.
    covariance_model_ : str
        mclust code of the fitted model.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Objective per unit weight of the best initialisation at its last E-step.
    lower_bounds_ : list of float
        That objective at every iteration of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(0)
    array([0., 6.])
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(MODELS) | set(ALIASES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "resp_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "assignment": [StrOptions({"soft", "hard"})],
        "equal_weights": ["boolean"],
        "stopping": [StrOptions(set(STOPPING_RULES))],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        resp_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        assignment: str = "soft",
        equal_weights: bool = False,
        stopping: str = "absolute",
        chunk_size: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.resp_init = resp_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.assignment = assignment
        self.equal_weights = equal_weights
        self.stopping = stopping
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Estimate model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as that many copies
            of the row.

        Returns
        -------
        self : GaussianMixture
        """
        self._validate_params()
        X = check_X(self, X, reset=True, min_samples=2)
        w = check_sample_weight(sample_weight, X)
        check_n_components(self.n_components, X)
        model = get_model(self.covariance_type)
        k, d = self.n_components, X.shape[1]
        chunk = resolve_chunk_size(self.chunk_size, k, d)
        shift = _weighted_mean(X, w, chunk)
        rng = check_random_state(self.random_state)
        warm = self.warm_start and hasattr(self, "converged_")
        n_init = 1 if warm else self.n_init

        best: EMResult | None = None
        for i in range(n_init):
            if warm:
                params0 = self._get_params()
            else:
                params0 = self._initial_params(X, w, model, rng, shift, chunk)
            res = run_em(
                X, w, model, params0, shift=shift, tol=self.tol, max_iter=self.max_iter,
                reg_covar=self.reg_covar, chunk_size=chunk, assignment=self.assignment,
                equal_weights=self.equal_weights, stopping=self.stopping,
            )
            self._log(1, "init %d: objective %.8g after %d iterations%s", i + 1,
                      res.lower_bound, res.n_iter, "" if res.converged else " (not converged)")
            if best is None or res.lower_bound > best.lower_bound:
                best = res
        assert best is not None
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"Best of {n_init} initialisation(s) did not converge in {self.max_iter} "
                "iterations. Try a larger max_iter or tol, or check the data's scale.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_params(best.params, model)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.history
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return the most probable component of every row.

        Equals ``fit(X).predict(X)``.
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _log(self, level: int, msg: str, *args: Any) -> None:
        if self.verbose >= level:
            if not logger.handlers and not logging.getLogger().handlers:
                logging.basicConfig(level=logging.INFO, format="%(message)s")
            logger.info(msg, *args)

    def _initial_params(
        self, X: np.ndarray, w: np.ndarray, model: CovarianceModel,
        rng: np.random.RandomState, shift: np.ndarray, chunk: int,
    ) -> GMMParams:
        k, d = self.n_components, X.shape[1]
        kind = model.stats_kind
        given = (self.weights_init, self.means_init, self.precisions_init)
        if self.resp_init is not None:
            resp = _check_resp_init(self.resp_init, X.shape[0], k)
            if resp.ndim == 1:
                stats = stats_from_partition(X, w, resp, k, kind, shift, chunk)
            else:
                stats = stats_from_resp(X, w, resp, kind, shift, chunk)
            params = mstep(stats, model, reg_covar=self.reg_covar, shift=shift,
                           equal_weights=self.equal_weights)
        elif all(g is not None for g in given):
            params = None
        else:
            stats = initial_stats(self.init_params, X, w, k, model, rng, shift, chunk,
                                  hc_tree=getattr(self, "_hc_tree", None))
            params = mstep(stats, model, reg_covar=self.reg_covar, shift=shift,
                           equal_weights=self.equal_weights)
        weights = params.weights if params is not None else None
        means = params.means if params is not None else None
        cov = params.covariances if params is not None else None
        pc = params.precisions_cholesky if params is not None else None
        if self.weights_init is not None:
            weights = _check_weights_init(self.weights_init, k)
        if self.means_init is not None:
            means = _check_array_shape(self.means_init, (k, d), "means_init")
        if self.precisions_init is not None:
            shape = model.layout.shape(k, d)
            prec = _check_array_shape(self.precisions_init, shape, "precisions_init")
            cov, _ = model.layout.from_precisions(prec)
            pc = model.layout.precisions_cholesky(cov)
        assert weights is not None and means is not None and cov is not None and pc is not None
        return GMMParams(weights, means, cov, pc)

    # ------------------------------------------------------------ state
    def _set_params(self, params: GMMParams, model: CovarianceModel) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = model.layout.precisions(params.precisions_cholesky)
        self.covariance_model_ = model.code

    def _get_params(self) -> GMMParams:
        return GMMParams(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _fitted(self, X: Any) -> tuple[np.ndarray, GMMParams, CovarianceModel, np.ndarray, int]:
        check_is_fitted(self, "means_")
        X = check_X(self, X, reset=False)
        model = get_model(self.covariance_model_)
        params = self._get_params()
        shift = self.weights_ @ self.means_
        chunk = resolve_chunk_size(self.chunk_size, self.n_components, X.shape[1])
        return X, params, model, shift, chunk

    # ------------------------------------------------------------ predict
    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density ``log p(x)`` of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X, params, model, shift, chunk = self._fitted(X)
        out = np.empty(X.shape[0])
        for sl in iter_slices(X.shape[0], chunk):
            out[sl] = log_resp(X[sl], params, model, shift)[0]
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for every row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        X, params, model, shift, chunk = self._fitted(X)
        out = np.empty((X.shape[0], self.n_components))
        for sl in iter_slices(X.shape[0], chunk):
            out[sl] = np.exp(log_resp(X[sl], params, model, shift)[1])
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of every row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X, params, model, shift, chunk = self._fitted(X)
        out = np.empty(X.shape[0], dtype=np.intp)
        for sl in iter_slices(X.shape[0], chunk):
            out[sl] = np.argmax(log_resp(X[sl], params, model, shift)[1], axis=1)
        return out

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean (weighted) log-likelihood per row of ``X``."""
        ll = self.score_samples(X)
        if sample_weight is None:
            return float(ll.mean())
        w = check_sample_weight(sample_weight, np.empty((ll.shape[0], 1)))
        return float(w @ ll / w.sum())

    def _n_parameters(self) -> int:
        """Free parameters: covariances (from the model), means, weights."""
        check_is_fitted(self, "means_")
        k, d = self.means_.shape
        model = get_model(self.covariance_model_)
        n_weights = 0 if self.equal_weights else k - 1
        return int(model.n_cov_parameters(k, d) + k * d + n_weights)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 log L + p log n`` with ``p`` free parameters.
        """
        X = check_X(self, X, reset=False)
        n = X.shape[0]
        return float(-2.0 * self.score(X) * n + self._n_parameters() * np.log(n))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better): ``-2 log L + 2p``."""
        X = check_X(self, X, reset=False)
        return float(-2.0 * self.score(X) * X.shape[0] + 2 * self._n_parameters())

    def icl(self, X: Any) -> float:
        """Integrated completed likelihood criterion on ``X`` (lower is better).

        ``bic(X) - 2 Σ_i log max_k p(k | x_i)``: BIC plus twice the entropy of
        the hard (MAP) assignment (Biernacki, Celeux & Govaert 2000), in the
        same sign as :meth:`bic`; mclust's ``icl`` with the opposite sign.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        icl : float
        """
        X, params, model, shift, chunk = self._fitted(X)
        loglik = map_term = 0.0
        for sl in iter_slices(X.shape[0], chunk):
            lse, lr = log_resp(X[sl], params, model, shift)
            loglik += float(lse.sum())
            map_term += float(lr.max(axis=1).sum())
        n = X.shape[0]
        return -2.0 * loglik + self._n_parameters() * np.log(n) - 2.0 * map_term

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each row (rows are grouped by component).
        """
        check_is_fitted(self, "means_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        k, d = self.means_.shape
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        layout = get_model(self.covariance_model_).layout
        chol = layout.covariance_cholesky(self.covariances_, k, d)
        X = np.vstack([
            self.means_[j] + rng.standard_normal((c, d)) @ chol[j].T
            for j, c in enumerate(counts)
        ])
        y = np.repeat(np.arange(k), counts)
        return X, y


def _check_array_shape(a: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _check_weights_init(a: Any, k: int) -> np.ndarray:
    w = _check_array_shape(a, (k,), "weights_init")
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights_init must be non-negative and sum to 1, got sum {w.sum()}")
    return w


def _check_resp_init(a: Any, n: int, k: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"resp_init labels must have length n_samples={n}, got {arr.shape[0]}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError("resp_init of shape (n_samples,) must hold integer labels")
            arr = arr.astype(np.intp)
        if arr.min() < 0 or arr.max() >= k:
            raise ValueError(f"resp_init labels must lie in [0, {k}), got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.intp)
    resp = _check_array_shape(arr, (n, k), "resp_init")
    if np.any(resp < 0):
        raise ValueError("resp_init must be non-negative")
    sums = resp.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("every row of resp_init needs a positive sum")
    return resp / sums
