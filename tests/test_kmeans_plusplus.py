"""k-means++ seeding against the textbook form, its skips and its draws."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import blobs


def _plusplus_reference(X, w, k, rng, shift, trials):
    """k-means++ with (n, trials) distance arrays and np.cumsum: the textbook form."""
    rng = np.random.RandomState(rng)
    Xc = X.astype(np.float64) - shift
    cum = np.cumsum(w)
    centers = [Xc[np.searchsorted(cum, rng.uniform() * cum[-1], side="right")]]
    closest = ((Xc - centers[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        cum = np.cumsum(w * closest)
        cand = np.searchsorted(cum, rng.uniform(size=trials) * cum[-1], side="right")
        d = ((Xc[:, None, :] - Xc[cand][None]) ** 2).sum(axis=2)
        pots = w @ np.minimum(d, closest[:, None])
        best = cand[np.argmin(pots)]
        centers.append(Xc[best])
        closest = np.minimum(closest, d[:, np.argmin(pots)])
    return np.array(centers) + shift


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n", "d", "offset"), [(600, 3, 0.0), (3000, 3, 0.0), (30_000, 3, 0.0),
                                                (3000, 40, 0.0), (3000, 40, 1e4)])
def test_kmeans_plusplus_matches_the_textbook_form(dtype, n, d, offset):
    """(30,000 rows: draws span several of the segments that carry partial sums;
    40 features: passes skip the distances the triangle inequality rules out;
    an offset of 1e4: float32 distances of rows far from the origin, whose
    differences are exact.)"""
    from gaussmix.execution import parallel
    from gaussmix.kmeans_plusplus import kmeans_plusplus

    X = (blobs(n, d, 6, seed=4) + offset).astype(dtype)
    w = np.random.default_rng(0).integers(0, 3, n).astype(float)
    shift = X.astype(np.float64).mean(axis=0)
    with parallel(2):
        got = kmeans_plusplus(X, w, 6, np.random.RandomState(5), n_local_trials=3)
    ref = _plusplus_reference(X, w, 6, 5, shift, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # every centre is a row of the data, and never one of weight zero
    d = ((X.astype(np.float64)[:, None] - got[None]) ** 2).sum(axis=2)
    assert np.all(d.min(axis=0) < 1e-18) and np.all(w[d.argmin(axis=0)] > 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), distinct=st.integers(1, 40), n_centres=st.integers(1, 6),
       spread=st.sampled_from([0.0, 0.3, 3.0, 30.0]),
       dtype=st.sampled_from([np.float64, np.float32]), n_cand=st.integers(1, 6),
       lower=st.booleans())
def test_kmeans_plusplus_skipping_pass_equals_the_full_pass(seed, distinct, n_centres, spread,
                                                            dtype, n_cand, lower):
    """Skipped distances never change a sum: seg sums, D(x)² and nearest centres are exact.

    Rows repeat a few distinct points (ties, zero distances), around centres
    from coincident to far apart; the candidates are rows. Float32 rows take
    float32 distances, and the wider margin keeps the skips exact.
    """
    from gaussmix.kmeans_plusplus import (
        _SEGMENT,
        _margin,
        _pp_scores,
        _pp_scores_skipping,
        _reach,
    )

    rng = np.random.default_rng(seed)
    d = 33
    points = rng.normal(size=(distinct, d)) + spread * rng.normal(size=(1, d)) * rng.integers(
        0, 3, size=(distinct, 1))
    X = points[rng.integers(0, distinct, 2500)].astype(dtype)
    w = rng.integers(0, 3, X.shape[0]).astype(float)
    centers = X[rng.choice(X.shape[0], n_centres + 1)].astype(np.float64)
    old, prev = centers[:n_centres], centers[n_centres:].astype(dtype)
    dist = ((X.astype(np.float64)[:, None, :] - old[None]) ** 2).sum(axis=2)
    nearest, closest = dist.argmin(axis=1), dist.min(axis=1)
    cand = X[rng.choice(X.shape[0], n_cand)]  # 1-6: every sweep of the passes
    if not lower:  # the first scoring pass: no last centre to lower D(x)² to
        prev, centers = prev[:0], centers[:n_centres]
    margin = _margin(dtype, d)
    n_seg = -(-X.shape[0] // _SEGMENT)
    want, got = np.zeros((n_seg, n_cand)), np.zeros((n_seg, n_cand))
    want_closest, got_closest = closest.copy(), closest.copy()
    _pp_scores(X, w, cand, want_closest, prev, 0, want)
    reach = _reach(centers, cand.astype(np.float64), margin).min(axis=1)
    if lower:
        reach = np.minimum(reach, _reach(centers, centers[-1:], margin)[:, 0])
    _pp_scores_skipping(X, w, cand, got_closest, nearest, prev, n_centres, reach, 0, got)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_closest, want_closest)
    full = ((X.astype(np.float64)[:, None, :] - centers[None]) ** 2).sum(axis=2)
    # and both are the sums themselves: Σ w min(D(x)², ||x - c||²) per segment
    to_cand = ((X.astype(np.float64)[:, None, :] - cand.astype(np.float64)[None]) ** 2).sum(axis=2)
    ref = np.add.reduceat(w[:, None] * np.minimum(to_cand, full.min(axis=1)[:, None]),
                          np.arange(0, X.shape[0], _SEGMENT), axis=0)
    # each row's nearest centre is one at its D(x)² (ties: either)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(full[np.arange(X.shape[0]), nearest], got_closest, rtol=tol,
                               atol=tol)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * max(1.0, float(ref.max())))


def test_kmeans_plusplus_skips_most_distances_on_separated_clusters():
    """The skips happen: with 8 far-apart clusters seeded, nearly every candidate is ruled out."""
    from gaussmix.kmeans_plusplus import _pp_scores_skipping, _reach

    rng = np.random.default_rng(1)
    d = 40
    centres = rng.normal(scale=50.0, size=(8, d))
    X = (centres[:, None, :] + rng.normal(size=(8, 500, d))).reshape(-1, d)
    seeds = X[::500][:7]  # one row of each of 7 clusters
    dist = ((X[:, None, :] - seeds[None]) ** 2).sum(axis=2)
    nearest, closest = dist.argmin(axis=1), dist.min(axis=1)
    cand = X[[7 * 500 + 1, 7 * 500 + 2]]  # both in the eighth cluster
    poisoned = cand.copy()
    poisoned[:, 0] = np.nan  # a distance that were taken would come out NaN
    out = np.zeros((4, 2))
    prev = np.empty((0, d))
    _pp_scores_skipping(X[:3500], np.ones(3500), poisoned, closest[:3500].copy(), nearest[:3500],
                        prev, 7, _reach(seeds, cand).min(axis=1), 0, out)
    assert np.all(np.isfinite(out))  # the first 7 clusters' rows skipped both candidates


def test_kmeans_plusplus_draw_never_picks_zero_mass_rows():
    from gaussmix.kmeans_plusplus import _pp_pick

    X = np.zeros((5, 2))
    none = np.empty((0, 2))
    w = np.array([0.0, 1.0, 0.0, 2.0, 0.0])
    closest = np.array([5.0, 1.0, 3.0, 0.5, 0.0])  # masses 0, 1, 0, 1, 0
    nearest = np.zeros(5, dtype=np.intp)
    never = np.zeros(2)
    got = [_pp_pick(X, w, none, 1, never, closest, nearest, u * 2.0)
           for u in [0.0, 0.25, 0.5, 0.75, 1.0 - 1e-16]]
    np.testing.assert_array_equal(got, [1, 1, 3, 3, 3])
    # past the end: the last row with mass
    assert _pp_pick(X, w, none, 1, never, closest, nearest, 2.5) == 3
    # the same as cumsum + searchsorted(side="right")
    u = np.random.default_rng(0).uniform(size=50)
    cum = np.cumsum(w * closest)
    picks = [_pp_pick(X, w, none, 1, never, closest, nearest, t) for t in u * cum[-1]]
    np.testing.assert_array_equal(picks, np.searchsorted(cum, u * cum[-1], side="right"))


def test_kmeans_plusplus_pick_lowers_to_the_last_centre_first():
    from gaussmix.kmeans_plusplus import _pp_pick

    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    closest = np.array([4.0, 9.0, 16.0, 100.0])
    w = np.ones(4)
    nearest = np.zeros(4, dtype=np.intp)
    closest[3] = 64.0  # row 3 is nearer its own centre than the new one: it keeps both
    # unlowered the running sum passes 3 at row 0 (4); lowered to the centre 0.5
    # D² = 0.25, 0.25, 2.25, 64, running 0.25, 0.5, 2.75, 66.75: row 3
    assert _pp_pick(X, w, np.array([[0.5]]), 1, np.zeros(2), closest, nearest, 3.0) == 3
    np.testing.assert_array_equal(closest, [0.25, 0.25, 2.25, 64.0])
    np.testing.assert_array_equal(nearest, [1, 1, 1, 0])  # the new centre is number 1


def test_kmeans_plusplus_draw_finds_the_segment_and_skips_empty_ones():
    from gaussmix.kmeans_plusplus import _SEGMENT, _draws

    n = 3 * _SEGMENT + 10
    X = np.zeros((n, 1))
    w = np.ones(n)
    closest = np.zeros(n)
    closest[5] = 1.0  # segment 0
    closest[2 * _SEGMENT + 7] = 3.0  # segment 2; segments 1 and 3 carry no mass
    seg_pot = np.array([1.0, 0.0, 3.0, 0.0])
    nearest = np.zeros(n, dtype=np.intp)
    none = np.empty((0, 1))
    never = np.zeros(1)

    def _draw(u: float) -> int:
        return int(_draws(X, w, closest, nearest, seg_pot, [u], none, 0, never)[0])

    assert _draw(0.0) == 5
    assert _draw(0.24) == 5
    assert _draw(0.26) == 2 * _SEGMENT + 7
    # several draws at once, in any order: each as alone
    np.testing.assert_array_equal(
        _draws(X, w, closest, nearest, seg_pot, [0.26, 0.0, 0.24], none, 0, never),
        [2 * _SEGMENT + 7, 5, 5])
    # a target that round-off puts at the very end: the last segment with mass
    assert _draw(1.0 - 1e-16) == 2 * _SEGMENT + 7
    # u = 1 exactly (the target equals the total): past every segment, back to the last with mass
    assert _draw(1.0) == 2 * _SEGMENT + 7


@pytest.mark.parametrize("repeats", [1, 500])  # 500: 3,500 rows, four 1,024-row segments
def test_first_kmeans_plusplus_draw_follows_the_weights(repeats):
    """The first centre: k-means++'s draw with D(x)² = 1, by segment sums of w."""
    from gaussmix.kmeans_plusplus import _SEGMENT, _draws

    w = np.tile([0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0], repeats)
    n = w.shape[0]
    X = np.zeros((n, 1))
    seg_w = np.add.reduceat(w, np.arange(0, n, _SEGMENT))
    cum = np.cumsum(w)
    for u in np.linspace(0.0, 1.0 - 1e-12, 41):
        got = _draws(X, w, np.ones(n), np.zeros(n, dtype=np.intp), seg_w, [u], np.empty((0, 1)),
                     0, np.zeros(1))[0]
        assert got == np.searchsorted(cum, u * cum[-1], side="right")
        assert w[got] > 0


def test_kmeans_plusplus_float32_skips_stay_exact_at_midpoints():
    """Rows halfway between their nearest centre and a candidate sit on the
    triangle inequality's boundary, where float32 rounding decides a skip:
    with no margin the skipping pass's sums differ from the full pass's,
    with float32's margin they are equal."""
    from gaussmix.kmeans_plusplus import (
        _SEGMENT,
        _margin,
        _pp_scores,
        _pp_scores_skipping,
        _reach,
    )

    d, n = 40, 3000
    differ = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        a = rng.normal(scale=3.0, size=d).astype(np.float32)
        cand = rng.normal(scale=3.0, size=(1, d)).astype(np.float32)
        t = rng.uniform(0.5 - 3e-8, 0.5 + 3e-8, size=(n, 1))
        X = (a * (1 - t) + cand * t).astype(np.float32)
        closest = ((X.astype(np.float64) - a) ** 2).sum(axis=1)
        n_seg = -(-n // _SEGMENT)
        prev = np.empty((0, d), dtype=np.float32)
        want = np.zeros((n_seg, 1))
        _pp_scores(X, np.ones(n), cand, closest.copy(), prev, 0, want)
        for margin in (0.0, _margin(np.float32, d)):
            got = np.zeros((n_seg, 1))
            reach = _reach(a[None].astype(np.float64), cand.astype(np.float64), margin)
            _pp_scores_skipping(X, np.ones(n), cand, closest.copy(), np.zeros(n, dtype=np.intp),
                                prev, 0, reach.min(axis=1), 0, got)
            if margin:
                np.testing.assert_array_equal(got, want)
            else:
                differ += not np.array_equal(got, want)
    assert differ  # the case is sharp: without the margin some skip is wrong
