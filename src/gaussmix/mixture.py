"""``GaussianMixture``: the scikit-learn estimator over the EM engine.

The estimator validates input, picks the covariance model from the registry,
runs the engine (:mod:`gaussmix.em`) and stores trailing-underscore
attributes. It holds no math of its own.
"""

from __future__ import annotations

import logging
import warnings
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._input import check_predict_input, prepare_fit_input, weighted_mean
from ._validation import (
    N_JOBS_CONSTRAINT,
    check_distinct_rows,
    check_n_components,
    check_resp_init,
    check_sample_weight,
    check_X,
)
from .collapse import (
    COLLAPSE_POLICIES,
    CollapseError,
    CollapseEvent,
    CollapseGuard,
    CollapseWarning,
)
from .covariance import ALIASES, MODELS, CovarianceModel, get_model
from .em import STOPPING_RULES, EMResult, FitRecord, lowest_rows, run_em
from .estep import GMMParams, log_resp, rows_label, rows_log_density, rows_resp
from .estep_pruned import prunable
from .execution import (
    default_chunk_size,
    is_block_input,
    map_blocks_sum,
    map_rows,
    parallel,
    resolve_chunk_size,
)
from .execution.chunks import balanced_chunk
from .execution.summary import DataSummary
from .init import INIT_METHODS, initial_stats, stats_from_partition, stats_from_resp, with_given
from .init_streaming import initial_stats_streaming
from .mstep import mstep
from .online import OnlineState, stepwise_update
from .prior import ConjugatePrior, data_moments, resolve_prior
from .stats import compute_stats

logger = logging.getLogger("gaussmix")


def _data_cov(X: Any, w: np.ndarray | None, shift: np.ndarray, chunk: int) -> np.ndarray:
    """Weighted covariance of the data (one pass over an array or block source)."""
    def block(Xb: np.ndarray, wb: np.ndarray) -> Any:
        Xc = np.asarray(Xb, dtype=np.float64) - shift
        return compute_stats(Xc, wb, np.ones((Xc.shape[0], 1)), "pooled")

    return data_moments(map_blocks_sum(X, w, chunk, block), shift, "pooled")[1]


def _model_chunk(model: CovarianceModel, n_components: int, X: np.ndarray) -> int:
    """Default rows per chunk: this model's widest E-step temporary about its
    layout's ``chunk_bytes`` in X's dtype (4 MiB past ``big_chunks_up_to`` of
    it over all rows), cut evenly for the threads
    (:func:`~gaussmix.execution.chunks.balanced_chunk`)."""
    n, d = X.shape
    itemsize = 4 if X.dtype == np.float32 else 8
    layout = model.layout
    width = layout.row_width(n_components, d)
    if n * width * itemsize <= layout.big_chunks_up_to:
        cap = default_chunk_size(n_components, d, width, itemsize, layout.chunk_bytes)
    else:
        cap = default_chunk_size(n_components, d, width, itemsize)
    return balanced_chunk(X.shape[0], cap)


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
    covariance_type : str or CovarianceModel, default="full"
        ``"full"`` (= ``"VVV"``), ``"tied"`` (= ``"EEE"``), ``"diag"``
        (= ``"VVI"``), ``"spherical"`` (= ``"VII"``) or ``"EII"`` (one
        spherical covariance shared by all components: the model k-means
        assumes), or any of mclust's 14 codes in :data:`gaussmix.MODELS`
        (``EII VII EEI VEI EVI VVI EEE VEE EVE VVE EEV VEV EVV VVV``: volume,
        shape and orientation each Equal, Variable or Identity). A
        :class:`~gaussmix.covariance.CovarianceModel` instance (such as
        ``FixedSphericalVariance(0.1)``) is used as it is.
    tol : float, default=1e-3
        Convergence threshold on the change of the objective (see ``stopping``).
    reg_covar : float, default=1e-6
        Non-negative value added to every variance, keeping covariances
        positive definite. Absolute, or relative to the data's scale (see
        ``reg_covar_mode``).
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
        ``1`` logs each initialisation's result (objective, convergence,
        number of collapse events), ``2`` also every collapse event, through
        the ``gaussmix`` logger.
    verbose_interval : int, default=10
        Accepted for scikit-learn compatibility; every iteration's objective
        is logged at DEBUG level.
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
    on_collapse : {"reseed", "drop", "raise", "off"}, default="reseed"
        What to do with a degenerate component (too few points, or a
        covariance flat relative to the data; see :mod:`gaussmix.collapse`):
        move it to the worst-explained row and continue, remove it and
        continue with one component fewer, or raise :class:`CollapseError`
        naming it. Every event is kept in ``fit_history_`` and warned about.
        ``"off"`` runs plain EM as scikit-learn and mclust do (to reproduce
        them): no detection, and a singular covariance raises
        :class:`SingularCovarianceError` naming the component.
    prior : None, "default" or dict, default=None
        Conjugate prior for MAP EM (Fraley & Raftery 2007; mclust's
        ``priorControl``). ``"default"``: shrinkage 0.01, mean the data's
        mean, dof ``d + 2``, scale ``var(data) / n_components^(2/d)``; a dict
        overrides any of ``shrinkage``, ``mean``, ``dof``, ``scale``. Only for
        models with a closed-form MAP M-step (``gaussmix.prior.supported_models()``).
        The objective (``lower_bound_``) is then the log posterior.
    reg_covar_mode : {"absolute", "relative"}, default="absolute"
        ``"absolute"`` adds ``reg_covar`` itself (scikit-learn);
        ``"relative"`` adds ``reg_covar`` times the data's mean variance
        ``trace(cov(X)) / d``, so the regularisation follows the units of X.
    n_jobs : int or None, default=None
        Threads over row chunks (``None`` or ``-1``: all cores). BLAS runs on
        one thread inside each. Results do not depend on it.
    learning_decay : float, default=0.6
        ``α`` in (0.5, 1] of the step sizes ``η_t = (t + t0)^(-α)`` of
        :meth:`partial_fit` (stepwise EM); smaller forgets old batches faster.
    learning_offset : float, default=2.0
        ``t0 >= 0`` of those step sizes; larger damps the early steps.

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
    n_components_ : int
        Components of the fitted model (fewer than ``n_components`` after drops).
    fit_history_ : list of FitRecord
        One record per initialisation: final objective, convergence,
        iterations, components left, collapse events, and the error of a
        failed run. The best record's objective is ``lower_bound_``.
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
    >>> [round(float(m)) for m in np.sort(gm.means_[:, 0])]
    [0, 6]
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(MODELS) | set(ALIASES)), CovarianceModel],
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
        "on_collapse": [StrOptions(set(COLLAPSE_POLICIES))],
        "prior": [StrOptions({"default"}), dict, None],
        "reg_covar_mode": [StrOptions({"absolute", "relative"})],
        "n_jobs": N_JOBS_CONSTRAINT,
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str | CovarianceModel = "full",
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
        on_collapse: str = "reseed",
        prior: Any = None,
        reg_covar_mode: str = "absolute",
        n_jobs: int | None = None,
        learning_decay: float = 0.6,
        learning_offset: float = 2.0,
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
        self.on_collapse = on_collapse
        self.prior = prior
        self.reg_covar_mode = reg_covar_mode
        self.n_jobs = n_jobs
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Estimate model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, block source or Dask array
            A path to a ``.npy``, Parquet (file or directory) or CSV file, or a
            :class:`~gaussmix.NpySource` / :class:`~gaussmix.ParquetSource` /
            :class:`~gaussmix.CSVSource`, is read block by block, one pass per
            iteration; a Dask array or DataFrame is fitted on the active
            Dask scheduler (see :mod:`gaussmix.execution`).
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight acts as that many copies
            of the row.

        Returns
        -------
        self : GaussianMixture
        """
        self._validate_params()
        with parallel(self.n_jobs):
            return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any) -> GaussianMixture:
        rng = check_random_state(self.random_state)
        data = prepare_fit_input(self, X, sample_weight, self.n_components, self.chunk_size,
                                 rng=rng, min_samples=2)
        X, w, shift, chunk = data.X, data.w, data.shift, data.chunk_size
        model = get_model(self.covariance_type)
        k = self.n_components
        if self.chunk_size is None and data.summary is None:
            chunk = _model_chunk(model, k, X)
        prior, reg = self._prior_and_reg(X, w, model, shift, chunk)
        if prior is None and w is not None:
            # With fewer distinct rows than components the likelihood is unbounded.
            check_distinct_rows(X, w, k, hint="or use prior='default'")
        warm = self.warm_start and hasattr(self, "converged_")
        n_init = 1 if warm else self.n_init
        positive = int(np.count_nonzero(w > 0)) if w is not None else data.n_samples
        count_scale = max(1.0, positive / data.total_weight)
        pick = partial(lowest_rows, X, w, model, shift, chunk)

        def guard_for(i: int) -> CollapseGuard:
            return CollapseGuard(
                model, policy=self.on_collapse, reg_covar=reg, shift=shift,
                count_scale=count_scale, lowest_rows=pick,
                equal_weights=self.equal_weights, prior=prior, restart=i,
            )

        # Starting points draw from the random state in order, then the EM runs.
        starts: list[tuple[int, CollapseGuard, GMMParams | CollapseError, list[CollapseEvent]]] = []
        # each start's anchors (see _initial_params) go to its run alone, which frees
        # them unless it prunes
        anchors_of: list[np.ndarray | None] = []
        start: tuple[int, CollapseGuard, GMMParams | CollapseError, list[CollapseEvent]]
        for i in range(n_init):
            guard = guard_for(i)
            try:
                if warm:
                    start, anchors = (i, guard, self._get_params(), []), None
                else:
                    params0, events0, anchors = self._initial_params(
                        X, w, model, rng, shift, chunk, guard, summary=data.summary)
                    start = (i, guard, params0, events0)
            except CollapseError as exc:
                if self.on_collapse == "raise":
                    raise
                start, anchors = (i, guard, exc, []), None
            starts.append(start)
            anchors_of.append(anchors)
        del anchors

        def take_anchors(i: int) -> np.ndarray | None:
            a, anchors_of[i] = anchors_of[i], None
            return a

        def run(start: tuple[int, CollapseGuard, GMMParams | CollapseError, list[CollapseEvent]],
                ) -> EMResult | CollapseError:
            i, guard, params0, events0 = start
            if isinstance(params0, CollapseError):
                return params0
            try:
                res = run_em(
                    X, w, model, params0, shift=shift, tol=self.tol, max_iter=self.max_iter,
                    reg_covar=reg, chunk_size=chunk, assignment=self.assignment,
                    equal_weights=self.equal_weights, stopping=self.stopping, prior=prior,
                    guard=guard, anchors=take_anchors(i),
                )
            except CollapseError as exc:
                if self.on_collapse == "raise":
                    raise
                return exc  # this start cannot be rescued: discard it, keep the others
            return res._replace(events=tuple(events0) + res.events)

        results = [run(st) for st in starts]

        best: EMResult | None = None
        history: list[FitRecord] = []
        error: CollapseError | None = None
        for i, res in enumerate(results):
            if isinstance(res, CollapseError):
                error = res
                history.append(FitRecord(i, -np.inf, False, 0, 0, (), str(res)))
                self._log(1, "init %d: failed: %s", i + 1, res)
                continue
            history.append(FitRecord(i, res.lower_bound, res.converged, res.n_iter,
                                     int(res.params.weights.shape[0]), res.events))
            self._log(1, "init %d: objective %.8g after %d iterations%s%s", i + 1,
                      res.lower_bound, res.n_iter, "" if res.converged else " (not converged)",
                      f", {len(res.events)} collapse event(s)" if res.events else "")
            for ev in res.events:
                self._log(2, "  iteration %d: component %d %s (%s: %s)", ev.iteration,
                          ev.component, ev.action, ev.reason, ev.detail)
            if best is None or res.lower_bound > best.lower_bound:
                best = res
        if best is None:
            assert error is not None
            raise error
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"Best of {n_init} initialisation(s) did not converge in {self.max_iter} "
                "iterations. Try a larger max_iter or tol, or check the data's scale.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._warn_collapses(history, best)
        self._set_params(best.params, model)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.history
        self.fit_history_ = history
        return self

    def _prior_and_reg(
        self, X: Any, w: np.ndarray | None, model: CovarianceModel, shift: np.ndarray, chunk: int
    ) -> tuple[ConjugatePrior | None, float]:
        """The resolved prior and the absolute ``reg_covar`` (one data pass if needed)."""
        if self.prior is None and self.reg_covar_mode == "absolute":
            return None, float(self.reg_covar)
        cov = _data_cov(X, w, shift, chunk)
        prior = resolve_prior(self.prior, mean=shift, cov=cov, n_components=self.n_components,
                              model=model)
        reg = float(self.reg_covar)
        if self.reg_covar_mode == "relative":
            scale = float(np.trace(cov)) / cov.shape[0]
            # All rows identical: there is no scale to be relative to.
            reg *= scale if scale > 0 else 1.0
        return prior, reg

    def _warn_collapses(self, history: list[FitRecord], best: EMResult) -> None:
        n_events = sum(len(r.events) for r in history)
        failed = sum(r.error is not None for r in history)
        if not n_events and not failed:
            return
        first = best.events[0] if best.events else None
        what = (f" First in the kept fit: component {first.component} at iteration "
                f"{first.iteration} ({first.reason}: {first.detail}) -> {first.action}."
                if first is not None else " The kept fit had none.")
        warnings.warn(
            f"{n_events} collapse event(s) over {len(history)} initialisation(s)"
            f"{f', {failed} discarded' if failed else ''}; the kept fit has "
            f"{best.params.weights.shape[0]} of {self.n_components} components.{what} "
            "See fit_history_; prior='default' or fewer components may avoid it.",
            CollapseWarning,
            stacklevel=4,
        )

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Update the mixture with one mini-batch by stepwise EM.

        The first call initialises the parameters from the batch (as
        :meth:`fit` would, by ``init_params`` or the ``*_init`` arguments)
        and takes its statistics outright; each later call blends the
        batch's normalised E-step statistics into the running ones with step
        ``η_t = (t + learning_offset)^(-learning_decay)`` and runs the
        M-step (see :mod:`gaussmix.online`). After :meth:`fit`, the first
        call continues from the fitted parameters.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
            The first batch needs at least ``n_components`` rows.
        y : ignored
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : GaussianMixture
            ``n_iter_`` counts batches; ``lower_bound_`` is the last batch's
            mean log-likelihood under the parameters before its update;
            ``lower_bounds_`` holds that figure for the last 1,000 batches.

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> gm = GaussianMixture(n_components=2, random_state=0)
        >>> for _ in range(20):
        ...     batch = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))])
        ...     gm = gm.partial_fit(batch)
        >>> np.sort(gm.means_[:, 0]).round(0)
        array([0., 6.])
        """
        if self.prior is not None or self.reg_covar_mode != "absolute":
            raise ValueError(
                "partial_fit (stepwise EM) supports neither prior= nor reg_covar_mode='relative'; "
                "use fit, or leave them at their defaults"
            )
        state: OnlineState | None = getattr(self, "_online_state", None)
        fitted = hasattr(self, "means_")
        if state is not None and getattr(self, "_online_means", None) is not self.means_:
            state = None  # refitted (or parameters set) since the last step
        if not fitted:
            self._validate_params()
            X = check_X(self, X, reset=True, min_samples=2)
            w = check_sample_weight(sample_weight, X)
            check_n_components(self.n_components, X)
            model = get_model(self.covariance_type)
            chunk = resolve_chunk_size(self.chunk_size, self.n_components, X.shape[1])
            shift = weighted_mean(X, w, chunk)
            rng = check_random_state(self.random_state)
            params, _, _ = self._initial_params(X, w, model, rng, shift, chunk)
            self.lower_bounds_ = []
        else:
            X = check_X(self, X, reset=False)
            w = check_sample_weight(sample_weight, X)
            model = get_model(self.covariance_model_)
            chunk = resolve_chunk_size(self.chunk_size, self.n_components, X.shape[1])
            shift = state.shift if state is not None else weighted_mean(X, w, chunk)
            params = self._get_params()
            if state is None:
                self.lower_bounds_ = []
        state, params, objective = stepwise_update(
            state, X, w, params, model, shift=shift, assignment=self.assignment,
            reg_covar=self.reg_covar, equal_weights=self.equal_weights,
            decay=self.learning_decay, offset=self.learning_offset, chunk_size=chunk,
        )
        self._set_params(params, model)
        self._online_state, self._online_means = state, self.means_
        self.n_iter_ = state.n_steps
        self.converged_ = False
        self.lower_bound_ = float(objective)
        self.lower_bounds_ = [*self.lower_bounds_[-999:], float(objective)]
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
        self, X: Any, w: np.ndarray | None, model: CovarianceModel,
        rng: np.random.RandomState, shift: np.ndarray, chunk: int,
        guard: CollapseGuard | None = None, summary: DataSummary | None = None,
    ) -> tuple[GMMParams, list[CollapseEvent], np.ndarray | None]:
        """Starting parameters, the initial M-step's collapse events, and each
        row's component in the starting partition where the pruned E-step can
        start from it (:mod:`gaussmix.estep_pruned`; one fit at a time, so that
        restarts do not each keep a label per row)."""
        k, d = self.n_components, shift.shape[0]
        anchors = None
        kind = model.stats_kind
        given = (self.weights_init, self.means_init, self.precisions_init)

        def first_mstep(stats: Any) -> tuple[GMMParams, list[CollapseEvent]]:
            if guard is not None:
                return guard.mstep(stats, None, 0)
            return mstep(stats, model, reg_covar=self.reg_covar, shift=shift,
                         equal_weights=self.equal_weights), []

        if self.resp_init is not None and summary is not None:
            raise ValueError(
                "resp_init needs X in memory; for data read in blocks pass weights_init, "
                "means_init and precisions_init instead"
            )
        if self.resp_init is not None:
            assert w is not None
            resp = check_resp_init(self.resp_init, X.shape[0], k)
            if resp.ndim == 1:
                stats = stats_from_partition(X, w, resp, k, kind, shift, chunk)
            else:
                stats = stats_from_resp(X, w, resp, kind, shift, chunk)
            params, events = first_mstep(stats)
        elif all(g is not None for g in given):
            params, events = None, []
        elif summary is not None:
            stats = initial_stats_streaming(self.init_params, X, summary.sample, k, model, rng,
                                            shift, chunk)
            params, events = first_mstep(stats)
        else:
            assert w is not None
            stats, labels = initial_stats(self.init_params, X, w, k, model, rng, shift, chunk,
                                          hc_tree=getattr(self, "_hc_tree", None))
            params, events = first_mstep(stats)
            if self.n_init == 1 and not events and prunable(X, model, self.assignment):
                anchors = labels
        if params is not None and params.weights.shape[0] != k and any(
            g is not None for g in given
        ):
            raise CollapseError(
                "the initial M-step changed the components, so weights_init / means_init / "
                "precisions_init no longer fit them; " + str(events[0]),
                events[0].component, 0, events[0].reason,
            )
        return with_given(params, *given, model, k, d), events, anchors

    # ------------------------------------------------------------ state
    def _set_params(self, params: GMMParams, model: CovarianceModel) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = model.layout.precisions(params.precisions_cholesky)
        self.covariance_model_ = model.code
        self.n_components_ = int(params.weights.shape[0])

    def _fitted_model(self) -> CovarianceModel:
        check_is_fitted(self, "means_")
        if isinstance(self.covariance_type, CovarianceModel):
            return self.covariance_type
        return get_model(self.covariance_model_)

    def _get_params(self) -> GMMParams:
        return GMMParams(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _fitted(self, X: Any) -> tuple[Any, GMMParams, CovarianceModel, np.ndarray, int]:
        check_is_fitted(self, "means_")
        X = check_predict_input(self, X)
        model = self._fitted_model()
        params = self._get_params()
        shift = self.weights_ @ self.means_
        chunk = resolve_chunk_size(self.chunk_size, self.weights_.shape[0], self.n_features_in_)
        if self.chunk_size is None and isinstance(X, np.ndarray):
            chunk = _model_chunk(model, self.weights_.shape[0], X)
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
        fn = partial(rows_log_density, params=params, model=model, shift=shift)
        with parallel(self.n_jobs):
            return map_rows(X, fn, chunk, None, np.float64)  # type: ignore[no-any-return]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for every row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        X, params, model, shift, chunk = self._fitted(X)
        fn = partial(rows_resp, params=params, model=model, shift=shift)
        with parallel(self.n_jobs):
            return map_rows(X, fn, chunk, self.n_components, np.float64)  # type: ignore[no-any-return]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of every row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X, params, model, shift, chunk = self._fitted(X)
        fn = partial(rows_label, params=params, model=model, shift=shift)
        with parallel(self.n_jobs):
            return map_rows(X, fn, chunk, None, np.intp)  # type: ignore[no-any-return]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean (weighted) log-likelihood per row of ``X``."""
        ll = self.score_samples(X)
        if sample_weight is None:
            return float(ll.mean())
        if is_block_input(ll):
            raise ValueError("score with sample_weight needs X in memory")
        w = check_sample_weight(sample_weight, np.empty((ll.shape[0], 1)))
        return float(w @ ll / w.sum())

    def _n_parameters(self) -> int:
        """Free parameters: covariances (from the model), means, weights."""
        check_is_fitted(self, "means_")
        k, d = self.means_.shape
        model = self._fitted_model()
        n_weights = 0 if self.equal_weights else k - 1
        return int(model.n_cov_parameters(k, d) + k * d + n_weights)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 log L + p log n`` with ``p`` free parameters.
        """
        ll = self.score_samples(X)
        n = ll.shape[0]
        return float(-2.0 * float(ll.sum()) + self._n_parameters() * np.log(n))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better): ``-2 log L + 2p``."""
        ll = self.score_samples(X)
        return float(-2.0 * float(ll.sum()) + 2 * self._n_parameters())

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

        def block(Xb: np.ndarray, _w: np.ndarray) -> np.ndarray:
            lse, lr = log_resp(Xb, params, model, shift)
            return np.array([lse.sum(), lr.max(axis=1).sum(), lse.shape[0]])

        w = None if hasattr(X, "map_sum") else np.ones(X.shape[0])
        loglik, map_term, n = map_blocks_sum(X, w, chunk, block)
        return float(-2.0 * loglik + self._n_parameters() * np.log(n) - 2.0 * map_term)

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
        layout = self._fitted_model().layout
        chol = layout.covariance_cholesky(self.covariances_, k, d)
        X = np.vstack([
            self.means_[j] + rng.standard_normal((c, d)) @ chol[j].T
            for j, c in enumerate(counts)
        ])
        y = np.repeat(np.arange(k), counts)
        return X, y
