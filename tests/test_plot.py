"""Plots render on 1-, 2- and 5-D data with Agg, draw something, and project correctly."""

from __future__ import annotations

import io

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from gaussmix import (  # noqa: E402
    GaussianMixture,
    KMeans,
    select,  # noqa: E402
)
from gaussmix.plot import (  # noqa: E402
    _Plane,
    plot_clusters,
    plot_comparison,
    plot_density,
    plot_selection,
    plot_uncertainty,
)


def _data(d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(80, d))
    b = rng.normal(size=(50, d)) * 0.5 + 3.0
    return np.vstack([a, b])


@pytest.fixture(scope="module", params=[1, 2, 5], ids=["1d", "2d", "5d"])
def fitted(request: pytest.FixtureRequest) -> tuple[np.ndarray, GaussianMixture, KMeans]:
    X = _data(request.param)
    gm = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    km = KMeans(2, random_state=0, n_init=3).fit(X)
    return X, gm, km


def _pixels(fig: Figure) -> np.ndarray:
    import matplotlib.image as mpimg

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    buf.seek(0)
    return mpimg.imread(buf)


def _assert_nontrivial(fig: Figure) -> None:
    img = _pixels(fig)[..., :3]
    colours = np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20, len(colours)  # not a blank or single-colour canvas
    assert img.std() > 0.05
    # Something besides white background covers a visible share of the canvas.
    assert np.mean(img.min(axis=2) < 0.9) > 0.02


@pytest.mark.parametrize("func", [plot_clusters, plot_uncertainty, plot_density])
def test_model_plots_render(fitted: tuple, func) -> None:
    X, gm, _ = fitted
    fig = Figure()
    ax = fig.add_subplot()
    assert func(gm, X, ax=ax) is ax
    _assert_nontrivial(fig)


def test_plots_without_ax_make_a_figure(fitted: tuple) -> None:
    X, gm, km = fitted
    ax = plot_clusters(gm, X)
    assert ax.figure is not None
    pair = plot_comparison(km, gm, X)
    assert len(pair) == 2
    import matplotlib.pyplot as plt

    plt.close("all")


def test_comparison_renders(fitted: tuple) -> None:
    X, gm, km = fitted
    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, 2)
    assert plot_comparison(km, gm, X, ax=axes) is axes
    _assert_nontrivial(fig)
    fig1 = Figure()
    one = fig1.add_subplot()
    assert plot_comparison(km, gm, X, ax=one) is one
    _assert_nontrivial(fig1)


def test_selection_plot_marks_the_best(fitted: tuple) -> None:
    X, _, _ = fitted
    sel = select(X, range(1, 4), ["VVV", "EII", "VVI"], random_state=0)
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_selection(sel, ax=ax) is ax
    _assert_nontrivial(fig)
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"VVV", "EII", "VVI"} <= set(labels)
    best = sel.best_
    star = [ln for ln in ax.get_lines() if ln.get_label().startswith("chosen")]
    assert len(star) == 1
    assert star[0].get_xdata()[0] == best.n_components
    bic = min(r["bic"] for r in sel.table_ if r["error"] is None)
    assert star[0].get_ydata()[0] == pytest.approx(bic)
    # One line per model with one point per k, and the y values are the BICs.
    vvv = next(ln for ln in ax.get_lines() if ln.get_label() == "VVV")
    want = [r["bic"] for r in sel.table_ if r["covariance_type"] == "VVV"]
    np.testing.assert_allclose(vvv.get_ydata(), want)


def test_selection_plot_other_criterion_and_failed_cells() -> None:
    X = _data(2)
    sel = select(X, [1, 2], ["VVV"], criterion="icl", random_state=0)
    sel.table_.append({"covariance_type": "EEE", "n_components": 1, "bic": None,
                       "aic": None, "icl": None, "error": "boom"})
    fig = Figure()
    ax = plot_selection(sel, ax=fig.add_subplot())
    assert ax.get_ylabel().startswith("ICL")


def test_projection_is_exact() -> None:
    """Projected Gaussians are Pᵀ(μ - c), PᵀΣP, and the 2-D density is the model's own."""
    X = _data(5)
    gm = GaussianMixture(2, random_state=0).fit(X)
    plane = _Plane(X)
    _, means, covs = plane.gaussians(gm)
    P = plane.P
    np.testing.assert_allclose(P.T @ P, np.eye(2), atol=1e-12)
    for j in range(2):
        np.testing.assert_allclose(means[j], (gm.means_[j] - X.mean(axis=0)) @ P)
        np.testing.assert_allclose(covs[j], P.T @ gm.covariances_[j] @ P, rtol=1e-12)
    # Principal axes: the projected data's covariance is diagonal with the top eigenvalues.
    C = np.cov(plane.points(X), rowvar=False)
    np.testing.assert_allclose(C[0, 1], 0.0, atol=1e-10)
    assert C[0, 0] >= C[1, 1] >= np.linalg.eigvalsh(np.cov(X, rowvar=False))[-3] - 1e-12

    X2 = _data(2)
    gm2 = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X2)
    p2 = _Plane(X2)
    np.testing.assert_allclose(p2.log_density(gm2, X2), gm2.score_samples(X2), rtol=1e-10)


def test_bad_input() -> None:
    gm = GaussianMixture(2, random_state=0).fit(_data(2))
    with pytest.raises(ValueError, match="n_samples"):
        plot_clusters(gm, np.empty((0, 2)))
    with pytest.raises(ValueError, match="pair"):
        km = KMeans(2, random_state=0).fit(_data(2))
        plot_comparison(km, gm, _data(2), ax=[1, 2, 3])


def test_comparison_colours_follow_the_matching() -> None:
    """A GMM component is drawn in the colour of the k-means cluster it overlaps most."""
    from gaussmix import compare, make_elongated

    X, _ = make_elongated(n_samples=300, random_state=0)
    c = compare(X, 3, covariance_types="VVV", n_init=1)
    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, 2)
    plot_comparison(c.kmeans, c.gmm, X, ax=axes)
    left = axes[0].collections[0].get_facecolors()[:, :3]
    right = axes[1].collections[0].get_facecolors()[:, :3]
    same = c.labels_kmeans == c.labels_gmm  # compare() renumbers GMM labels the same way
    assert same.mean() > 0.5 and (~same).any()
    np.testing.assert_array_equal(left[same], right[same])
    assert np.any(left[~same] != right[~same], axis=1).all()
