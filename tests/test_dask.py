"""Dask: fits on a real two-process LocalCluster equal in-memory fits.

One cluster (2 worker processes, 1 thread each) is started for the module
and closed after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, KMeans
from gaussmix.covariance import MODELS

from ._paths import RTOL, assert_same_fit, blobs, start_params

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")



@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def X():
    return blobs()


@pytest.mark.parametrize("assignment", ["soft", "hard"])
@pytest.mark.parametrize("code", sorted(MODELS))
def test_dask_fit_equals_in_memory(client, X, code, assignment):
    init = start_params(X, 3, code)
    kw = dict(covariance_type=code, assignment=assignment, tol=1e-8, max_iter=15, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, **kw).fit(X)
        got = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(128, 3)))
    assert_same_fit(got, ref)


def test_one_compute_per_iteration(client, X, monkeypatch):
    import dask

    calls = []
    real = dask.compute
    monkeypatch.setattr(dask, "compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    init = start_params(X, 3, "VVV")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = GaussianMixture(3, tol=0.0, max_iter=5, **init).fit(da.from_array(X, chunks=100))
    assert g.n_iter_ == 5
    assert len(calls) == 1 + 5  # the summary pass, then one per EM iteration


def test_weights_and_dataframe(client, X):
    warnings.simplefilter("ignore")
    w = np.random.default_rng(0).uniform(0.2, 3.0, X.shape[0])
    init = start_params(X, 3, "VVV")
    ref = GaussianMixture(3, tol=1e-8, max_iter=20, **init).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(150, 3))
    wd = da.from_array(w, 150)
    got = GaussianMixture(3, tol=1e-8, max_iter=20, **init).fit(Xd, sample_weight=wd)
    assert_same_fit(got, ref)
    got_np_w = GaussianMixture(3, tol=1e-8, max_iter=20, **init).fit(Xd, sample_weight=w)
    assert_same_fit(got_np_w, ref)
    df = dd.from_array(X, chunksize=200, columns=["a", "b", "c"])
    got_df = GaussianMixture(3, tol=1e-8, max_iter=20, **init).fit(df)
    assert_same_fit(GaussianMixture(3, tol=1e-8, max_iter=20, **init).fit(X), got_df)


def test_predictions_are_lazy_dask_arrays(client, X):
    g = GaussianMixture(3, random_state=0).fit(X)
    Xd = da.from_array(X, chunks=(128, 3))
    for method in ("predict", "predict_proba", "score_samples"):
        out = getattr(g, method)(Xd)
        assert isinstance(out, da.Array), method
        np.testing.assert_allclose(out.compute(), getattr(g, method)(X), rtol=1e-12)
    assert g.score(Xd) == pytest.approx(g.score(X), rel=1e-12)


def test_kmeans_parallel_seeding_runs_on_the_cluster(client, X):
    """k-means|| keys its draws by row index, so on Dask blocks it picks the same
    candidates as on an in-memory source; the default fit from it is good."""
    from gaussmix.execution import ArraySource
    from gaussmix.execution.dask_source import DaskSource
    from gaussmix.execution.summary import summarize
    from gaussmix.init_streaming import kmeans_parallel

    dsrc = DaskSource(da.from_array(X, chunks=(128, 3))).persist()
    s_dask = summarize(dsrc, 128, sample_size=500, seed=0)
    s_mem = summarize(ArraySource(X), 97, sample_size=500, seed=0)
    np.testing.assert_array_equal(s_dask.sample.row_ids, s_mem.sample.row_ids)
    c_dask = kmeans_parallel(dsrc, s_dask.sample, 3, np.random.RandomState(0), s_dask.shift, 128)
    c_mem = kmeans_parallel(ArraySource(X), s_mem.sample, 3, np.random.RandomState(0),
                            s_mem.shift, 97)
    np.testing.assert_allclose(c_dask, c_mem, rtol=1e-10)

    Xd = da.from_array(X, chunks=(128, 3))
    ref = GaussianMixture(3, random_state=0, n_init=3, tol=1e-8).fit(X)
    got = GaussianMixture(3, random_state=0, tol=1e-8).fit(Xd)
    assert got.score(X) == pytest.approx(ref.score(X), rel=1e-6)
    km_ref = KMeans(3, random_state=0, n_init=3).fit(X)
    km = KMeans(3, random_state=0).fit(Xd)
    assert km.inertia_ <= 1.01 * km_ref.inertia_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kmeans_parallel_pass_count(client, X, monkeypatch):
    import dask

    calls = []
    real = dask.compute
    monkeypatch.setattr(dask, "compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    GaussianMixture(3, random_state=0, max_iter=2, tol=0.0).fit(da.from_array(X, chunks=100))
    # summary + 5 k-means|| rounds + candidate weights + starting statistics + 2 EM iterations
    assert len(calls) == 1 + 5 + 1 + 1 + 2


def test_kmeans_on_dask(client, X):
    c0 = X[:4]
    ref = KMeans(4, init=c0).fit(X)
    got = KMeans(4, init=c0).fit(da.from_array(X, chunks=(128, 3)))
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=RTOL)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=RTOL)
    np.testing.assert_array_equal(np.asarray(got.labels_), ref.labels_)


def test_worker_killed_mid_fit_still_gives_the_right_answer(client, X):
    """Kill (SIGKILL) a worker process after iteration 2: Dask recomputes its lost blocks
    (they are recomputable from the graph) and retries its tasks on the other
    worker (then on the nanny's replacement), so the fit completes with the
    in-memory answer."""
    import logging

    init = start_params(X, 3, "VVV")
    kw = dict(tol=0.0, max_iter=6, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, **kw).fit(X)
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    killed = []

    class KillAtIteration2(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("EM iteration 2:") and not killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(victim)

    logger = logging.getLogger("gaussmix")
    handler, old_level = KillAtIteration2(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(100, 3)))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert killed == [victim]
    assert victim not in client.scheduler_info()["workers"]  # it really died
    assert_same_fit(got, ref)
    client.wait_for_workers(2, timeout=60)


def test_dask_not_imported_unless_used():
    code = (
        "import sys, numpy as np; import gaussmix; "
        "X = np.random.default_rng(0).normal(size=(200, 2)); "
        "gaussmix.GaussianMixture(2, random_state=0).fit(X).predict(X); "
        "gaussmix.KMeans(2, random_state=0).fit(X); "
        "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), 'dask'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_select_runs_cells_as_tasks_on_the_cluster(client, X):
    from distributed import get_task_stream

    from gaussmix import select

    grid = dict(n_components=range(1, 4), covariance_types=["VVV", "EEE", "VII"])
    ref = select(X, **grid)
    with get_task_stream(client=client) as ts:
        got = select(da.from_array(X, chunks=150), **grid)
    cell_tasks = [t for t in ts.data if str(t["key"]).startswith("gaussmix-select-")]
    assert len(cell_tasks) == 9  # one task per (model, components) cell
    assert len({t["worker"] for t in cell_tasks}) == 2  # spread over both workers
    for a, b in zip(got.table_, ref.table_, strict=True):
        assert (a["covariance_type"], a["n_components"]) == (b["covariance_type"],
                                                             b["n_components"])
        np.testing.assert_allclose(a["bic"], b["bic"], rtol=1e-10)
    assert got.best_.covariance_model_ == ref.best_.covariance_model_
    np.testing.assert_allclose(got.best_.means_, ref.best_.means_, rtol=1e-10)
