"""KMeans against scikit-learn's Lloyd from the same initial centres."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans as SkKMeans

from gaussmix import KMeans

from .conftest import DATASETS, blobs


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_same_as_sklearn_lloyd(name, k, weighted):
    X = DATASETS[name]()
    rng = np.random.default_rng(k)
    c0 = X[rng.choice(X.shape[0], k, replace=False)]
    w = rng.integers(1, 4, X.shape[0]).astype(float) if weighted else None
    ref = SkKMeans(k, init=c0, n_init=1, algorithm="lloyd").fit(X, sample_weight=w)
    got = KMeans(k, init=c0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    np.testing.assert_allclose(got.transform(X), ref.transform(X), rtol=1e-9, atol=1e-9)
    assert got.score(X) == pytest.approx(ref.score(X), rel=1e-10)


def test_integer_weights_equal_repeated_rows():
    X = blobs(150, 3, 4, seed=5)
    counts = np.random.default_rng(1).integers(0, 4, X.shape[0])
    c0 = X[counts > 0][:4]
    a = KMeans(4, init=c0).fit(X, sample_weight=counts)
    b = KMeans(4, init=c0).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    np.testing.assert_array_equal(a.labels_[counts > 0].repeat(counts[counts > 0]), b.labels_)


def test_empty_cluster_is_reseeded_not_nan():
    X = np.vstack([np.zeros((10, 2)), np.ones((10, 2)) * 5])
    # the third centre is far from everything and captures nothing
    c0 = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    km = KMeans(3, init=c0).fit(X + np.random.default_rng(0).normal(0, 0.1, X.shape))
    assert np.all(np.isfinite(km.cluster_centers_))
    assert len(np.unique(km.labels_)) == 3


def test_chunking_and_reproducibility():
    X = blobs(500, 4, 5, seed=9)
    a = KMeans(5, random_state=3, n_init=3, chunk_size=13).fit(X)
    b = KMeans(5, random_state=3, n_init=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    np.testing.assert_array_equal(a.fit_predict(X), a.labels_)


def test_kmeans_plus_plus_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], float)
    X = np.vstack([c + rng.normal(size=(50, 2)) for c in centers])
    km = KMeans(4, random_state=0).fit(X)
    # each true centre has exactly one found centre within 0.5
    dist = np.linalg.norm(km.cluster_centers_[:, None] - centers[None], axis=-1)
    assert np.all(np.sort(dist.min(axis=0)) < 0.5)
    assert len(set(dist.argmin(axis=0))) == 4


def test_to_gmm_is_the_equivalent_mixture():
    X = blobs(300, 3, 3, seed=11)
    km = KMeans(3, random_state=0).fit(X)
    g = km.to_gmm()
    assert g.covariance_model_ == "EII" and g.equal_weights
    n, d = X.shape
    # the shared ML variance reproduces the inertia
    assert g.covariances_[0] * n * d == pytest.approx(km.inertia_, rel=1e-12)
    np.testing.assert_array_equal(g.predict(X), km.labels_)
    np.testing.assert_allclose(g.weights_, 1 / 3)
    assert g._n_parameters() == 1 + 3 * 3
    # log-likelihood of the equivalent model, by hand
    var = km.inertia_ / (n * d)
    d2 = ((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    logp = np.log(np.exp(-0.5 * d2 / var).sum(1) / 3) - 0.5 * d * np.log(2 * np.pi * var)
    assert g.score(X) == pytest.approx(logp.mean(), rel=1e-10)


def _assign_reference(X, w, centers_c, shift):
    """Nearest centres by brute force over (n, k) distances, in float64."""
    Xc = np.asarray(X, dtype=np.float64) - shift
    dist = ((Xc[:, None, :] - centers_c[None]) ** 2).sum(axis=2)
    labels = dist.argmin(axis=1)
    k = centers_c.shape[0]
    counts = np.bincount(labels, weights=w, minlength=k)
    sums = np.stack([(w[labels == j, None] * Xc[labels == j]).sum(axis=0) for j in range(k)])
    d2 = dist[np.arange(len(X)), labels]
    return labels, d2, counts, sums, float(w @ d2)


@pytest.mark.parametrize("n", [1, 1023, 1024, 1025, 2500])  # about the 1,024-row tile
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
# direct distances with masked sums (d=2; d=5 float64), direct with scattered sums
# (d=4, k=7), and the GEMM (d=5 float32, d=9)
@pytest.mark.parametrize(("d", "k"), [(2, 4), (4, 7), (5, 4), (9, 4)])
def test_assignment_kernel_matches_brute_force(n, dtype, order, d, k):
    from gaussmix.kmeans import _assign

    rng = np.random.default_rng(n)
    X = np.asarray(rng.normal(size=(n, d)) * np.arange(1, d + 1) + 10, dtype=dtype, order=order)
    w = rng.integers(0, 3, n).astype(float)  # zero weights included
    shift = X.astype(np.float64).mean(axis=0)
    centers_c = rng.normal(size=(k, d)) * 3
    stats, labels, d2 = _assign(X, w, centers_c, shift, rows=True)
    ref = _assign_reference(X, w, centers_c, shift)
    ref_labels, ref_d2, ref_counts, ref_sums, ref_inertia = ref
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(stats.nk, ref_counts, rtol=1e-12)
    np.testing.assert_allclose(stats.sk, ref_sums, rtol=1e-10, atol=1e-9)
    assert -stats.objective == pytest.approx(ref_inertia, rel=1e-10)
    # without per-row outputs: the same statistics
    again = _assign(X, w, centers_c, shift, rows=False)[0]
    np.testing.assert_array_equal(again.sk, stats.sk)
    # the inertia is a reassociated sum: the loop that also stores labels may
    # be vectorised in another order (seen with AVX-512: 1 ulp apart)
    assert again.objective == pytest.approx(stats.objective, rel=1e-14)


def test_assignment_ties_go_to_the_first_centre():
    from gaussmix.kmeans import nearest_center

    X = np.array([[0.0, 0.0], [2.0, 0.0]])
    centers = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])  # equidistant from both rows
    labels, d2 = nearest_center(X, centers)
    np.testing.assert_array_equal(labels, [0, 0])
    np.testing.assert_allclose(d2, [2.0, 2.0])


def test_empty_cluster_relocation_matches_sklearn():
    """A duplicated seed leaves a cluster empty; both move it to the farthest row."""
    X = blobs(400, 3, 4, seed=2)
    c0 = np.vstack([X[:3], X[2:3]])  # seeds 2 and 3 coincide: cluster 3 starts empty
    ref = SkKMeans(4, init=c0, n_init=1, algorithm="lloyd").fit(X)
    got = KMeans(4, init=c0).fit(X)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-10)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


def test_unit_weight_broadcast_takes_the_unweighted_kernel_path():
    from gaussmix.kmeans import _assign, _kernel_weights

    rng = np.random.default_rng(7)
    X = rng.normal(size=(700, 3))
    centers_c = rng.normal(size=(4, 3))
    unit = np.broadcast_to(1.0, (700,))
    assert _kernel_weights(unit).size == 0  # no per-row weight copied
    assert _kernel_weights(np.broadcast_to(2.0, (700,))).size == 700
    a, la, da = _assign(X, unit, centers_c, np.zeros(3), rows=True)
    b, lb, db = _assign(X, np.ones(700), centers_c, np.zeros(3), rows=True)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(a.sk, b.sk)
    np.testing.assert_array_equal(a.nk, b.nk)
    assert a.objective == b.objective


def _lloyd_both(X, w, centers, max_iter, tol):
    from gaussmix.execution import parallel
    from gaussmix.kmeans import lloyd

    shift = (w @ X.astype(np.float64)) / w.sum()
    with parallel(2):
        return [lloyd(X, w, centers, max_iter=max_iter, tol=tol, shift=shift, chunk_size=700,
                      bounds=b) for b in (False, True)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 3000), d=st.integers(1, 8),
       k=st.integers(1, 9), dtype=st.sampled_from([np.float64, np.float32]),
       weights=st.sampled_from(["unit", "integer", "real"]), spread=st.floats(0.3, 3.0),
       distinct=st.integers(0, 5))
def test_lloyd_with_bounds_gives_the_plain_iterates(seed, n, d, k, dtype, weights, spread,
                                                    distinct):
    """Hamerly's bounds skip rows, never change a label: the same iterations,
    labels and centres as the plain passes, from the same seeds (overlapping
    clusters, several 1,024-row tiles and 700-row blocks, zero weights; or
    a few distinct rows, bare or with 1e-3 noise, where clusters empty and
    near ties abound). Bounds are used where the plain pass takes exact
    direct distances: up to 8 float64 or 4 float32 columns."""
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        d = 1 + (d - 1) % 4
    if distinct:
        X = rng.normal(size=(distinct, d))[rng.integers(0, distinct, n)] * spread
        X = (X + (seed % 2) * 1e-3 * rng.normal(size=(n, d))).astype(dtype)
    else:
        X = (rng.normal(size=(n, d)) * spread + rng.integers(0, 4, (n, 1)) * 2.0).astype(dtype)
    w = {"unit": np.broadcast_to(1.0, (n,)), "integer": rng.integers(0, 3, n).astype(float),
         "real": rng.uniform(0.1, 2.0, n)}[weights]
    if w.sum() == 0:
        w = np.ones(n)
    centers = X[rng.choice(n, k, replace=n < k)].astype(np.float64)
    # (tol 1e-20, not 0: the first pass's sums are added in another order,
    # and a start already at its fixed point would stop on a last bit)
    plain, bounded = _lloyd_both(X, w, centers, max_iter=60, tol=1e-20)
    assert bounded.n_iter == plain.n_iter
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    np.testing.assert_allclose(bounded.centers, plain.centers, rtol=1e-10, atol=1e-10)
    assert bounded.inertia == pytest.approx(plain.inertia, rel=1e-10, abs=1e-10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 3000), d=st.integers(1, 4),
       k=st.integers(1, 9), dtype=st.sampled_from([np.float64, np.float32]),
       weights=st.sampled_from(["unit", "real"]), distinct=st.integers(0, 4))
def test_bounded_lloyd_gives_the_same_iterates_on_any_number_of_threads(seed, n, d, k, dtype,
                                                                       weights, distinct):
    """700-row blocks run by one thread, or as runs on two or three threads that
    meet at a barrier after each iteration (three: more threads than this
    machine may have CPUs), or as one pooled task per block and iteration: the
    block sums are added in block order, so exactly the same centres and
    iterations (including iterations that empty a cluster and are redone by
    the plain pass)."""
    from contextlib import nullcontext
    from unittest import mock

    from gaussmix import _lloyd_bounded as lb
    from gaussmix.execution import parallel

    rng = np.random.default_rng(seed)
    if distinct:
        X = rng.normal(size=(distinct, d))[rng.integers(0, distinct, n)].astype(dtype)
    else:
        X = (rng.normal(size=(n, d)) + rng.integers(0, 4, (n, 1)) * 2.0).astype(dtype)
    w = np.broadcast_to(1.0, (n,)) if weights == "unit" else rng.uniform(0.1, 2.0, n)
    shift = (w @ X.astype(np.float64)) / w.sum()
    c0 = X[rng.choice(n, k, replace=n < k)].astype(np.float64) - shift
    runs = []
    for threads, patch in ((1, {}), (2, {}), (3, {"usable_cpus": lambda: 8}),
                           (2, {"_ONE_RUN_CELLS": 0})):
        with parallel(threads), mock.patch.multiple(lb, **patch) if patch else nullcontext():
            runs.append(lb.lloyd_bounded(X, w, c0, max_iter=40, tol=0.0, shift=shift, chunk=700))
    if seed % 4 == 0:  # a Fortran-ordered array is taken as it is
        with parallel(2):
            runs.append(lb.lloyd_bounded(np.asfortranarray(X), w, c0, max_iter=40, tol=0.0,
                                         shift=shift, chunk=700))
    for c, it in runs[1:]:
        assert it == runs[0][1]
        np.testing.assert_array_equal(c, runs[0][0])


def test_lloyd_with_bounds_relocates_empty_clusters_like_the_plain_pass():
    X = blobs(3000, 3, 4, seed=2)
    w = np.ones(len(X))
    c0 = np.vstack([X[:3], X[2:3]])  # seeds 2 and 3 coincide: cluster 3 starts empty
    plain, bounded = _lloyd_both(X, w, c0, max_iter=30, tol=0.0)
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    np.testing.assert_allclose(bounded.centers, plain.centers, rtol=1e-10)
    ref = SkKMeans(4, init=c0, n_init=1, max_iter=30, tol=0.0, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(bounded.labels, ref.labels_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bounds_stay_bounds_and_skip_the_settled_rows(dtype):
    """After a pass from moved centres, every upper bound is at least the row's
    distance to its centre and every lower bound at most its distance to any
    other; near convergence most rows are skipped (else the bounds do nothing)."""
    from gaussmix._lloyd_bounded import _bounded_step, _half_separation
    from gaussmix.kmeans import _UNIT_WEIGHTS

    X = blobs(5000, 4, 5, seed=3).astype(dtype)
    shift = X.astype(np.float64).mean(axis=0)
    Xc = X.astype(np.float64) - shift
    n, k = len(X), 5
    centers = Xc[np.random.default_rng(0).choice(n, k, replace=False)]
    labels, up, lo = np.zeros(n, dtype=np.intp), np.empty(n, np.float32), np.empty(n, np.float32)
    part_s, part_c = np.zeros((2, k, 4)), np.zeros((2, k))  # two blocks of 2,500 rows
    half, drift = np.empty(k), np.zeros(k)
    _half_separation(centers, half)
    computed = _bounded_step(X, _UNIT_WEIGHTS, centers, shift, drift, half, labels, up, lo,
                             part_s, part_c, True, 2500, 0, 2)
    sums, counts = part_s.sum(axis=0), part_c.sum(axis=0)
    assert computed == n
    for _ in range(25):  # Lloyd's iterations, each pass with the bounds
        new = sums / counts[:, None]
        drift = np.sqrt(((new - centers) ** 2).sum(axis=1)) * (1 + 2.0**-22)
        centers = new
        _half_separation(centers, half)
        computed = _bounded_step(X, _UNIT_WEIGHTS, centers, shift, drift, half, labels, up, lo,
                                 part_s, part_c, False, 2500, 0, 2)
        sums, counts = sums + part_s.sum(axis=0), counts + part_c.sum(axis=0)
        dist = np.sqrt(((Xc[:, None, :] - centers[None]) ** 2).sum(axis=2))
        own = dist[np.arange(n), labels]
        np.testing.assert_array_equal(labels, dist.argmin(axis=1))
        assert np.all(up >= own)
        dist[np.arange(n), labels] = np.inf
        assert np.all(lo <= dist.min(axis=1))
        np.testing.assert_allclose(counts, np.bincount(labels, minlength=k))
        np.testing.assert_allclose(sums, [Xc[labels == c].sum(axis=0) for c in range(k)],
                                   atol=1e-9)
    assert computed < 0.05 * n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_passes_over_the_rows_as_given_match_the_shifted_ones(dtype):
    """Near the origin (squared shift within the data's spread) Lloyd's GEMM
    passes read the rows as given: the same labels and iterations as the
    shifted copy, centres and inertia to round-off."""
    from gaussmix.kmeans import lloyd

    X = (blobs(6000, 24, 6, seed=4) * 3.0).astype(dtype)
    w = np.ones(len(X))
    shift = X.astype(np.float64).mean(axis=0)
    spread = float(X.astype(np.float64).var(axis=0).sum())
    assert shift @ shift <= spread
    c0 = X[np.random.default_rng(1).choice(len(X), 6, replace=False)].astype(np.float64)
    runs = [lloyd(X, w, c0, max_iter=20, tol=0.0, shift=shift, chunk_size=1000, spread=s)
            for s in (0.0, spread)]
    assert runs[0].n_iter == runs[1].n_iter
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    np.testing.assert_allclose(runs[0].centers, runs[1].centers, rtol=1e-12)
    assert runs[0].inertia == pytest.approx(runs[1].inertia, rel=1e-12)


def test_float32_rows_far_from_the_origin_keep_the_shifted_gemm():
    """Rows offset by 3,000 (squared shift far above the spread) keep the
    shifted copy: the same labels as a float64 fit of the same values, whereas
    the GEMM over the rows as given (forced here) loses hundreds of labels to
    the float32 rounding of x·c."""
    from gaussmix.kmeans import lloyd

    X = (blobs(6000, 24, 6, seed=5) + 3000.0).astype(np.float32)
    rows = np.random.default_rng(2).choice(len(X), 6, replace=False)
    ref = KMeans(6, init=X[rows].astype(np.float64), max_iter=30, tol=0.0).fit(
        X.astype(np.float64))
    got = KMeans(6, init=X[rows], max_iter=30, tol=0.0).fit(X)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
    shift = X.astype(np.float64).mean(axis=0)
    forced = lloyd(X, np.ones(len(X)), X[rows].astype(np.float64), max_iter=30, tol=0.0,
                   shift=shift, chunk_size=1000, spread=np.inf)
    assert np.sum(forced.labels != ref.labels_) > 100


def _plain_lloyd(X, w, centers_c, max_iter, tol, shift, chunk):
    """Lloyd's GEMM passes, every row's sums afresh each pass (the reference)."""
    from gaussmix.kmeans import _is_unit, _plain_pass

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats = _plain_pass(X, w, chunk, centers_c, shift, _is_unit(w))
        new_c = stats.sk / np.where(stats.nk > 0, stats.nk, 1.0)[:, None]
        moved = float(np.sum((new_c - centers_c) ** 2))
        centers_c = new_c
        if moved <= tol:
            break
    return centers_c, n_iter


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 3000), d=st.integers(5, 12),
       k=st.integers(1, 9), dtype=st.sampled_from([np.float64, np.float32]),
       weights=st.sampled_from(["unit", "integer", "real"]), distinct=st.integers(0, 5))
def test_lloyd_with_running_sums_gives_the_plain_iterates(seed, n, d, k, dtype, weights,
                                                          distinct):
    """Sums kept from pass to pass (only rows that change centre added) give the
    plain passes' iterations, centres to round-off and final labels, on one
    thread, two or three (oversubscribed) meeting at a barrier, or as a map of
    700-row blocks on the pool, with the same bits; clusters that empty (few
    distinct rows, zero weights) are relocated as by the plain pass."""
    from contextlib import nullcontext
    from unittest import mock

    from gaussmix import kmeans
    from gaussmix.execution import parallel
    from gaussmix.kmeans import _lloyd_delta, assign_labels

    if dtype == np.float64:
        d = max(d, 9)  # the GEMM path: from 5 float32 or 9 float64 columns
    rng = np.random.default_rng(seed)
    if distinct:
        X = rng.normal(size=(distinct, d))[rng.integers(0, distinct, n)].astype(dtype)
    else:
        X = (rng.normal(size=(n, d)) + rng.integers(0, 4, (n, 1)) * 2.0).astype(dtype)
    w = {"unit": np.broadcast_to(1.0, (n,)), "integer": rng.integers(0, 3, n).astype(float),
         "real": rng.uniform(0.1, 2.0, n)}[weights]
    if w.sum() == 0:
        w = np.ones(n)
    shift = (w @ X.astype(np.float64)) / w.sum()
    c0 = X[rng.choice(n, k, replace=n < k)].astype(np.float64) - shift
    ref_c, ref_it = _plain_lloyd(X, w, c0, 40, 1e-20, shift, 700)
    ref_labels, _ = assign_labels(X, w, ref_c + shift, shift)
    runs = []
    for threads, patch in ((1, {}), (2, {}), (3, {"usable_cpus": lambda: 8}),
                           (2, {"_ONE_RUN_CELLS": 0})):
        with parallel(threads), mock.patch.multiple(kmeans, **patch) if patch else nullcontext():
            runs.append(_lloyd_delta(X, w, c0, max_iter=40, tol=1e-20, shift=shift, chunk=700,
                                     raw=False))
    for c, it, _ in runs:
        assert it == ref_it
        np.testing.assert_allclose(c, ref_c, rtol=1e-9, atol=1e-9)
        labels, _ = assign_labels(X, w, c + shift, shift)
        np.testing.assert_array_equal(labels, ref_labels)
    for c, _, labels in runs[1:]:
        np.testing.assert_array_equal(c, runs[0][0])
        np.testing.assert_array_equal(labels, runs[0][2])


def _bounded_run_args(flags, me):
    """A small bounded Lloyd run's arguments for thread ``me`` of two (one block each)."""
    from gaussmix import _lloyd_bounded as lb
    from gaussmix.kmeans import _UNIT_WEIGHTS

    X = blobs(600, 2, 3, seed=1)
    n, k = len(X), 3
    shift = X.mean(axis=0)
    return (X, _UNIT_WEIGHTS, X[:k] - shift, shift, np.zeros(k), np.empty(k),
            np.zeros(n, np.intp), np.empty(n, np.float32), np.empty(n, np.float32),
            np.empty((2, 2, k, 2)), np.empty((2, 2, k)), np.zeros((k, 2)), np.zeros(k), True,
            300, me, me + 1, flags, lb.FLAG_STRIDE, me, 0, 10, 0.0)


def test_bounded_run_stops_waiting_when_another_thread_failed():
    """A thread at the barrier whose partner failed (the failure flag up) returns -2
    after its first assignment instead of waiting for ever."""
    import threading

    from gaussmix import _lloyd_bounded as lb
    from gaussmix._barrier import new_flags

    flags = new_flags(2)
    flags[2 * lb.FLAG_STRIDE] = 1
    out = []
    t = threading.Thread(target=lambda: out.append(lb._bounded_run(*_bounded_run_args(flags, 0))),
                         daemon=True)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive() and out == [(-2.0, 0)]


@pytest.mark.parametrize("failing", [0, 1])
def test_run_together_raises_when_a_thread_fails_and_nobody_waits_for_ever(failing):
    """One thread raises before it reaches the barrier (the helper, or this one):
    the other stops waiting and the error comes out of run_together."""
    import threading

    from gaussmix import _lloyd_bounded as lb
    from gaussmix._barrier import new_flags, run_together

    flags = new_flags(2)

    def run(t):
        if t == failing:
            raise ValueError("boom")
        return lb._bounded_run(*_bounded_run_args(flags, t))

    box = []

    def call():
        try:
            run_together(run, 2, flags)
        except BaseException as exc:
            box.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=60)
    assert not caller.is_alive() and len(box) == 1
    err = box[0]
    if failing == 0:
        assert isinstance(err, ValueError)
    else:
        assert isinstance(err, RuntimeError) and isinstance(err.__cause__, ValueError)
