"""k-means as the vanishing-variance limit of a Gaussian mixture.

Soft EM for a mixture with equal weights and one shared spherical covariance
``σ² I`` *held fixed* gives each point the responsibilities

    r_k(x) = exp(-|x - μ_k|² / 2σ²) / Σ_j exp(-|x - μ_j|² / 2σ²).

As σ² → 0 the nearest centre's term dominates every other, so r(x) becomes
the one-hot nearest-centre assignment and the M-step (responsibility-weighted
means) becomes the k-means centroid update: soft EM turns into Lloyd's
algorithm. This script shows it on standardised Old Faithful data: for
decreasing σ² it runs soft EM from the k-means centres
(``GaussianMixture(covariance_type=FixedSphericalVariance(σ²),
equal_weights=True)``) and prints how far the responsibilities are from
one-hot and how far the means are from the k-means centres.

Run: python examples/vanishing_variance.py
"""

from gaussmix import load_faithful
from gaussmix.limits import vanishing_variance


def main() -> None:
    X, _ = load_faithful()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    print("Soft EM with a fixed shared variance σ², from the k-means centres (faithful, k=2)")
    print(f"{'σ²':>8}  {'max(1 - max r)':>15}  {'mean(1 - max r)':>15}  {'max |μ - c|':>12}")
    for step in vanishing_variance(X, 2, [1.0, 0.1, 0.01, 0.001]):
        print(f"{step.variance:>8g}  {step.max_gap:>15.3e}  {step.mean_gap:>15.3e}"
              f"  {step.max_shift:>12.3e}")


if __name__ == "__main__":
    main()
