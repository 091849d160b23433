"""The 14 parsimonious covariance models: M-steps, parameter counts, densities, EM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture
from gaussmix.covariance import ALIASES, MODELS, SingularCovarianceError, get_model

CODES = ["EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
         "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"]


def test_registry_has_the_14_models_in_mclust_order() -> None:
    assert list(MODELS) == CODES
    assert ALIASES == {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
    for code in CODES:
        assert get_model(code.lower()).code == code


# mclust's nVarParams table (covariance parameters only), written out independently.
def _mclust_n_var(code: str, d: int, G: int) -> int:
    r, s = d * (d - 1) // 2, d * (d + 1) // 2
    return {
        "EII": 1, "VII": G, "EEI": d, "VEI": G + (d - 1), "EVI": 1 + G * (d - 1),
        "VVI": G * d, "EEE": s, "EVE": 1 + G * (d - 1) + r, "VEE": G + (d - 1) + r,
        "VVE": G + G * (d - 1) + r, "EEV": 1 + (d - 1) + G * r, "VEV": G + (d - 1) + G * r,
        "EVV": 1 - G + G * s, "VVV": G * s,
    }[code]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_parameter_counts_match_mclust(code: str, d: int) -> None:
    for G in range(1, 10):
        assert get_model(code).n_cov_parameters(G, d) == _mclust_n_var(code, d, G)


def test_published_iris_count() -> None:
    # mclust's iris best: VEV, G = 2, d = 4 has 26 free parameters in all.
    X = np.random.default_rng(0).normal(size=(40, 4))
    gm = GaussianMixture(2, covariance_type="VEV", random_state=0).fit(X)
    assert gm._n_parameters() == 26


# ---------------------------------------------------------------- M-step
def _rotation(angles: np.ndarray, d: int) -> np.ndarray:
    """Product of Givens rotations, one per pair of axes: covers SO(d)."""
    D = np.eye(d)
    for t, (i, j) in zip(angles, zip(*np.triu_indices(d, 1), strict=True), strict=False):
        G = np.eye(d)
        G[i, i] = G[j, j] = np.cos(t)
        G[i, j], G[j, i] = -np.sin(t), np.sin(t)
        D = D @ G
    return D


class _Param:
    """Free parameters of Σ_k = λ_k D_k A_k D_kᵀ for a model code, built independently."""

    def __init__(self, code: str, k: int, d: int) -> None:
        self.vol, self.shape, self.orient = code
        self.k, self.d = k, d
        r = d * (d - 1) // 2
        self.sizes = [
            1 if self.vol == "E" else k,
            0 if self.shape == "I" else (d - 1) * (1 if self.shape == "E" else k),
            0 if self.orient == "I" else r * (1 if self.orient == "E" else k),
        ]

    @property
    def n(self) -> int:
        return sum(self.sizes)

    def covs(self, theta: np.ndarray) -> np.ndarray:
        k, d = self.k, self.d
        a, b, _ = np.cumsum(self.sizes)
        lam = np.exp(np.broadcast_to(theta[:a], (k,)))
        if self.shape == "I":
            A = np.ones((k, d))
        else:
            t = theta[a:b].reshape(-1, d - 1)
            t = np.hstack([t, -t.sum(axis=1, keepdims=True)])  # det 1
            A = np.exp(np.broadcast_to(t, (k, d)))
        if self.orient == "I":
            D = np.broadcast_to(np.eye(d), (k, d, d))
        else:
            r = d * (d - 1) // 2
            t = theta[b:].reshape(-1, r)
            D = np.stack([_rotation(v, d) for v in np.broadcast_to(t, (k, r))])
        return np.stack([lam[j] * (D[j] * A[j]) @ D[j].T for j in range(k)])


def _q(covs: np.ndarray, nk: np.ndarray, W: np.ndarray) -> float:
    """Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹) (minus twice the expected complete log-lik)."""
    out = 0.0
    for S, n, Wk in zip(covs, nk, W, strict=True):
        sign, logdet = np.linalg.slogdet(S)
        if not (sign > 0 and np.all(np.isfinite(S))):
            return np.inf  # the optimiser strayed to a degenerate point
        out += n * logdet + np.trace(np.linalg.solve(S, Wk))
    return float(out)


def _tiny_problem(k: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nk = rng.uniform(4, 12, size=k)
    W = []
    for j in range(k):
        B = rng.normal(size=(d, d)) * rng.uniform(0.3, 2.0, size=d)
        Y = rng.normal(size=(int(nk[j]) + d + 3, d)) @ B
        W.append(Y.T @ Y * nk[j] / Y.shape[0])
    return nk, np.stack(W)


def _model_mstep(code: str, nk: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The registry model's covariances as (k, d, d) from full scatters."""
    model = get_model(code)
    k, d = W.shape[0], W.shape[1]
    kind = model.stats_kind
    if kind == "full":
        stat = W
    elif kind == "diag":
        stat = np.einsum("kii->ki", W)
    elif kind == "pooled":
        stat = W.sum(axis=0)
    else:
        stat = np.einsum("kii->i", W)
    return model.layout.full(model.mstep(nk, stat, d), k, d)


def _feasible(code: str, covs: np.ndarray) -> None:
    """The covariances satisfy the model's volume / shape / orientation constraints."""
    k, d = covs.shape[:2]
    vol, shape, orient = code
    eig = np.linalg.eigvalsh(covs)[:, ::-1]
    lam = np.exp(np.log(eig).mean(axis=1))
    if vol == "E":
        np.testing.assert_allclose(lam, np.full(k, lam[0]), rtol=1e-8)
    if shape == "I":
        np.testing.assert_allclose(eig, np.repeat(eig[:, :1], d, 1), rtol=1e-8)
    if orient == "I":
        np.testing.assert_allclose(covs, covs * np.eye(d), atol=1e-12)
    if orient == "E" and shape != "I":
        for j in range(1, k):  # a common eigenbasis: the matrices commute
            np.testing.assert_allclose(covs[0] @ covs[j], covs[j] @ covs[0], atol=1e-8)
    if shape == "E" and orient != "I":
        np.testing.assert_allclose(eig / lam[:, None], np.repeat(eig[:1] / lam[0], k, 0), rtol=1e-6)
    if shape == "E" and orient == "I":
        diag = np.einsum("kii->ki", covs)
        expected = np.repeat(diag[:1] / lam[0], k, 0)
        np.testing.assert_allclose(diag / lam[:, None], expected, rtol=1e-6)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize(("k", "d", "seed"), [(2, 2, 0), (3, 2, 1), (2, 3, 2)])
def test_mstep_maximises_over_the_model(code: str, k: int, d: int, seed: int) -> None:
    nk, W = _tiny_problem(k, d, seed)
    covs = _model_mstep(code, nk, W)
    _feasible(code, covs)
    ours = _q(covs, nk, W)

    par = _Param(code, k, d)
    assert par.n == get_model(code).n_cov_parameters(k, d)
    rng = np.random.default_rng(seed)
    best = np.inf
    for _ in range(6 if code in ("EVE", "VVE") else 3):  # common orientation: multimodal
        theta0 = rng.normal(scale=1.0, size=par.n)
        res = optimize.minimize(lambda t: _q(par.covs(t), nk, W), theta0, method="BFGS",
                                options={"gtol": 1e-9, "maxiter": 5000})
        best = min(best, res.fun)
    # The M-step is feasible and no parametrised optimum beats it; and the
    # optimiser reaches it (so the M-step is the maximum, not just feasible).
    assert ours <= best + 1e-6 * abs(best)
    assert best <= ours + 1e-4 * abs(ours)


@pytest.mark.parametrize("code", ["EEI", "EVI", "EEV", "EVV", "VEI", "VEE", "VEV"])
def test_closed_forms_by_hand(code: str) -> None:
    nk, W = _tiny_problem(2, 3, 7)
    covs = _model_mstep(code, nk, W)
    n = nk.sum()
    if code == "EEI":
        expected = np.stack([np.diag(np.einsum("kii->i", W) / n)] * 2)
    elif code == "EVI":
        diag = np.einsum("kii->ki", W)
        g = np.prod(diag, axis=1) ** (1 / 3)
        expected = np.stack([np.diag(g.sum() / n * diag[j] / g[j]) for j in range(2)])
    elif code == "EEV":
        w, V = np.linalg.eigh(W)
        pooled = (w.sum(axis=0)) / n
        expected = np.stack([(V[j] * pooled) @ V[j].T for j in range(2)])
    elif code == "EVV":
        g = np.linalg.det(W) ** (1 / 3)
        expected = np.stack([g.sum() / n * W[j] / g[j] for j in range(2)])
    else:
        # Iterative ones at their fixed point: λ_k = tr(W_k C⁻¹) / (d n_k).
        C = covs[0] / np.linalg.det(covs[0]) ** (1 / 3)
        lam = np.array([np.trace(np.linalg.solve(C if code != "VEV" else
                        covs[j] / np.linalg.det(covs[j]) ** (1 / 3), W[j])) for j in range(2)])
        lam /= 3 * nk
        np.testing.assert_allclose(np.linalg.det(covs) ** (1 / 3), lam, rtol=1e-6)
        return
    np.testing.assert_allclose(covs, expected, rtol=1e-10)


@pytest.mark.parametrize("code", CODES)
def test_collapsed_component_gives_finite_covariances(code: str) -> None:
    # One component empty (zero scatter), another on a line (rank-1 scatter):
    # the M-step is undefined there, and falls back to its ridge limit rather
    # than raising or returning NaN; reg_covar then makes it usable.
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(20, 3))
    line = np.outer(rng.normal(size=6), [1.0, 2.0, 0.5])
    nk = np.array([20.0, 1e-14, 6.0])
    W = np.stack([Y.T @ Y, np.zeros((3, 3)), line.T @ line])
    covs = _model_mstep(code, nk, W)
    assert np.all(np.isfinite(covs))
    assert np.all(np.linalg.eigvalsh(covs + 1e-6 * np.eye(3)) > 0)


def test_no_spread_at_all_raises() -> None:
    nk = np.array([3.0, 2.0])
    with pytest.raises(SingularCovarianceError, match="no spread"):
        _model_mstep("VEV", nk, np.zeros((2, 3, 3)))


# ------------------------------------------------------------- densities, EM
def _mixture_data(n: int = 240, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = []
    for j, m in enumerate([n // 2, n // 3, n - n // 2 - n // 3]):
        A = rng.normal(size=(d, d)) * (0.4 + 0.3 * j)
        parts.append(rng.normal(size=(m, d)) @ A + rng.normal(scale=3.0, size=d))
    return np.vstack(parts)


@pytest.mark.parametrize("code", CODES)
def test_log_density_matches_scipy(code: str) -> None:
    X = _mixture_data()
    gm = GaussianMixture(3, covariance_type=code, random_state=0, max_iter=20).fit(X)
    k, d = gm.means_.shape
    full = get_model(code).layout.full(gm.covariances_, k, d)
    dens = sum(gm.weights_[j] * multivariate_normal(gm.means_[j], full[j]).pdf(X)
               for j in range(k))
    np.testing.assert_allclose(gm.score_samples(X), np.log(dens), rtol=1e-10, atol=1e-10)
    Xs, ys = gm.sample(4000)
    assert Xs.shape == (4000, d) and np.bincount(ys, minlength=k).sum() == 4000


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 5, 31, 32, 47, 64, 70])
def test_full_mahalanobis_in_triangle_blocks_matches_naive(d: int, dtype: type) -> None:
    # From d = 32 the lower-triangular factors are multiplied in row blocks.
    from gaussmix.covariance._layouts import _triangle_blocks

    blocks = _triangle_blocks(d)
    assert blocks[0][0] == 0 and blocks[-1][1] == d
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
    rng = np.random.default_rng(d)
    k, n = 3, 50
    U = np.triu(rng.normal(size=(k, d, d))) + 3.0 * np.eye(d)
    mu = rng.normal(size=(k, d))
    X = rng.normal(size=(n, d))
    ref = np.stack([(((X - mu[j]) @ U[j]) ** 2).sum(1) for j in range(k)])
    got = get_model("full").layout.mahalanobis_kn(
        X.astype(dtype), mu.astype(dtype), U.astype(dtype))
    assert got.dtype == dtype and got.shape == (k, n)
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 2e-4)


@pytest.mark.parametrize("code", CODES)
def test_em_never_decreases_log_likelihood(code: str) -> None:
    X = _mixture_data(seed=3)
    # Plain EM (no collapse repair, whose reseeds legitimately lower the objective).
    gm = GaussianMixture(4, covariance_type=code, init_params="random", random_state=1,
                         max_iter=60, tol=0.0, reg_covar=1e-8, on_collapse="off")
    gm.fit(X)
    hist = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(hist) >= -1e-10 * np.abs(hist[1:]))


@pytest.mark.parametrize("code", CODES)
def test_integer_weights_equal_repeated_rows(code: str) -> None:
    X = _mixture_data(n=90, d=2, seed=5)
    rng = np.random.default_rng(0)
    reps = rng.integers(1, 4, size=X.shape[0])
    labels = np.arange(X.shape[0]) % 3
    kw = {"covariance_type": code, "max_iter": 15, "tol": 0.0, "reg_covar": 1e-9}
    a = GaussianMixture(3, resp_init=labels, **kw).fit(X, sample_weight=reps)
    b = GaussianMixture(3, resp_init=np.repeat(labels, reps), **kw).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6, atol=1e-9)


def test_one_dimensional_data_reduces_to_equal_or_variable_variance() -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, 150), rng.normal(5, 2, 100)])[:, None]
    labels = (X[:, 0] > 2.5).astype(int)
    fits = {}
    for code in CODES:
        gm = GaussianMixture(2, covariance_type=code, resp_init=labels, max_iter=30, tol=0.0)
        fits[code] = gm.fit(X)
        assert gm._n_parameters() == (4 if code[0] == "E" else 5)
    ref_e = fits["EII"].score(X)
    ref_v = fits["VVV"].score(X)
    for code, gm in fits.items():
        np.testing.assert_allclose(gm.score(X), ref_e if code[0] == "E" else ref_v, rtol=1e-9)


@settings(max_examples=15, deadline=None)
@given(code=st.sampled_from(CODES), seed=st.integers(0, 10_000),
       scale=st.floats(1e-3, 1e3))
def test_mstep_is_scale_and_permutation_equivariant(code: str, seed: int, scale: float) -> None:
    # Scaling the data by c scales every covariance by c²; relabelling the
    # components permutes them. Both hold for every model's M-step.
    nk, W = _tiny_problem(3, 3, seed)
    covs = _model_mstep(code, nk, W)
    np.testing.assert_allclose(_model_mstep(code, nk, W * scale**2), covs * scale**2,
                               rtol=1e-6, atol=1e-9 * scale**2 * np.abs(covs).max())
    perm = np.array([2, 0, 1])
    np.testing.assert_allclose(_model_mstep(code, nk[perm], W[perm]), covs[perm],
                               rtol=1e-6, atol=1e-9 * np.abs(covs).max())
