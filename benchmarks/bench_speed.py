"""gaussmix vs scikit-learn, side by side in one process.

For each workload, dtype and covariance type, both libraries run EM from the
same starting parameters (one scikit-learn EM step from its own k-means start)
for a fixed number of iterations (tol=0), and the script prints seconds per
iteration, their ratio, the arithmetic floor, the final mean log-likelihood of
each and their relative difference. KMeans (Lloyd) is compared the same way
from the same initial centres. Peak memory of a fit is measured with
tracemalloc (NumPy reports its allocations to it) in a separate run.

With ``--others``, gmmx (JAX; float32, full and diag covariances) and
pomegranate 1.x (PyTorch; float32 and float64, full, diag and spherical) also
run from the same start, where installed (``pip install gmmx pomegranate``),
on W1 and W2 (the workloads of the issue's figures for them; on W3 full,
gmmx's 5 iterations had not finished after 10 minutes).

Usage::

    python benchmarks/bench_speed.py                 # all workloads (slow on 2 cores)
    python benchmarks/bench_speed.py --workloads W1 W2 --types full --iters 5
    python benchmarks/bench_speed.py --quick         # n / 10, for a smoke run
    python benchmarks/bench_speed.py --write         # also append to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import tracemalloc
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGMM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import WORKLOADS, make_workload  # noqa: E402

from gaussmix import GaussianMixture, KMeans, warmup  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# Dense flops per EM iteration (E-step Mahalanobis + M-step second moments).
FLOPS = {
    "full": lambda n, d, k: 4.0 * n * k * d * d,
    "tied": lambda n, d, k: 4.0 * n * d * d,
    "diag": lambda n, d, k: 8.0 * n * k * d,
    "spherical": lambda n, d, k: 6.0 * n * k * d,
}


def gemm_rate(dtype: type) -> float:
    """Measured GEMM flop rate (flop/s) on a (4096, 256) x (256, 256) product."""
    a = np.random.default_rng(0).normal(size=(4096, 256)).astype(dtype)
    b = np.random.default_rng(1).normal(size=(256, 256)).astype(dtype)
    a @ b
    best = np.inf
    for _ in range(20):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * 4096 * 256 * 256 / best


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_mib(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def sklearn_start(X, k, ct):
    """The common start: one scikit-learn EM step from its own k-means start."""
    return SkGMM(k, covariance_type=ct, max_iter=1, random_state=0).fit(X)


def bench_gmm(X, k, ct, iters, repeats, rates, memory, start):
    d = X.shape[1]
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_, tol=0.0, max_iter=iters)
    t_sk, sk = best_time(lambda: SkGMM(k, covariance_type=ct, **init).fit(X), repeats)
    t_gm, gm = best_time(lambda: GaussianMixture(k, covariance_type=ct, **init).fit(X), repeats)
    floor = FLOPS[ct](X.shape[0], d, k) / rates[X.dtype.type]
    row = {
        "sk_s_iter": t_sk / iters, "gm_s_iter": t_gm / iters,
        "speedup": t_sk / t_gm, "floor_s": floor,
        "gm_x_floor": t_gm / iters / floor,
        "sk_ll": sk.score(X), "gm_ll": gm.score(X),
    }
    row["rel_ll"] = abs(row["gm_ll"] - row["sk_ll"]) / abs(row["sk_ll"])
    if memory:
        data_mib = X.nbytes / 2**20
        row["sk_peak_mib"] = peak_mib(lambda: SkGMM(k, covariance_type=ct, **init).fit(X))
        row["gm_peak_mib"] = peak_mib(
            lambda: GaussianMixture(k, covariance_type=ct, **init).fit(X))
        row["data_mib"] = data_mib
    return row


OTHER_WORKLOADS = ("W1", "W2")  # the workloads of the figures for them


def bench_gmmx(X, k, ct, iters, repeats, start):
    """gmmx's EM from ``start`` for exactly ``iters`` iterations; None without gmmx."""
    try:
        import jax
        from gmmx import EMFitter, GaussianMixtureModelJax
    except ImportError:
        return None
    f32 = np.float32
    g0 = GaussianMixtureModelJax.from_squeezed(
        means=start.means_.astype(f32), covariances=start.covariances_.astype(f32),
        weights=start.weights_.astype(f32), covariance_type=ct)
    fitter = EMFitter(max_iter=iters, tol=-1.0, reg_covar=1e-6)  # tol < 0: never converges
    xj = jax.numpy.asarray(X)

    def run():  # JAX returns before it computes: wait for the result
        return jax.block_until_ready(fitter.fit(xj, g0))

    run()  # the first call compiles
    t, res = best_time(run, repeats)
    return {"s_iter": t / int(res.n_iter), "ll": float(res.gmm.to_sklearn().score(X))}


POMEGRANATE_TYPES = {"full": "full", "diag": "diag", "spherical": "sphere"}  # no tied


def bench_pomegranate(X, k, ct, iters, repeats, start):
    """pomegranate's EM from ``start`` for exactly ``iters`` iterations; None without it.

    Its fit alternates a summarise (E-step) and an M-step ``max_iter`` times
    when ``tol`` is -inf. It adds nothing to the covariances (scikit-learn and
    gaussmix add ``reg_covar`` = 1e-6), so its log-likelihood differs slightly.
    """
    try:
        import torch
        from pomegranate.distributions import Normal
        from pomegranate.gmm import GeneralMixtureModel
    except ImportError:
        return None
    tdt = torch.float32 if X.dtype == np.float32 else torch.float64
    covs = start.covariances_
    if ct == "spherical":  # one variance per component, given per feature
        covs = np.repeat(covs[:, None], X.shape[1], axis=1)

    def build():  # a fit changes its model in place: a new one per run
        dists = [Normal(means=torch.tensor(start.means_[j], dtype=tdt),
                        covs=torch.tensor(covs[j], dtype=tdt),
                        covariance_type=POMEGRANATE_TYPES[ct]) for j in range(k)]
        return GeneralMixtureModel(dists, priors=torch.tensor(start.weights_, dtype=tdt),
                                   max_iter=iters, tol=-float("inf"))

    xt = torch.from_numpy(X)
    build().fit(xt)  # first call: torch's own warm-up
    t, model = best_time(lambda: build().fit(xt), repeats)
    return {"s_iter": t / iters, "ll": float(model.log_probability(xt).mean())}


def other_row(cells: str, g: dict | None, r: dict, vs_sklearn: bool) -> str:
    """A table row for another library's run ``g`` (None: not installed) beside ours ``r``."""
    if g is None:
        return f"| {cells} | not installed | | | | |" + (" |" if vs_sklearn else "")
    rel = abs(g["ll"] - r["sk_ll"]) / abs(r["sk_ll"])
    return (f"| {cells} | {g['s_iter']:.4f} | {r['gm_s_iter']:.4f} | "
            f"{g['s_iter'] / r['gm_s_iter']:.2f}x | "
            + (f"{r['sk_s_iter'] / g['s_iter']:.2f}x | " if vs_sklearn else "")
            + f"{g['ll']:.8f} | {rel:.1e} |")


def bench_default_fit(X, k, ct, repeats):
    t_sk, sk = best_time(lambda: SkGMM(k, covariance_type=ct, random_state=0).fit(X), repeats)
    t_gm, gm = best_time(
        lambda: GaussianMixture(k, covariance_type=ct, random_state=0).fit(X), repeats)
    return {"sk_total_s": t_sk, "gm_total_s": t_gm, "total_speedup": t_sk / t_gm,
            "sk_default_ll": sk.score(X), "gm_default_ll": gm.score(X)}


def bench_kmeans(X, k, iters, repeats):
    c0 = X[np.random.default_rng(0).choice(X.shape[0], k, replace=False)]
    t_sk, sk = best_time(lambda: SkKMeans(k, init=c0, n_init=1, max_iter=iters, tol=0.0,
                                          algorithm="lloyd").fit(X), repeats)
    t_gm, gm = best_time(lambda: KMeans(k, init=c0, max_iter=iters, tol=0.0).fit(X), repeats)
    # k-means++ seeding then Lloyd to convergence, one start each (the same random stream)
    t_skd, skd = best_time(lambda: SkKMeans(k, n_init=1, random_state=0).fit(X), repeats)
    t_gmd, gmd = best_time(lambda: KMeans(k, n_init=1, random_state=0).fit(X), repeats)
    return {"sk_s_iter": t_sk / sk.n_iter_, "gm_s_iter": t_gm / gm.n_iter_,
            "speedup": (t_sk / sk.n_iter_) / (t_gm / gm.n_iter_),
            "sk_inertia": sk.inertia_, "gm_inertia": gm.inertia_,
            "rel_inertia": abs(sk.inertia_ - gm.inertia_) / sk.inertia_,
            "sk_fit_s": t_skd, "gm_fit_s": t_gmd, "fit_speedup": t_skd / t_gmd,
            "fit_rel_inertia": abs(skd.inertia_ - gmd.inertia_) / skd.inertia_}


def bench_predict(n: int, d: int, k: int, repeats: int) -> dict:
    """predict_proba and score_samples of the same fitted full mixture."""
    X = make_workload(n, d, k)
    fit_rows = X[: min(n, 100_000)]
    sk = SkGMM(k, covariance_type="full", random_state=0, max_iter=20).fit(fit_rows)
    gm = GaussianMixture(k, covariance_type="full", weights_init=sk.weights_,
                         means_init=sk.means_, precisions_init=sk.precisions_, max_iter=0)
    gm.fit(fit_rows)  # max_iter=0: the given parameters, validated
    gm.weights_, gm.means_, gm.covariances_ = sk.weights_, sk.means_, sk.covariances_
    gm.precisions_cholesky_, gm.precisions_ = sk.precisions_cholesky_, sk.precisions_
    out = {}
    for name in ("predict_proba", "score_samples"):
        t_sk, a = best_time(partial(getattr(sk, name), X), repeats)
        t_gm, b = best_time(partial(getattr(gm, name), X), repeats)
        out[name] = (t_sk, t_gm, float(np.max(np.abs(a - b))))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    ap.add_argument("--types", nargs="*", default=["full", "tied", "diag", "spherical"])
    ap.add_argument("--dtypes", nargs="*", default=["float64", "float32"])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="n / 10")
    ap.add_argument("--memory", action="store_true", help="also measure peak memory")
    ap.add_argument("--default-fit", action="store_true", help="also time default fits")
    ap.add_argument("--predict", action="store_true",
                    help="also time predict_proba / score_samples on 1,000,000 x 16, k=10")
    ap.add_argument("--others", action="store_true",
                    help="also run gmmx (float32, full/diag) where installed")
    ap.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    # Compile (or load from numba's disk cache) every kernel first: a one-off
    # cost per machine, not part of any fit measured here.
    compile_s = warmup()

    rates = {np.float64: gemm_rate(np.float64), np.float32: gemm_rate(np.float32)}
    lines = [
        f"### {dt.date.today().isoformat()} — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}",
        "",
        f"GEMM rate: {rates[np.float64] / 1e9:.1f} GFLOP/s float64, "
        f"{rates[np.float32] / 1e9:.1f} GFLOP/s float32. EM from identical starts, "
        f"{args.iters} iterations, best of {args.repeats}. Kernels compiled before timing "
        f"(warmup: {compile_s['float64']:.2f} s float64, {compile_s['float32']:.2f} s float32).",
        "",
        "| workload | dtype | type | sklearn s/iter | gaussmix s/iter | speedup | floor s "
        "| gaussmix / floor | sklearn mean logL | gaussmix mean logL | rel diff |"
        + (" sklearn peak MiB | gaussmix peak MiB | data MiB |" if args.memory else "")
        + (" sklearn fit s | gaussmix fit s | fit speedup | fit logL rel diff |"
           if args.default_fit else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|"
        + ("---|---|---|" if args.memory else "")
        + ("---|---|---|---|" if args.default_fit else ""),
    ]
    print("\n".join(lines), flush=True)
    km_lines = ["", "| workload | dtype | sklearn Lloyd s/iter | gaussmix s/iter | speedup "
                "| sklearn inertia | gaussmix inertia | rel diff "
                "| sklearn fit s (k-means++ + Lloyd) | gaussmix fit s | fit speedup "
                "| fit inertia rel diff |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    other_lines = ["", "| workload | type (float32) | gmmx s/iter | gaussmix s/iter "
                   "| gaussmix vs gmmx | gmmx mean logL | rel diff to sklearn |",
                   "|---|---|---|---|---|---|---|"]
    pom_lines = ["", "| workload | dtype | type | pomegranate s/iter | gaussmix s/iter "
                 "| gaussmix vs pomegranate | pomegranate vs sklearn | pomegranate mean logL "
                 "| rel diff to sklearn |",
                 "|---|---|---|---|---|---|---|---|---|"]
    for name in args.workloads:
        n, d, k = WORKLOADS[name]
        if args.quick:
            n //= 10
        X64 = make_workload(n, d, k)
        for dname in args.dtypes:
            X = X64.astype(dname)
            for ct in args.types:
                start = sklearn_start(X, k, ct)
                r = bench_gmm(X, k, ct, args.iters, args.repeats, rates, args.memory, start)
                line = (f"| {name} {n}x{d} k={k} | {dname} | {ct} | {r['sk_s_iter']:.4f} | "
                        f"{r['gm_s_iter']:.4f} | {r['speedup']:.2f}x | {r['floor_s']:.4f} | "
                        f"{r['gm_x_floor']:.1f} | {r['sk_ll']:.8f} | {r['gm_ll']:.8f} | "
                        f"{r['rel_ll']:.1e} |")
                if args.memory:
                    line += (f" {r['sk_peak_mib']:.0f} | {r['gm_peak_mib']:.0f} | "
                             f"{r['data_mib']:.0f} |")
                if args.default_fit:
                    f = bench_default_fit(X, k, ct, args.repeats)
                    rel = abs(f["gm_default_ll"] - f["sk_default_ll"]) / abs(f["sk_default_ll"])
                    line += (f" {f['sk_total_s']:.3f} | {f['gm_total_s']:.3f} | "
                             f"{f['total_speedup']:.2f}x | {rel:.1e} |")
                print(line, flush=True)
                lines.append(line)
                label = f"{name} {n}x{d} k={k}"
                if args.others and ct in POMEGRANATE_TYPES and name in OTHER_WORKLOADS:
                    g = bench_pomegranate(X, k, ct, args.iters, args.repeats, start)
                    pom_lines.append(other_row(f"{label} | {dname} | {ct}", g, r, True))
                    print(pom_lines[-1], flush=True)
                if (args.others and dname == "float32" and ct in ("full", "diag")
                        and name in OTHER_WORKLOADS):
                    g = bench_gmmx(X, k, ct, args.iters, args.repeats, start)
                    other_lines.append(other_row(f"{label} | {ct}", g, r, False))
                    print(other_lines[-1], flush=True)
            r = bench_kmeans(X, k, args.iters * 4, args.repeats)
            km_lines.append(
                f"| {name} {n}x{d} k={k} | {dname} | {r['sk_s_iter']:.4f} | {r['gm_s_iter']:.4f} "
                f"| {r['speedup']:.2f}x | {r['sk_inertia']:.6e} | {r['gm_inertia']:.6e} | "
                f"{r['rel_inertia']:.1e} | {r['sk_fit_s']:.3f} | {r['gm_fit_s']:.3f} | "
                f"{r['fit_speedup']:.2f}x | {r['fit_rel_inertia']:.1e} |")
            print(km_lines[-1], flush=True)
    lines += km_lines
    if args.others:
        lines += other_lines + pom_lines
    if args.predict:
        n = 100_000 if args.quick else 1_000_000
        res = bench_predict(n, 16, 10, args.repeats)
        lines += ["", f"| {n} x 16, k=10, full | sklearn s | gaussmix s | speedup | max abs diff |",
                  "|---|---|---|---|---|"]
        for name, (t_sk, t_gm, diff) in res.items():
            lines.append(f"| {name} | {t_sk:.3f} | {t_gm:.3f} | {t_sk / t_gm:.2f}x | {diff:.1e} |")
        print("\n".join(lines[-4:]), flush=True)
    if args.write:
        path = Path(__file__).resolve().parent / "RESULTS.md"
        old = path.read_text() if path.exists() else "# Benchmark results\n"
        path.write_text(old.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
