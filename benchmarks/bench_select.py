"""Benchmark: ``gaussmix.select`` over G = 1..9 x 14 models on 20,000 x 4 data.

R's mclust 6.0 (``Mclust(X, G = 1:9)``, same grid, hc start, relative
tolerance 1e-5) takes about 23 s for this on the project's reference machine.
gaussmix runs the same protocol (``init_params="hc"`` on a 2,000-row subset,
``stopping="relative", tol=1e-5``) and prints the wall time, the chosen model
and its log-likelihood, so speed is read beside quality.

With ``--mclust`` (where ``Rscript`` and the mclust package are installed,
e.g. Debian's ``r-cran-mclust``), mclust's ``Mclust(X, G = 1:9)`` runs on the
same data, written to a temporary CSV file, and its time (from R's
``system.time``, the CSV read excluded) and chosen model are printed beside.

Run: ``PYTHONPATH=src python benchmarks/bench_select.py [--repeat N] [--n-jobs J] [--mclust]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from gaussmix import select


def make_data(n: int = 20_000, d: int = 4, k: int = 5, seed: int = 0) -> np.ndarray:
    """Five rotated, anisotropic Gaussian clusters of unequal sizes (fixed seed)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    counts = rng.multinomial(n, weights)
    parts = []
    for j, m in enumerate(counts[:k]):
        A = rng.normal(size=(d, d)) * (0.5 + 0.25 * j)
        parts.append(rng.normal(size=(m, d)) @ A + rng.normal(scale=5.0, size=d))
    X = np.vstack(parts)
    return X[rng.permutation(n)]


_MCLUST = """
suppressMessages(library(mclust))
X <- as.matrix(read.csv(commandArgs(TRUE)[1], header = FALSE))
t <- system.time(m <- Mclust(X, G = 1:9, verbose = FALSE))
cat(sprintf("%.3f %s %d %.6f %.6f %s\\n", t[["elapsed"]], m$modelName, m$G, m$loglik,
            m$bic, packageVersion("mclust")))
"""


def run_mclust(X: np.ndarray) -> dict | None:
    """mclust's ``Mclust(X, G = 1:9)`` on ``X``: seconds, model, G, logL, BIC; None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "X.csv"
        np.savetxt(path, X, delimiter=",", fmt="%.17g")
        out = subprocess.run(["Rscript", "-e", _MCLUST, str(path)], capture_output=True,
                             text=True, check=False)
    if out.returncode != 0:
        print(f"mclust failed: {out.stderr.strip()[-300:]}")
        return None
    secs, model, g, loglik, bic, version = out.stdout.split()
    return {"seconds": float(secs), "model": model, "G": int(g), "loglik": float(loglik),
            "bic": float(bic), "version": version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="threads per fit (default: select's, 1)")
    parser.add_argument("--mclust", action="store_true",
                        help="also time R's mclust on the same data (needs Rscript)")
    args = parser.parse_args()
    X = make_data()
    ref = None
    if args.mclust:
        ref = run_mclust(X)
        if ref is None:
            print("mclust: Rscript with the mclust package not found")
        else:
            print(f"mclust {ref['version']} Mclust(X, G=1:9): {ref['seconds']:.2f} s; best "
                  f"{ref['model']} G={ref['G']} logL={ref['loglik']:.3f} "
                  f"BIC={-ref['bic']:.3f} (sign as ours: lower is better)")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        sel = select(X, n_components=range(1, 10), covariance_types="all",
                     stopping="relative", tol=1e-5, random_state=0,
                     **({} if args.n_jobs is None else {"n_jobs": args.n_jobs}))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = sel.ranked()[0]
        vs = (f"mclust here {ref['seconds']:.2f} s: {ref['seconds'] / dt:.1f}x" if ref
              else f"mclust ~23 s: {23.0 / dt:.1f}x")
        print(f"select 20000x4, G=1..9 x 14 models: {dt:.2f} s wall, {cpu:.2f} s CPU "
              f"({vs}); best {best['covariance_type']} "
              f"G={best['n_components']} logL={best['log_likelihood']:.3f} "
              f"BIC={best['bic']:.3f}; failed cells {len(sel.failed_)}")


if __name__ == "__main__":
    main()
