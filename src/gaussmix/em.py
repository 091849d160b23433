"""The EM loop: E-step over blocks into statistics, M-step from their sum.

One loop serves soft EM and classification (hard) EM, every covariance model
and every way of producing blocks.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .covariance import CovarianceModel
from .estep import ESTEPS, GMMParams, rows_log_density
from .estep_pruned import Pruning, prunable
from .execution import RowSlices, map_blocks_sum
from .kmeans import nearest_center
from .mstep import mstep
from .stats import SuffStats

if TYPE_CHECKING:
    from .collapse import CollapseEvent, CollapseGuard
    from .prior import ConjugatePrior

logger = logging.getLogger("gaussmix")

STOPPING_RULES = ("absolute", "relative")


class FitRecord(NamedTuple):
    """One initialisation of a fit (an entry of ``fit_history_``).

    Attributes
    ----------
    restart : int
    objective : float
        Final objective per unit weight (``-inf`` if the run failed).
    converged : bool
    n_iter : int
    n_components : int
        Components left at the end (fewer after drops).
    events : tuple of CollapseEvent
    error : str or None
        Why the run failed, when it did.
    """

    restart: int
    objective: float
    converged: bool
    n_iter: int
    n_components: int
    events: tuple[CollapseEvent, ...]
    error: str | None = None


class EMResult(NamedTuple):
    """Outcome of one EM run.

    Attributes
    ----------
    params : GMMParams
        Parameters after the last M-step.
    converged : bool
    n_iter : int
    lower_bound : float
        Objective per unit weight at the last E-step (scikit-learn's
        ``lower_bound_``: mean log-likelihood for soft EM).
    history : list of float
        The objective per unit weight at every iteration.
    events : tuple of CollapseEvent
        Degenerate components met and what was done (see :mod:`gaussmix.collapse`).
    """

    params: GMMParams
    converged: bool
    n_iter: int
    lower_bound: float
    history: list[float]
    events: tuple[CollapseEvent, ...] = ()


def _converged(new: float, old: float, tol: float, rule: str, total_weight: float) -> bool:
    if rule == "absolute":
        # scikit-learn: change of the mean log-likelihood per sample.
        return abs(new - old) < tol
    # mclust: |L_new - L_old| / (1 + |L_new|) on the total log-likelihood.
    new_t, old_t = new * total_weight, old * total_weight
    return abs(new_t - old_t) / (1.0 + abs(new_t)) < tol


def run_em(
    X: Any,
    w: np.ndarray | None,
    model: CovarianceModel,
    params: GMMParams,
    *,
    shift: np.ndarray,
    tol: float,
    max_iter: int,
    reg_covar: float,
    chunk_size: int,
    assignment: str = "soft",
    equal_weights: bool = False,
    stopping: str = "absolute",
    prior: ConjugatePrior | None = None,
    guard: CollapseGuard | None = None,
    anchors: np.ndarray | None = None,
) -> EMResult:
    """Iterate E- and M-steps from ``params`` (private: assumes valid input).

    Each iteration computes the objective of the current parameters in the
    E-step, then replaces them by the M-step's; it stops when the objective's
    change satisfies the ``stopping`` rule, or after ``max_iter`` iterations.
    ``X`` is an array with weights ``w``, or a block source (a file, a Dask
    array) that carries its own weights (``w`` is then ``None``).
    With a ``prior`` the objective is the log posterior (log-likelihood plus
    log prior density), which MAP EM never decreases. With a ``guard`` the
    M-step handles degenerate components (:mod:`gaussmix.collapse`); after a
    reseed or drop the next change is not tested for convergence, since the
    objective then belongs to a different model. ``anchors`` (one component
    per row, e.g. the starting partition's; overwritten) start the pruned
    E-step (:mod:`gaussmix.estep_pruned`) where it applies.
    """
    estep = ESTEPS[assignment]
    lower_bound = -np.inf
    history: list[float] = []
    events: list[CollapseEvent] = []
    converged = False
    repaired = False
    n_iter = 0
    # diag/spherical in memory: each row's best component, kept from one iteration
    # to the next, lets the E-step skip the far components (estep_pruned)
    pruning = None
    if prunable(X, model, assignment):
        assert w is not None
        pruning = Pruning(X, w, model, params, shift, anchors)
    del anchors  # kept by pruning where it prunes, else freed
    for n_iter in range(1, max_iter + 1):
        if pruning is not None and pruning.paying:
            step, taken = pruning.step(params, shift)
            stats = map_blocks_sum(RowSlices(X.shape[0]), w, chunk_size, step)
            pruning.record(taken, params.means.shape[0])
        else:
            stats = map_blocks_sum(
                X, w, chunk_size, partial(estep, params=params, model=model, shift=shift)
            )
        total = stats.total_weight
        objective = stats.objective
        if prior is not None:
            from .prior import log_prior

            objective += log_prior(params, model, prior)
        if guard is None:
            new_params = mstep(stats, model, reg_covar=reg_covar, shift=shift,
                               equal_weights=equal_weights, prior=prior,
                               previous=params.covariances)
            new_events: list[CollapseEvent] = []
        else:
            new_params, new_events = guard.mstep(stats, params, n_iter)
        params = new_params
        previous, lower_bound = lower_bound, objective / total
        history.append(lower_bound)
        logger.debug("EM iteration %d: objective %.10g", n_iter, lower_bound)
        for ev in new_events:
            logger.debug("collapse: %s", ev)
        events.extend(new_events)
        if new_events and pruning is not None:  # reseeded or dropped components
            pruning.reset()
        if not repaired and _converged(lower_bound, previous, tol, stopping, total):
            converged = not new_events
            if converged:
                break
        repaired = bool(new_events)
    return EMResult(params, converged, n_iter, float(lower_bound), history, tuple(events))


class _Worst(NamedTuple):
    """The ``size`` lowest-scoring rows seen so far (additive by merging, like statistics)."""

    size: int
    scores: np.ndarray
    rows: np.ndarray

    def __add__(self, other: object) -> _Worst:  # type: ignore[override]
        if not isinstance(other, _Worst):
            return NotImplemented
        scores = np.concatenate([self.scores, other.scores])
        rows = np.concatenate([self.rows, other.rows])
        keep = np.argsort(scores, kind="stable")[: self.size]
        return _Worst(self.size, scores[keep], rows[keep])


def lowest_rows(
    X: Any,
    w: np.ndarray | None,
    model: CovarianceModel,
    shift: np.ndarray,
    chunk_size: int,
    params: GMMParams | None,
    stats: SuffStats,
    m: int,
) -> np.ndarray:
    """``m`` distinct rows with positive weight that the model explains worst.

    Lowest log-density under ``params``; without parameters (the initial
    M-step), largest squared distance to the nearest mean of ``stats``. One
    pass over the data (an array or a block source), used only to reseed
    collapsed components.
    """
    size = 8 * m  # spare candidates, so that duplicates can be skipped
    if params is None:
        nk = np.maximum(stats.nk, np.finfo(np.float64).tiny)
        cc = stats.sk / nk[:, None]

    def block(Xb: np.ndarray, wb: np.ndarray) -> _Worst:
        Xf = np.asarray(Xb, dtype=np.float64)
        if params is not None:
            score = rows_log_density(Xf, params=params, model=model, shift=shift)
        else:
            score = -nearest_center(Xf - shift, cc)[1]
        score = np.where(np.isnan(score), -np.inf, score)  # unexplainable rows are the worst
        score[~(np.asarray(wb) > 0)] = np.inf
        keep = np.argsort(score, kind="stable")[:size]
        return _Worst(size, score[keep], Xf[keep])

    worst = map_blocks_sum(X, w, chunk_size, block)
    chosen: list[np.ndarray] = []
    for row in worst.rows:
        if not any(np.array_equal(row, c) for c in chosen):
            chosen.append(row)
            if len(chosen) == m:
                break
    while len(chosen) < m:  # fewer distinct rows than needed: repeat (the caller then drops)
        chosen.append(chosen[-1])
    return np.stack(chosen)
