"""Out-of-core fit of a 2 GB .npy file with bounded memory.

Generates a float64 ``.npy`` file of 16,000,000 x 16 (2.05 GB) chunk by
chunk in a temporary directory (never holding it in memory), fits a
``GaussianMixture`` from the path for a few EM iterations, and measures in
the same process:

- peak resident memory (``resource.getrusage``'s ``ru_maxrss``, a high-water
  mark) after the out-of-core fit. The file is written by a child process
  and the fit runs first, so the figure covers the imports, summary pass,
  seeding and EM, and nothing else;
- seconds per EM iteration out of core, against an in-memory fit of a subset
  (the first ``--subset`` rows) from the same starting parameters, both also
  as seconds per million rows, and scikit-learn on the same subset.

The data is a mixture of rotated anisotropic Gaussians (as the W workloads).
The file is deleted at the end. Figures go to ``benchmarks/RESULTS.md``
under their own section (other sections are kept).

Usage::

    python benchmarks/bench_out_of_core.py                  # 16,000,000 x 16, 3 iterations
    python benchmarks/bench_out_of_core.py --rows 2000000   # a quicker run
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix import GaussianMixture

SECTION = "## Out-of-core fit (bench_out_of_core.py)"


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory, MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def mixture_params(d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 2.0))
    means = rng.normal(scale=6.0, size=(k, d))
    factors = np.empty((k, d, d))
    for j in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        factors[j] = q * rng.uniform(0.3, 2.0, d)
    return weights, means, factors


def write_npy(path: Path, n: int, d: int, k: int, seed: int, chunk: int = 250_000) -> None:
    """Write an (n, d) float64 .npy file chunk by chunk: a header, then raw rows."""
    weights, means, factors = mixture_params(d, k, seed)
    rng = np.random.default_rng(seed + 1)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)),
              "fortran_order": False, "shape": (n, d)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            z = rng.choice(k, size=m, p=weights)
            X = rng.normal(size=(m, d))
            for j in range(k):  # per component: no (m, d, d) temporary
                rows = z == j
                X[rows] = X[rows] @ factors[j].T + means[j]
            f.write(X.tobytes())


class IterationClock(logging.Handler):
    """Timestamps of the engine's per-iteration debug messages."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stamps: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("EM iteration"):
            self.stamps.append(time.perf_counter())


def timed_fit(make: Any, X: Any) -> tuple[Any, float, list[float]]:
    """Fit and return (estimator, total seconds, per-iteration seconds after the first)."""
    clock = IterationClock()
    logger = logging.getLogger("gaussmix")
    logger.addHandler(clock)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make().fit(X)
        total = time.perf_counter() - t0
    finally:
        logger.removeHandler(clock)
        logger.setLevel(old)
    per_iter = list(np.diff(clock.stamps))
    return est, total, per_iter


def write_results(text: str, path: Path) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md, atomically."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(text.strip() + "\n", old) if pattern.search(old) else (
        old.rstrip() + "\n\n" + text.strip() + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=16_000_000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--components", type=int, default=8)
    ap.add_argument("--covariance-type", default="full")
    ap.add_argument("--max-iter", type=int, default=3)
    ap.add_argument("--subset", type=int, default=1_000_000)
    ap.add_argument("--dir", default=None, help="where to put the temporary file")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    ap.add_argument("--generate-only", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n, d, k = args.rows, args.features, args.components
    if args.generate_only:  # child process: write the file and exit
        write_npy(Path(args.generate_only), n, d, k, seed=0)
        return
    rss_start = peak_rss_mb()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="gaussmix-ooc-") as tmp:
        path = Path(tmp) / "X.npy"
        t0 = time.perf_counter()
        # A child process writes the file, so this process's peak RSS is the fit's.
        subprocess.run([sys.executable, __file__, "--rows", str(n), "--features", str(d),
                        "--components", str(k), "--generate-only", str(path)], check=True)
        t_gen = time.perf_counter() - t0
        size_gb = path.stat().st_size / 1e9
        rss_before = peak_rss_mb()

        def make() -> GaussianMixture:
            return GaussianMixture(k, covariance_type=args.covariance_type, tol=0.0,
                                   max_iter=args.max_iter, random_state=0)

        ooc, t_ooc, it_ooc = timed_fit(make, str(path))
        rss_ooc = peak_rss_mb()

        # The same starting parameters for the in-memory subset fits.
        start = dict(weights_init=ooc.weights_, means_init=ooc.means_,
                     precisions_init=ooc.precisions_)

        def make_sub() -> GaussianMixture:
            return GaussianMixture(k, covariance_type=args.covariance_type, tol=0.0,
                                   max_iter=args.max_iter, **start)

        sub = np.load(path, mmap_mode="r")[: args.subset].copy()
        _, t_mem, it_mem = timed_fit(make_sub, sub)

        from sklearn.mixture import GaussianMixture as SkGMM

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            SkGMM(k, covariance_type=args.covariance_type, tol=0.0, max_iter=args.max_iter,
                  **start).fit(sub)
        t_sk = time.perf_counter() - t0
        # path is removed with the temporary directory here

    s_ooc = float(np.mean(it_ooc)) if it_ooc else float("nan")
    s_mem = float(np.mean(it_mem)) if it_mem else float("nan")
    s_sk = t_sk / args.max_iter  # includes its own final E-step: an upper bound
    m = n / 1e6
    ms = args.subset / 1e6
    report = f"""{SECTION}

{dt.date.today().isoformat()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs
(shared with other jobs), Python {platform.python_version()}, NumPy {np.__version__}.
Data: {n:,} x {d} float64 `.npy` ({size_gb:.2f} GB, written chunkwise in {t_gen:.0f} s),
mixture of {k} rotated anisotropic Gaussians; `GaussianMixture({k}, covariance_type=
"{args.covariance_type}", max_iter={args.max_iter}, tol=0)` fitted from the path (seeding: one
summary pass with a 10,000-row weighted sample, k-means on the sample, one pass for the
starting statistics).

| fit | rows | s / EM iteration | s / iteration / million rows | total s |
| --- | ---: | ---: | ---: | ---: |
| gaussmix, out of core (`.fit(path)`) | {n:,} | {s_ooc:.2f} | {s_ooc / m:.3f} | {t_ooc:.1f} |
| gaussmix, in memory (subset) | {args.subset:,} | {s_mem:.2f} | {s_mem / ms:.3f} | {t_mem:.1f} |
| scikit-learn, in memory (subset, same start) | {args.subset:,} |\
 {s_sk:.2f} | {s_sk / ms:.3f} | {t_sk:.1f} |

Peak resident memory of the process after the out-of-core fit: **{rss_ooc:.0f} MiB**
(after the imports, before the fit: {rss_before:.0f} MiB, at start {rss_start:.0f} MiB;
budget 600 MiB; the data is {size_gb * 1e3 / 1.048576:.0f} MiB; the file was written by a
child process). Out of core costs {s_ooc / m / (s_mem / ms):.2f}x the
in-memory time per row (the file is read once per iteration; the page cache may hold it).
scikit-learn's figure is its total time over the iterations (it includes a final E-step).
"""
    print(report)
    if rss_ooc >= 600:
        print(f"WARNING: peak RSS {rss_ooc:.0f} MiB is over the 600 MiB budget")
    if not args.no_write:
        write_results(report, Path(__file__).resolve().parent / "RESULTS.md")


if __name__ == "__main__":
    main()
