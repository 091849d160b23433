"""The EM loop: E-step over blocks into statistics, M-step from their sum.

One loop serves soft EM and classification (hard) EM, every covariance model
and every way of producing blocks.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from .covariance import CovarianceModel
from .estep import ESTEPS, GMMParams
from .execution import map_blocks_sum
from .mstep import mstep

logger = logging.getLogger("gaussmix")

STOPPING_RULES = ("absolute", "relative")


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
    """

    params: GMMParams
    converged: bool
    n_iter: int
    lower_bound: float
    history: list[float]


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
) -> EMResult:
    """Iterate E- and M-steps from ``params`` (private: assumes valid input).

    Each iteration computes the objective of the current parameters in the
    E-step, then replaces them by the M-step's; it stops when the objective's
    change satisfies the ``stopping`` rule, or after ``max_iter`` iterations.
    ``X`` is an array with weights ``w``, or a block source (a file, a Dask
    array) that carries its own weights (``w`` is then ``None``).
    """
    estep = ESTEPS[assignment]
    lower_bound = -np.inf
    history: list[float] = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats = map_blocks_sum(
            X, w, chunk_size, partial(estep, params=params, model=model, shift=shift)
        )
        total = stats.total_weight
        params = mstep(
            stats, model, reg_covar=reg_covar, shift=shift, equal_weights=equal_weights,
            previous=params.covariances,
        )
        previous, lower_bound = lower_bound, stats.objective / total
        history.append(lower_bound)
        logger.debug("EM iteration %d: objective %.10g", n_iter, lower_bound)
        if _converged(lower_bound, previous, tol, stopping, total):
            converged = True
            break
    return EMResult(params, converged, n_iter, float(lower_bound), history)
