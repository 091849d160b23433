"""Plots of fitted mixtures, as R's mclust draws them: clusters, uncertainty, selection, density.

Needs matplotlib (``pip install 'gaussmix[plot]'``), imported when a function
is called. Every function takes an optional ``ax`` and returns it. Data with
more than two features is drawn in the plane of its first two principal
axes, and each component's Gaussian is projected onto that plane exactly
(mean ``Pᵀ(μ - c)``, covariance ``Pᵀ Σ P``); one feature is drawn along x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._grid import record_get, selection_criterion
from .covariance import get_model

_SIGMAS = (1.0, 2.0)


def _plt() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("gaussmix.plot needs matplotlib: pip install 'gaussmix[plot]'") from None
    return plt


def _axes(ax: Any) -> Any:
    if ax is None:
        _, ax = _plt().subplots(figsize=(6, 4.5))
    return ax


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _colors(k: int) -> list[Any]:
    cmap = _cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def _as_2d(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
    return X


class _Plane:
    """The drawing plane: identity for d <= 2, else the first two principal axes of X."""

    def __init__(self, X: np.ndarray, names: list[str] | None = None):
        d = X.shape[1]
        self.d = d
        if d <= 2:
            self.center = np.zeros(d)
            self.P = np.eye(d)
            names = names or [f"x{j}" for j in range(d)]
            self.labels = list(names[:d])
            self.explained: np.ndarray | None = None
        else:
            self.center = X.mean(axis=0)
            evals, evecs = np.linalg.eigh(np.cov(X, rowvar=False))
            order = np.argsort(evals)[::-1]
            self.P = evecs[:, order[:2]]
            self.explained = evals[order[:2]] / evals.sum()
            self.labels = [f"principal axis {i + 1} ({self.explained[i]:.0%} of variance)"
                           for i in range(2)]

    def points(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center) @ self.P

    def gaussians(self, model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights, projected means (k, m) and projected covariances (k, m, m)."""
        k, d = model.means_.shape
        full = get_model(model.covariance_model_).layout.full(model.covariances_, k, d)
        means = (model.means_ - self.center) @ self.P
        covs = np.einsum("ji,kjl,lm->kim", self.P, full, self.P)
        return np.asarray(model.weights_), means, covs

    def log_density(self, model: Any, Y: np.ndarray) -> np.ndarray:
        """Log-density of the projected mixture at points ``Y`` of the plane, shape (n,)."""
        from scipy.special import logsumexp
        from scipy.stats import multivariate_normal

        w, means, covs = self.gaussians(model)
        with np.errstate(divide="ignore"):
            parts = [np.log(wk) + multivariate_normal(m, c, allow_singular=True).logpdf(Y)
                     for wk, m, c in zip(w, means, covs, strict=True)]
        return logsumexp(np.column_stack(parts).reshape(Y.shape[0], -1), axis=1)


def _ellipse(ax: Any, mean: np.ndarray, cov: np.ndarray, n_sigma: float, color: Any,
             **kw: Any) -> None:
    from matplotlib.patches import Ellipse

    evals, evecs = np.linalg.eigh(cov)
    evals = np.maximum(evals, 0.0)
    angle = float(np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1])))
    width, height = 2.0 * n_sigma * np.sqrt(evals[::-1])
    ax.add_patch(Ellipse(tuple(mean), width, height, angle=angle, fill=False,
                         edgecolor=color, **kw))


def _scatter_labels(ax: Any, Y: np.ndarray, labels: np.ndarray, k: int,
                    colors: Sequence[Any] | None = None, **kw: Any) -> None:
    colors = list(colors) if colors is not None else _colors(k)
    if Y.shape[1] == 1:
        rng = np.random.default_rng(0)
        yy = rng.uniform(-0.02, 0.02, size=Y.shape[0])
        ax.scatter(Y[:, 0], yy, c=[colors[i] for i in labels], s=kw.pop("s", 12), **kw)
        ax.set_yticks([])
    else:
        ax.scatter(Y[:, 0], Y[:, 1], c=[colors[i] for i in labels], s=kw.pop("s", 12), **kw)


def _label_axes(ax: Any, plane: _Plane) -> None:
    ax.set_xlabel(plane.labels[0])
    if plane.d >= 2:
        ax.set_ylabel(plane.labels[1])


def plot_clusters(model: Any, X: Any, *, ax: Any = None, columns: list[str] | None = None,
                  sigmas: tuple[float, ...] = _SIGMAS,
                  colors: Sequence[Any] | None = None) -> Any:
    """Points coloured by their most probable component, with covariance ellipses.

    Parameters
    ----------
    model : GaussianMixture
        Fitted.
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib Axes, default=None
        Drawn into; a new figure when ``None``.
    columns : list of str, default=None
        Feature names for the axis labels.
    sigmas : tuple of float, default=(1, 2)
        Ellipses at these Mahalanobis radii (solid, then dashed). With one
        feature: each component's weighted density and ±sigma bars.
    colors : sequence of matplotlib colours, default=None
        One per component (default: the ``tab10`` cycle).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix import GaussianMixture, load_faithful
    >>> from gaussmix.plot import plot_clusters
    >>> X, cols = load_faithful()
    >>> ax = plot_clusters(GaussianMixture(2, random_state=0).fit(X), X, columns=cols)
    """
    X = _as_2d(X)
    ax = _axes(ax)
    plane = _Plane(X, columns)
    k = model.means_.shape[0]
    labels = model.predict(X)
    Y = plane.points(X)
    colors = list(colors) if colors is not None else _colors(k)
    if len(colors) < k:
        raise ValueError(f"colors: need {k}, got {len(colors)}")
    w, means, covs = plane.gaussians(model)
    if plane.d == 1:
        ax.hist(Y[:, 0], bins="auto", density=True, color="0.85", edgecolor="0.7")
        grid = np.linspace(Y.min() - 0.1 * np.ptp(Y), Y.max() + 0.1 * np.ptp(Y), 400)
        for j in range(k):
            sd = float(np.sqrt(covs[j, 0, 0]))
            z = (grid - means[j, 0]) / sd
            dens = w[j] * np.exp(-0.5 * z**2) / (sd * np.sqrt(2 * np.pi))
            ax.plot(grid, dens, color=colors[j], lw=2, label=f"component {j}")
            top = float(dens.max())
            for i, s in enumerate(sigmas):
                ax.hlines(top * (0.5 - 0.15 * i), means[j, 0] - s * sd, means[j, 0] + s * sd,
                          color=colors[j], linestyles="-" if i == 0 else "--")
        ax.scatter(Y[:, 0], np.zeros(len(Y)), c=[colors[i] for i in labels], marker="|", s=60)
        ax.set_ylabel("density")
    else:
        _scatter_labels(ax, Y, labels, k, colors, alpha=0.7, linewidths=0)
        for j in range(k):
            for i, s in enumerate(sigmas):
                _ellipse(ax, means[j], covs[j], s, colors[j], lw=1.8,
                         linestyle="-" if i == 0 else "--")
            ax.plot(*means[j], marker="x", color="k", ms=8, mew=2)
        ax.autoscale_view()
    _label_axes(ax, plane)
    ax.set_title(f"{model.covariance_model_}, {k} components")
    return ax


def plot_uncertainty(model: Any, X: Any, *, ax: Any = None,
                     columns: list[str] | None = None) -> Any:
    """Points sized and shaded by their classification uncertainty ``1 - max_k τ_ik``.

    Parameters
    ----------
    model : GaussianMixture
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib Axes, default=None
    columns : list of str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix import GaussianMixture, load_faithful
    >>> from gaussmix.plot import plot_uncertainty
    >>> X, _ = load_faithful()
    >>> ax = plot_uncertainty(GaussianMixture(2, random_state=0).fit(X), X)
    """
    X = _as_2d(X)
    ax = _axes(ax)
    plane = _Plane(X, columns)
    u = 1.0 - model.predict_proba(X).max(axis=1)
    Y = plane.points(X)
    k = model.means_.shape[0]
    umax = max(float(u.max()), 1e-12)
    sizes = 6.0 + 120.0 * u / umax
    order = np.argsort(u)  # most uncertain drawn last, on top
    vmax = 1.0 - 1.0 / k if k > 1 else 1.0
    if plane.d == 1:
        sc = ax.scatter(Y[order, 0], u[order], c=u[order], s=sizes[order], cmap="viridis",
                        vmin=0.0, vmax=vmax)
        ax.set_ylabel("uncertainty 1 - max responsibility")
    else:
        sc = ax.scatter(Y[order, 0], Y[order, 1], c=u[order], s=sizes[order], cmap="viridis",
                        vmin=0.0, vmax=vmax, linewidths=0)
    ax.figure.colorbar(sc, ax=ax, label="1 - max responsibility")
    _label_axes(ax, plane)
    share = float(np.mean(u > 0.1))
    ax.set_title(f"uncertainty: {share:.1%} of rows with max responsibility < 0.9")
    return ax


def plot_density(model: Any, X: Any, *, ax: Any = None, columns: list[str] | None = None,
                 levels: int = 12, resolution: int = 120) -> Any:
    """Log-density contours of the mixture over the data (a curve for one feature).

    For ``d > 2`` the contours are of the mixture's marginal density in the
    plane of the data's first two principal axes.

    Parameters
    ----------
    model : GaussianMixture
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib Axes, default=None
    columns : list of str, default=None
    levels : int, default=12
        Number of contour levels.
    resolution : int, default=120
        Grid points per axis.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix import GaussianMixture, load_faithful
    >>> from gaussmix.plot import plot_density
    >>> X, _ = load_faithful()
    >>> ax = plot_density(GaussianMixture(2, random_state=0).fit(X), X)
    """
    X = _as_2d(X)
    ax = _axes(ax)
    plane = _Plane(X, columns)
    Y = plane.points(X)
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    if plane.d == 1:
        grid = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution * 4)
        ax.plot(grid, plane.log_density(model, grid[:, None]), color="C0", lw=2)
        ax.plot(Y[:, 0], np.full(len(Y), ax.get_ylim()[0]), "|", color="0.3", ms=10)
        ax.set_ylabel("log-density")
    else:
        gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
        gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
        XX, YY = np.meshgrid(gx, gy)
        Z = plane.log_density(model, np.column_stack([XX.ravel(), YY.ravel()])).reshape(XX.shape)
        zmax = float(Z.max())
        cs = ax.contour(XX, YY, Z, levels=np.linspace(zmax - 12.0, zmax, levels), cmap="viridis")
        ax.figure.colorbar(cs, ax=ax, label="log-density")
        ax.scatter(Y[:, 0], Y[:, 1], s=4, color="0.4", alpha=0.5, linewidths=0)
    _label_axes(ax, plane)
    ax.set_title(f"log-density, {model.covariance_model_} with {model.means_.shape[0]} components")
    return ax


def plot_selection(selection: Any, *, criterion: str | None = None, ax: Any = None) -> Any:
    """Criterion against the number of components, one line per covariance model.

    Parameters
    ----------
    selection : Selection
        From ``gaussmix.select`` (anything with ``table_`` records of
        ``covariance_type``, ``n_components`` and the criteria, and ``best_``).
    criterion : {"bic", "aic", "icl"}, default=None
        The selection's own criterion when ``None``.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        Lower is better (scikit-learn's sign); the chosen model is starred.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix import load_faithful
    >>> from gaussmix import select
    >>> from gaussmix.plot import plot_selection
    >>> X, _ = load_faithful()
    >>> ax = plot_selection(select(X, range(1, 4), ["VVV", "EII"]))
    """
    ax = _axes(ax)
    crit = (criterion or selection_criterion(selection)).lower()
    by_model: dict[str, list[tuple[int, float]]] = {}
    for rec in selection.table_:
        code = str(record_get(rec, "covariance_type"))
        v = record_get(rec, crit)
        value = float(v) if v is not None and record_get(rec, "error") in (None, "") else np.nan
        by_model.setdefault(code, []).append((int(record_get(rec, "n_components")), value))
    if not by_model:
        raise ValueError("the selection has no records to plot")
    markers = "osD^v<>pP*hXd8"
    for i, (code, pts) in enumerate(by_model.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % len(markers)],
                ms=5, lw=1.5, label=code, color=_cmap("tab20")(i % 20))
    best = getattr(selection, "best_", None)
    if best is not None:
        bk = int(best.means_.shape[0])
        bcode = str(best.covariance_model_)
        match = [v for kk, v in by_model.get(bcode, []) if kk == bk and np.isfinite(v)]
        if match:
            ax.plot([bk], [match[0]], marker="*", color="red", ms=18, mfc="none", mew=2,
                    zorder=5, label=f"chosen: {bcode}, k={bk}")
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{crit.upper()} (lower is better)")
    ks = sorted({kk for pts in by_model.values() for kk, _ in pts})
    ax.set_xticks(ks)
    ax.legend(fontsize="small", ncol=2 if len(by_model) > 7 else 1)
    ax.set_title(f"{crit.upper()} by covariance model")
    return ax


def _matched_colors(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> list[Any]:
    """Colours for partition ``b`` so that its parts share colours with the parts of ``a``
    they overlap most (an optimal one-to-one matching)."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((ka, kb), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    palette = _colors(max(ka, kb))
    out: list[Any] = [None] * kb
    for r, c in zip(rows, cols, strict=True):
        out[c] = palette[r]
    spare = iter(palette[ka:] if kb > ka else [])
    return [c if c is not None else next(spare) for c in out]


def plot_comparison(kmeans: Any, gmm: Any, X: Any, *, ax: Any = None,
                    columns: list[str] | None = None) -> Any:
    """k-means' partition beside the GMM's, in the same plane.

    Parameters
    ----------
    kmeans : KMeans
        Fitted.
    gmm : GaussianMixture
        Fitted.
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib Axes or pair of Axes, default=None
        A pair is drawn into; a single Axes is split into two insets; ``None``
        makes a new figure with two panels.
    columns : list of str, default=None

    Returns
    -------
    ax : what was passed (or the new pair of Axes)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix import GaussianMixture, KMeans, load_faithful
    >>> from gaussmix.plot import plot_comparison
    >>> X, _ = load_faithful()
    >>> km = KMeans(2, random_state=0).fit(X)
    >>> axes = plot_comparison(km, GaussianMixture(2, random_state=0).fit(X), X)
    """
    X = _as_2d(X)
    if ax is None:
        _, pair = _plt().subplots(1, 2, figsize=(11, 4.5))
        result = pair
    elif np.ndim(ax) == 0:
        pair = [ax.inset_axes([0.0, 0.0, 0.46, 1.0]), ax.inset_axes([0.54, 0.0, 0.46, 1.0])]
        ax.set_axis_off()
        result = ax
    else:
        pair = list(ax)
        if len(pair) != 2:
            raise ValueError("ax must be one Axes or a pair of Axes")
        result = ax
    plane = _Plane(X, columns)
    Y = plane.points(X)
    k = kmeans.cluster_centers_.shape[0]
    labels = kmeans.predict(X)
    g_labels = gmm.predict(X)
    g_colors = _matched_colors(labels, g_labels, k, gmm.means_.shape[0])
    _scatter_labels(pair[0], Y, labels, k, alpha=0.7, linewidths=0)
    C = plane.points(kmeans.cluster_centers_)
    if plane.d == 1:
        pair[0].plot(C[:, 0], np.zeros(k), "kx", ms=10, mew=2)
    else:
        pair[0].plot(C[:, 0], C[:, 1], "kx", ms=10, mew=2)
    _label_axes(pair[0], plane)
    pair[0].set_title(f"k-means, {k} clusters")
    if plane.d == 1:
        _scatter_labels(pair[1], Y, g_labels, gmm.means_.shape[0], g_colors, alpha=0.7,
                        linewidths=0)
        _label_axes(pair[1], plane)
        pair[1].set_title(f"GMM {gmm.covariance_model_}, {gmm.means_.shape[0]} components")
    else:
        plot_clusters(gmm, X, ax=pair[1], columns=columns, colors=g_colors)
        pair[1].set_title("GMM " + pair[1].get_title())
    return result


__all__ = ["plot_clusters", "plot_comparison", "plot_density", "plot_selection",
           "plot_uncertainty"]
