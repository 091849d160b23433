"""``MiniBatchKMeans``: Sculley's (2010) mini-batch k-means, with ``partial_fit``.

Each mini-batch is assigned to its nearest centres (the k-means E-step of
:func:`~gaussmix.kmeans.lloyd_block`); each centre then moves to the running
weighted mean of every row ever assigned to it: with ``v_j`` the weight
assigned so far and ``(b_j, s_j)`` the batch's weight and weighted sum for
centre ``j``, ``c_j ← (v_j c_j + s_j) / (v_j + b_j)`` — Sculley's per-centre
learning rate ``1 / v_j`` applied to the whole batch at once.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._input import prepare_fit_input, weighted_mean
from ._validation import N_JOBS_CONSTRAINT, check_n_components, check_sample_weight, check_X
from .cluster import KMeans
from .execution import parallel, resolve_chunk_size
from .init_streaming import sample_rows
from .kmeans import lloyd, lloyd_block
from .kmeans_plusplus import kmeans_plusplus


class MiniBatchState(NamedTuple):
    """Centres (shifted) and the weight assigned to each so far."""

    centers_c: np.ndarray
    counts: np.ndarray
    shift: np.ndarray
    n_steps: int


def minibatch_step(
    state: MiniBatchState, X: np.ndarray, w: np.ndarray, rng: np.random.RandomState,
    reassignment_ratio: float,
) -> tuple[MiniBatchState, float]:
    """One mini-batch update (private: assumes valid input); returns the batch inertia.

    Every 10 steps, centres whose assigned weight is below
    ``reassignment_ratio`` times the largest are moved onto random rows of
    the batch (as scikit-learn does), so early bad seeds are not kept forever.
    """
    stats, _labels, _d2 = lloyd_block(X, w, state.centers_c, state.shift)
    counts = state.counts + stats.nk
    hit = stats.nk > 0
    centers = state.centers_c.copy()
    centers[hit] = (state.centers_c[hit] * state.counts[hit, None] + stats.sk[hit]) / counts[
        hit, None
    ]
    n_steps = state.n_steps + 1
    if reassignment_ratio > 0 and n_steps % 10 == 0 and counts.max() > 0:
        low = np.flatnonzero(counts < reassignment_ratio * counts.max())
        if 0 < low.size < counts.shape[0] and low.size <= X.shape[0]:
            rows = rng.choice(X.shape[0], size=low.size, replace=False)
            centers[low] = np.asarray(X[rows], dtype=np.float64) - state.shift
            counts[low] = counts[np.setdiff1d(np.arange(counts.shape[0]), low)].min()
    return MiniBatchState(centers, counts, state.shift, n_steps), -stats.objective


class MiniBatchKMeans(KMeans):
    """Mini-batch k-means (Sculley 2010), for data too large to pass over often.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features)
        Seeds are chosen on ``init_size`` random rows (on the one-pass
        sample for a file or Dask array) and refined there by Lloyd's
        algorithm; the best of ``n_init`` such runs starts the mini-batches.
    max_iter : int, default=100
        Passes over the data at most.
    batch_size : int, default=1024
    tol : float, default=0.0
        Stop when the squared centre change of a batch, relative to the
        data's mean variance, falls below ``tol`` (0 disables).
    max_no_improvement : int or None, default=10
        Stop after this many batches without improvement of the smoothed
        batch inertia (``None`` disables).
    init_size : int or None, default=None
        Rows for seeding (default ``3 * batch_size``, at least ``3 * n_clusters``).
    n_init : int, default=3
        k-means runs on the init rows; the lowest inertia there is kept.
    reassignment_ratio : float, default=0.01
    random_state : int, RandomState instance or None, default=None
    chunk_size : int or None, default=None
        Rows per block of the final labelling pass.
    n_jobs : int or None, default=None
        Threads over row chunks in the final labelling pass (``None``: all cores).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    counts_ : ndarray of shape (n_clusters,)
        Weight assigned to each centre over all batches.
    labels_ : ndarray of shape (n_samples,)
        After :meth:`fit` only.
    inertia_ : float
        On the whole data after :meth:`fit`; on the last batch after :meth:`partial_fit`.
    n_iter_ : int
        Passes over the data (:meth:`fit`).
    n_steps_ : int
        Mini-batches processed.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import MiniBatchKMeans
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(1, 1, (500, 2)), rng.normal(8, 1, (500, 2))])
    >>> km = MiniBatchKMeans(n_clusters=2, batch_size=100, random_state=0).fit(X)
    >>> np.sort(km.cluster_centers_[:, 0]).round(0)
    array([1., 8.])
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 0, None, closed="left"), None],
        "init_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "reassignment_ratio": [Interval(Real, 0.0, None, closed="left")],
        "random_state": ["random_state"],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        max_iter: int = 100,
        batch_size: int = 1024,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        init_size: int | None = None,
        n_init: int = 3,
        reassignment_ratio: float = 0.01,
        random_state: Any = None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs

    # -------------------------------------------------------------- seeding
    def _seed(self, rows: np.ndarray, rng: np.random.RandomState, shift: np.ndarray,
              chunk: int) -> np.ndarray:
        """Shifted starting centres: the best of ``n_init`` k-means runs on ``rows``."""
        k, d = self.n_clusters, rows.shape[1]
        if not isinstance(self.init, str):
            c = np.asarray(self.init, dtype=np.float64)
            if c.shape != (k, d) or not np.all(np.isfinite(c)):
                raise ValueError(f"init array must be finite with shape {(k, d)}, got {c.shape}")
            return c - shift
        ones = np.ones(rows.shape[0])
        tol = 1e-4 * float(np.mean(np.var(rows, axis=0)))
        best, best_inertia = None, np.inf
        for _ in range(self.n_init):
            if self.init == "k-means++":
                c = kmeans_plusplus(rows, ones, k, rng)
            else:
                c = rows[rng.choice(rows.shape[0], size=k, replace=False)]
            # Lloyd on the init rows: cheap, and it settles which seeding is best
            # before mini-batches (which cannot move a centre across the data) start.
            res = lloyd(rows, ones, c, max_iter=100, tol=tol, shift=shift, chunk_size=chunk)
            c, inertia = res.centers, res.inertia
            if inertia < best_inertia:
                best, best_inertia = c, inertia
        assert best is not None
        return best - shift

    def _init_size(self, n: int) -> int:
        size = self.init_size if self.init_size is not None else 3 * self.batch_size
        return int(min(n, max(size, 3 * self.n_clusters)))

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Fit by mini-batches drawn at random (rows of a file or Dask array: in order).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, block source or Dask array
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MiniBatchKMeans
        """
        self._validate_params()
        with parallel(self.n_jobs):
            return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any) -> MiniBatchKMeans:
        k = self.n_clusters
        rng = check_random_state(self.random_state)
        data = prepare_fit_input(self, X, sample_weight, k, self.chunk_size, rng=rng,
                                 name="n_clusters")
        X, w, shift, chunk, n = data.X, data.w, data.shift, data.chunk_size, data.n_samples
        if data.summary is None:
            init_rows = np.asarray(X[rng.choice(n, self._init_size(n), replace=False)],
                                   dtype=np.float64)
        else:
            init_rows = sample_rows(data.summary.sample)
        state = MiniBatchState(self._seed(init_rows, rng, shift, chunk), np.zeros(k), shift, 0)
        self._rng = rng
        tol = data.mean_variance() * self.tol
        n_batches = max(1, n // self.batch_size)
        alpha = min(1.0, 2.0 * self.batch_size / (n + 1))
        ewa, best, stale = None, np.inf, 0
        stop, epoch = False, 0
        for epoch in range(1, self.max_iter + 1):
            for Xb, wb in self._batches(X, w, n_batches, rng):
                old = state.centers_c
                state, inertia = minibatch_step(state, Xb, wb, rng, self.reassignment_ratio)
                batch_inertia = inertia / max(float(wb.sum()), 1e-300)
                ewa = batch_inertia if ewa is None else ewa * (1 - alpha) + batch_inertia * alpha
                if tol > 0 and float(np.sum((state.centers_c - old) ** 2)) <= tol:
                    stop = True
                    break
                if ewa < best:
                    best, stale = ewa, 0
                else:
                    stale += 1
                if self.max_no_improvement is not None and stale >= self.max_no_improvement:
                    stop = True
                    break
            if stop:
                break
        self._set_state(state)
        self.n_iter_ = epoch
        # Final pass: labels and inertia of the whole data, as KMeans reports them.
        res = lloyd(X, w, state.centers_c + shift, max_iter=0, tol=0.0, shift=shift,
                    chunk_size=chunk)
        self.inertia_ = res.inertia
        self.labels_ = res.labels if res.labels is not None else self.predict(X)
        self._weight_sum = data.total_weight
        return self

    def _batches(self, X: Any, w: np.ndarray | None, n_batches: int,
                 rng: np.random.RandomState) -> Any:
        if isinstance(X, np.ndarray):
            assert w is not None
            for _ in range(n_batches):
                idx = rng.randint(0, X.shape[0], self.batch_size)
                yield X[idx], w[idx]
        else:
            for _off, Xb, wb in X.iter_blocks(self.batch_size):
                yield Xb, wb

    def _set_state(self, state: MiniBatchState) -> None:
        self._mb_state = state
        self.cluster_centers_ = state.centers_c + state.shift
        self.counts_ = state.counts
        self.n_steps_ = state.n_steps

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Update the centres with one mini-batch.

        The first call seeds the centres on the batch (which needs at least
        ``n_clusters`` rows).

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
        y : ignored
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : MiniBatchKMeans
        """
        state: MiniBatchState | None = getattr(self, "_mb_state", None)
        if state is None:
            self._validate_params()
            self._rng = check_random_state(self.random_state)
            X = check_X(self, X, reset=True)
            w = check_sample_weight(sample_weight, X)
            check_n_components(self.n_clusters, X, "n_clusters")
            chunk = resolve_chunk_size(self.chunk_size, self.n_clusters, X.shape[1])
            shift = weighted_mean(X, w, chunk)
            rows = np.asarray(X, dtype=np.float64)
            state = MiniBatchState(self._seed(rows, self._rng, shift, chunk),
                                   np.zeros(self.n_clusters), shift, 0)
            self._weight_sum = 0.0
        else:
            X = check_X(self, X, reset=False)
            w = check_sample_weight(sample_weight, X)
        state, inertia = minibatch_step(state, X, w, self._rng, self.reassignment_ratio)
        self._set_state(state)
        self.inertia_ = inertia
        self._weight_sum += float(w.sum())
        return self
