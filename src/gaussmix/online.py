"""Stepwise (online) EM: decayed running sufficient statistics over mini-batches.

Stepwise EM (Cappé & Moulines 2009; Liang & Klein 2009) keeps a running
average ``s`` of the normalised statistics of the mini-batches and runs the
usual M-step on it after every batch:

    s_t = (1 - η_t) s_{t-1} + η_t ŝ(batch_t),      η_t = (t + t0)^(-α)

where ``ŝ`` is the batch's E-step statistics divided by the batch's total
weight. For ``α`` in (0.5, 1] the steps satisfy ``Σ η_t = ∞`` and
``Σ η_t² < ∞`` (Robbins-Monro), so the running statistics converge to a
stationary point of the expected log-likelihood. Smaller ``α`` forgets old
batches faster; ``t0`` damps the first steps. The first batch sets ``s``
outright (``η = 1``).

The state is an immutable :class:`OnlineState`; :func:`stepwise_update` is
pure, so the estimator only stores what it returns.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from .covariance import CovarianceModel
from .estep import ESTEPS, GMMParams
from .execution import map_blocks_sum
from .mstep import mstep
from .stats import SuffStats


class OnlineState(NamedTuple):
    """State of stepwise EM between mini-batches.

    Attributes
    ----------
    stats : SuffStats
        Running statistics per unit weight (``nk`` sums to 1).
    shift : ndarray of shape (n_features,)
        Fixed centre of the second moments (the first batch's weighted mean).
    n_steps : int
        Batches seen.
    weight_seen : float
        Total sample weight seen.
    """

    stats: SuffStats
    shift: np.ndarray
    n_steps: int
    weight_seen: float


def step_size(n_steps: int, decay: float, offset: float) -> float:
    """``η = (n_steps + offset)^(-decay)`` for the update after ``n_steps`` batches.

    ``n_steps = 0`` (the first batch) always gives 1.
    """
    if n_steps == 0:
        return 1.0
    return float((n_steps + offset) ** (-decay))


def _scale(stats: SuffStats, a: float) -> SuffStats:
    return SuffStats(stats.nk * a, stats.sk * a, stats.Sk * a, stats.objective * a)


def blend(old: SuffStats, new: SuffStats, eta: float) -> SuffStats:
    """``(1 - eta) * old + eta * new``, field by field."""
    return _scale(old, 1.0 - eta) + _scale(new, eta)


def stepwise_update(
    state: OnlineState | None,
    X: np.ndarray,
    w: np.ndarray,
    params: GMMParams,
    model: CovarianceModel,
    *,
    shift: np.ndarray,
    assignment: str,
    reg_covar: float,
    equal_weights: bool,
    decay: float,
    offset: float,
    chunk_size: int,
) -> tuple[OnlineState, GMMParams, float]:
    """One stepwise-EM step on a mini-batch (private: assumes valid input).

    ``state`` is ``None`` for the first batch (then ``shift`` is used;
    afterwards the state's shift is). Returns the new state, the parameters
    of the M-step on the running statistics, and the batch's objective per
    unit weight under the parameters it was given (its mean log-likelihood
    for soft EM).
    """
    if state is not None:
        shift = state.shift
    fn = partial(ESTEPS[assignment], params=params, model=model, shift=shift)
    batch = map_blocks_sum(X, w, chunk_size, fn)
    weight = batch.total_weight
    n_steps = 0 if state is None else state.n_steps
    eta = step_size(n_steps, decay, offset)
    normed = _scale(batch, 1.0 / weight)
    stats = normed if state is None else blend(state.stats, normed, eta)
    new_params = mstep(stats, model, reg_covar=reg_covar, shift=shift,
                       equal_weights=equal_weights)
    seen = weight + (0.0 if state is None else state.weight_seen)
    return OnlineState(stats, shift, n_steps + 1, seen), new_params, batch.objective / weight
