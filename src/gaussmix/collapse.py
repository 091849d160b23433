"""Detecting and recovering from collapsing components.

A component collapses when it shrinks onto too few points: its covariance
tends to singular and the likelihood to infinity. The guard here wraps the
M-step. It reads only summed statistics (so it serves every covariance model
of the registry and every execution mode) and, before the parameters are
formed, flags a component as degenerate when

- its effective count (weighted responsibility mass; weights below 1 on
  average are rescaled to rows, larger ones count as copies) falls below
  ``model.min_count(d)`` (not under a conjugate prior, where a small
  component's covariance is well defined), or
- its covariance's smallest eigenvalue, measured in units of the data's own
  covariance (whitened), falls below :data:`EIG_RTOL`, or
- factoring its covariance fails (``SingularCovarianceError``).

Then it applies the policy (``"off"`` skips all of this: plain EM, whose
only failure is a :class:`SingularCovarianceError` naming the component):
``"reseed"`` replaces the component's statistics
by those of a pseudo-cluster at the row with the lowest likelihood under the
current model, with the data's covariance scaled by ``K^(-2/d)`` and a fair
share ``1/K`` of the weight; ``"drop"`` removes the component (its
statistics merge into the nearest one, so no row's mass is lost in that
M-step); ``"raise"`` raises :class:`CollapseError` naming it. Reseeds are capped per run
(:data:`MAX_RESEEDS_PER_COMPONENT` times ``K``); past the cap a component
that is merely small is kept (the count rule is switched off for the run)
and one whose covariance is degenerate is dropped. Every action is recorded
as a :class:`CollapseEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .covariance import CovarianceModel, SingularCovarianceError
from .estep import GMMParams
from .mstep import finish_mstep, mstep_raw
from .prior import ConjugatePrior, data_moments
from .stats import SuffStats

COLLAPSE_POLICIES = ("reseed", "drop", "raise", "off")

#: Smallest eigenvalue of a component covariance, relative to the data's
#: covariance in the same direction, below which the component has collapsed.
#: Scatter computed in float64 about the data mean carries round-off of about
#: 1e-15 in these units, so 1e-10 separates "numerically zero" from real.
EIG_RTOL = 1e-10

#: A run may reseed at most this many times the number of components.
MAX_RESEEDS_PER_COMPONENT = 2

#: ``lowest_rows(params, stats, m)``: ``m`` distinct rows (data units) to reseed at.
RowPicker = Callable[[GMMParams | None, SuffStats, int], np.ndarray]


class CollapseEvent(NamedTuple):
    """One degenerate component and what was done about it.

    Attributes
    ----------
    restart : int
        Index of the initialisation (0-based).
    iteration : int
        EM iteration whose M-step found it (0: the initial M-step).
    component : int
        Index of the component at that moment (before any drop).
    reason : str
        ``"count"``, ``"eigenvalue"`` or ``"singular"``.
    action : str
        ``"reseed"``, ``"drop"``, or ``"keep"`` (reseeding small components
        did not help, so the count rule is switched off for the rest of the run).
    detail : str
        The measured quantity, in words.
    """

    restart: int
    iteration: int
    component: int
    reason: str
    action: str
    detail: str


class CollapseError(ValueError):
    """A component collapsed and the policy (or the data) allows no recovery.

    Attributes
    ----------
    component : int
    iteration : int
    reason : str
        ``"count"``, ``"eigenvalue"`` or ``"singular"``.

    Examples
    --------
    Five copies of one far point, and three components: under maximum
    likelihood one component sits on the copies and its variance vanishes.

    >>> import numpy as np
    >>> from gaussmix import CollapseError, GaussianMixture
    >>> X = np.r_[np.random.default_rng(0).normal(size=(50, 2)), np.tile([9.0, 9.0], (5, 1))]
    >>> try:
    ...     GaussianMixture(3, on_collapse="raise", random_state=0).fit(X)
    ... except CollapseError as err:
    ...     print(err.component, err.reason)
    1 eigenvalue
    >>> gm = GaussianMixture(3, prior="default", random_state=0).fit(X)  # MAP EM
    >>> gm.n_components_, gm.fit_history_[0].events
    (3, ())
    """

    def __init__(self, message: str, component: int, iteration: int, reason: str) -> None:
        super().__init__(message)
        self.component = component
        self.iteration = iteration
        self.reason = reason


class CollapseWarning(UserWarning):
    """Components collapsed during a fit and were reseeded or dropped."""


def whitener(data_cov: np.ndarray) -> np.ndarray:
    """Matrix ``P`` (d, r) with ``Pᵀ Σ_data P = I`` on the data's non-degenerate directions.

    Directions where the data has (numerically) no variance, such as constant
    or collinear columns, are left out: every component is flat along them and
    that is the data's doing, not a collapse.
    """
    vals, vecs = np.linalg.eigh(0.5 * (data_cov + data_cov.T))
    top = float(vals.max()) if vals.size else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros((data_cov.shape[0], 0))
    keep = vals > 1e-12 * top
    return vecs[:, keep] / np.sqrt(vals[keep])


class CollapseGuard:
    """M-step wrapper that detects degenerate components and applies a policy.

    Parameters
    ----------
    model : CovarianceModel
    policy : {"reseed", "drop", "raise", "off"}
    reg_covar : float
        Absolute value added to the variances (already resolved).
    shift : ndarray of shape (n_features,)
    count_scale : float
        Multiplies ``n_k`` to give an effective count in rows:
        ``max(1, n_positive_rows / total_weight)``, so integer weights count
        as copies and fractional weights are rescaled to rows.
    lowest_rows : callable
        ``lowest_rows(params, stats, m)`` returns ``m`` distinct rows to
        reseed at: lowest likelihood under ``params``, or, when ``params`` is
        None, farthest from the statistics' means.
    equal_weights : bool
    prior : ConjugatePrior or None
    restart : int
        Recorded in the events.
    """

    def __init__(
        self,
        model: CovarianceModel,
        *,
        policy: str,
        reg_covar: float,
        shift: np.ndarray,
        count_scale: float,
        lowest_rows: RowPicker,
        equal_weights: bool = False,
        prior: ConjugatePrior | None = None,
        restart: int = 0,
    ) -> None:
        if policy not in COLLAPSE_POLICIES:
            raise ValueError(f"on_collapse must be one of {COLLAPSE_POLICIES}, got {policy!r}")
        self.model = model
        self.policy = policy
        self.reg_covar = reg_covar
        self.shift = shift
        self.count_scale = count_scale
        self.lowest_rows = lowest_rows
        self.equal_weights = equal_weights
        self.prior = prior
        self.restart = restart
        self.n_reseeds = 0
        #: Switched off once reseeding small components has not helped (see ``mstep``).
        self.count_rule = True
        self._data_cov: np.ndarray | None = None
        self._P: np.ndarray | None = None
        self._ptp_floor: tuple[np.ndarray, float] | None = None

    # -------------------------------------------------------------- detect
    def _whitener(self, stats: SuffStats) -> np.ndarray:
        if self._P is None:
            d = stats.sk.shape[1]
            if self.model.stats_kind == "none":
                # A model that reads no second moments estimates no covariance: nothing to
                # compare against, and nothing that can collapse.
                self._data_cov, self._P = np.zeros((d, d)), np.zeros((d, 0))
            else:
                # Responsibilities of a row sum to 1, so any statistics give the data's moments.
                self._data_cov = data_moments(stats, self.shift, self.model.stats_kind)[1]
                self._P = whitener(self._data_cov)
        return self._P

    def detect(self, stats: SuffStats, cov: np.ndarray) -> dict[int, tuple[str, str]]:
        """Degenerate components of the statistics and candidate covariances."""
        k, d = stats.nk.shape[0], stats.sk.shape[1]
        flags: dict[int, tuple[str, str]] = {}
        counts = stats.nk * self.count_scale
        # Under a prior a small component's covariance is a posterior mode, well defined
        # whatever its count; only the eigenvalue rule applies.
        need = self.model.min_count(d) if self.prior is None and self.count_rule else 0.0
        # Data with fewer rows than that can still have one component holding them all.
        need = min(need, float(counts.sum()))
        for j in np.flatnonzero(~(counts >= need)):
            flags[int(j)] = ("count", f"effective count {counts[j]:.3g} < {need:g} points")
        P = self._whitener(stats)
        layout = self.model.layout
        floor = layout.smallest_eigenvalues(cov)
        # Layouts with cheap eigenvalues hold one (d,) or scalar variance per component:
        # test those, not a (k, d, d) array built from them on every iteration.
        full = layout.full(cov, k, d) if floor is None else None
        finite = np.all(np.isfinite(np.reshape(cov if full is None else full, (k, -1))), axis=1)
        ev = np.full(k, -np.inf)
        if P.shape[1] and finite.any():
            todo = finite.copy()
            if floor is not None:
                # λ_min(Pᵀ Σ P) >= λ_min(Σ) λ_min(Pᵀ P): components clearly above
                # the threshold need no eigendecomposition (2-4 ms per iteration
                # at d = 64, k = 20, a fifth of a diagonal EM iteration).
                if self._ptp_floor is None or self._ptp_floor[0] is not P:
                    self._ptp_floor = (P, float(np.linalg.eigvalsh(P.T @ P)[0]))
                bound = floor * self._ptp_floor[1]
                clear = todo & (bound >= 2.0 * EIG_RTOL)
                ev[clear] = bound[clear]
                todo &= ~clear
            if todo.any():
                # Pᵀ Σ_k P as batched matrix products (a three-operand einsum runs
                # an O(k d⁴) loop: 0.33 s per iteration at d = 64, k = 20).
                full = layout.full(cov, k, d) if full is None else full
                M = P.T @ full[todo] @ P
                ev[todo] = np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, 1, 2)))[:, 0]
        elif finite.any():
            ev[finite] = np.inf  # the data has no spread: nothing to compare against
        bad = np.flatnonzero(~(ev >= EIG_RTOL))
        if bad.size == k and k > 1 and np.all(finite):
            # Every covariance flat at once (a shared covariance, or every component on
            # its own point): blame the smallest component rather than all of them.
            bad = np.array([int(np.argmin(stats.nk))])
        for j in bad:
            detail = (f"smallest covariance eigenvalue {ev[j]:.3g} x the data's variance in "
                      f"that direction (threshold {EIG_RTOL:g})")
            flags.setdefault(int(j), ("eigenvalue", detail))
        return flags

    # -------------------------------------------------------------- repair
    def _raise(self, j: int, reason: str, detail: str, iteration: int, why: str = "") -> None:
        raise CollapseError(
            f"component {j} collapsed at iteration {iteration} of initialisation "
            f"{self.restart} ({reason}: {detail}){why}. Use on_collapse='reseed' or 'drop', "
            "prior='default', a larger reg_covar, or fewer components.",
            j, iteration, reason,
        )

    def _reseed(
        self, stats: SuffStats, comps: list[int], params_prev: GMMParams | None
    ) -> SuffStats:
        kind = self.model.stats_kind
        k, d = stats.nk.shape[0], stats.sk.shape[1]
        assert self._data_cov is not None
        seed_cov = self._data_cov * k ** (-2.0 / d)
        mass = stats.total_weight / k
        rows = self.lowest_rows(params_prev, stats, len(comps))
        nk, sk, Sk = stats.nk.copy(), stats.sk.copy(), np.array(stats.Sk, copy=True)
        for j, x in zip(comps, rows, strict=True):
            c = np.asarray(x, dtype=np.float64) - self.shift
            nk[j], sk[j] = mass, mass * c
            if kind == "full":
                Sk[j] = mass * (np.outer(c, c) + seed_cov)
            elif kind == "diag":
                Sk[j] = mass * (c * c + np.diag(seed_cov))
            elif kind == "pooled":
                Sk = Sk + mass * (np.outer(c, c) + seed_cov)
            elif kind == "pooled_diag":
                Sk = Sk + mass * (c * c + np.diag(seed_cov))
        return SuffStats(nk, sk, Sk, stats.objective)

    def _drop(self, stats: SuffStats, comps: list[int]) -> tuple[SuffStats, list[int]]:
        """Remove components, merging each one's statistics into the nearest kept one.

        Merging keeps every row's mass in this M-step (the next E-step
        reassigns the rows anyway), so dropping never starves the others.
        When every component is degenerate the largest is kept.
        """
        k = stats.nk.shape[0]
        largest = int(np.argmax(stats.nk))
        dropped = comps if len(comps) < k else [j for j in range(k) if j != largest]
        keep = np.setdiff1d(np.arange(k), dropped)
        nk, sk = stats.nk.copy(), stats.sk.copy()
        per_comp = self.model.stats_kind in ("full", "diag")
        Sk = np.array(stats.Sk, copy=True)
        m = sk / np.maximum(nk, np.finfo(np.float64).tiny)[:, None]
        for j in dropped:
            target = int(keep[np.argmin(np.sum((m[keep] - m[j]) ** 2, axis=1))])
            nk[target] += nk[j]
            sk[target] += sk[j]
            if per_comp:
                Sk[target] += Sk[j]
        Sk = Sk[keep] if per_comp else Sk
        return SuffStats(nk[keep], sk[keep], Sk, stats.objective), dropped

    def mstep(
        self, stats: SuffStats, params_prev: GMMParams | None, iteration: int
    ) -> tuple[GMMParams, list[CollapseEvent]]:
        """Parameters from statistics, after handling every degenerate component.

        Raises
        ------
        CollapseError
            Under ``policy="raise"``, or when no component would be left.
        """
        events: list[CollapseEvent] = []
        # Warm start of iterative M-steps: only a starting point, so components
        # dropped in between do no harm.
        previous = params_prev.covariances if params_prev is not None else None
        if self.policy == "off":  # plain EM, as scikit-learn and mclust run it
            nk, means, cov = mstep_raw(stats, self.model, shift=self.shift, prior=self.prior,
                                       previous=previous)
            return finish_mstep(nk, means, cov, self.model, reg_covar=self.reg_covar,
                                equal_weights=self.equal_weights), events
        for _ in range(4 * stats.nk.shape[0] + 4):
            nk, means, cov = mstep_raw(stats, self.model, shift=self.shift, prior=self.prior,
                                       previous=previous)
            flags = self.detect(stats, cov)
            if not flags:
                try:
                    params = finish_mstep(nk, means, cov, self.model, reg_covar=self.reg_covar,
                                          equal_weights=self.equal_weights)
                    return params, events
                except SingularCovarianceError as exc:
                    j = min(exc.component, nk.shape[0] - 1)
                    flags = {j: ("singular", str(exc).split(":")[0])}
            comps = sorted(flags)
            if self.policy == "raise":
                j = comps[0]
                self._raise(j, *flags[j], iteration)
            k = stats.nk.shape[0]
            if k == 1:  # all the data in one degenerate component: nothing left to try
                self._raise(0, *flags[0], iteration, why="; it is the only component left")
            need = self.model.min_count(stats.sk.shape[1]) if self.prior is None else 0.0
            reseed = (
                self.policy == "reseed"
                and self.n_reseeds + len(comps) <= MAX_RESEEDS_PER_COMPONENT * k
                and stats.total_weight / k * self.count_scale >= need  # a fair share suffices
            )
            if not reseed and self.policy == "reseed" and all(
                flags[j][0] == "count" for j in comps
            ):
                # Small components keep coming back: the data supports them (their
                # covariances are sound, or the eigenvalue rule would have fired). Keep
                # them, and stop applying the count rule in this run.
                self.count_rule = False
                j = comps[0]
                events.append(CollapseEvent(
                    self.restart, iteration, j, "count", "keep",
                    flags[j][1] + "; reseeding did not help, small components kept",
                ))
                continue
            if reseed:
                acted, action = comps, "reseed"
            else:
                stats, acted = self._drop(stats, comps)
                action = "drop"
            for j in acted:
                reason, detail = flags.get(j, flags[comps[0]])
                if self.policy == "reseed" and not reseed:
                    detail += "; reseeding cannot help here"
                events.append(CollapseEvent(self.restart, iteration, j, reason, action, detail))
            if reseed:
                self.n_reseeds += len(comps)
                stats = self._reseed(stats, comps, params_prev)
        j = events[-1].component if events else 0
        self._raise(j, "singular", "no recovery after repeated repairs", iteration)
        raise AssertionError("unreachable")
