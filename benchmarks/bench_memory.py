"""Peak memory of a fit: 1,000,000 x 16 float64, 10 full components.

Measures, with tracemalloc (NumPy reports its allocations to it), the peak
of new allocations during ``GaussianMixture.fit`` and scikit-learn's, from
the same start, and prints them beside the data's size.

Usage: python benchmarks/bench_memory.py [--rows N] [--iters N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sklearn.mixture import GaussianMixture as SkGMM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import peak_mib  # noqa: E402
from workloads import make_workload  # noqa: E402

from gaussmix import GaussianMixture  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args(argv)
    X = make_workload(args.rows, 16, 10)
    start = SkGMM(10, max_iter=1, random_state=0).fit(X[:100_000])
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_, tol=0.0, max_iter=args.iters)
    data = X.nbytes / 2**20
    # Compile (or load from numba's cache) the kernels first: a constant cost,
    # independent of n, that is not what this measures.
    GaussianMixture(10, max_iter=1, random_state=0).fit(X[:2000])
    gm = peak_mib(lambda: GaussianMixture(10, **init).fit(X))
    gm_default = peak_mib(lambda: GaussianMixture(10, max_iter=args.iters, random_state=0).fit(X))
    sk = peak_mib(lambda: SkGMM(10, **init).fit(X))
    print(f"data {data:.0f} MiB | gaussmix fit, given start: +{gm:.0f} MiB ({gm / data:.0%}) | "
          f"gaussmix fit, k-means start: +{gm_default:.0f} MiB ({gm_default / data:.0%}) | "
          f"scikit-learn, given start: +{sk:.0f} MiB ({sk / data:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
