"""Out-of-core execution: .npy, Parquet and CSV fits equal in-memory fits.

Every covariance model in the registry (so models added later are covered)
and both assignment modes: from the same starting parameters, a fit that
reads its data block by block from a file gives the in-memory parameters to
1e-10 relative (float64).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gaussmix
from gaussmix import CSVSource, GaussianMixture, KMeans, NpySource, ParquetSource
from gaussmix.covariance import MODELS
from gaussmix.execution import ArraySource, as_source, iter_slices, map_blocks_sum
from gaussmix.execution.summary import row_uniforms, summarize

from ._paths import RTOL, assert_same_fit, blobs, start_params

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pandas")

CHUNK = 97  # rows per block: many blocks, the last one ragged


def write_all(X: np.ndarray, tmp, weights: np.ndarray | None = None) -> dict[str, object]:
    """The same rows as .npy, Parquet (several row groups) and CSV (17 digits)."""
    names = [f"x{j}" for j in range(X.shape[1])]
    npy = tmp / "X.npy"
    np.save(npy, X)
    cols = {c: X[:, j] for j, c in enumerate(names)}
    if weights is not None:
        cols["w"] = weights
    table = pa.table(cols)
    parquet = tmp / "X.parquet"
    pq.write_table(table, parquet, row_group_size=128)
    csv = tmp / "X.csv"
    header = ",".join(list(cols))
    data = np.column_stack(list(cols.values()))
    np.savetxt(csv, data, delimiter=",", header=header, comments="", fmt="%.17g")
    return {"npy": npy, "parquet": parquet, "csv": csv}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X = blobs()
    return X, write_all(X, tmp_path_factory.mktemp("sources"))


@pytest.mark.parametrize("kind", ["npy", "parquet", "csv", "source"])
@pytest.mark.parametrize("assignment", ["soft", "hard"])
@pytest.mark.parametrize("code", sorted(MODELS))
def test_file_fit_equals_in_memory(data, code, assignment, kind):
    X, paths = data
    init = start_params(X, 3, code)
    kw = dict(covariance_type=code, assignment=assignment, tol=1e-8, max_iter=25,
              chunk_size=CHUNK, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, **kw).fit(X)
        src = NpySource(paths["npy"]) if kind == "source" else paths[kind]
        got = GaussianMixture(3, **kw).fit(src)
    assert got.n_iter_ > 2
    assert_same_fit(got, ref)


def test_parquet_and_csv_sources_with_explicit_columns(tmp_path):
    X = blobs(300, 2, 2, seed=4)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    paths = write_all(X, tmp_path, weights=w)
    init = start_params(X, 2, "VVV")
    ref = GaussianMixture(2, chunk_size=50, **init).fit(X, sample_weight=w)
    for src in (ParquetSource(paths["parquet"], columns=["x0", "x1"], weight_column="w"),
                CSVSource(paths["csv"], columns=["x0", "x1"], weight_column="w")):
        got = GaussianMixture(2, chunk_size=50, **init).fit(src)
        assert_same_fit(got, ref)
    # sample_weight given to fit instead of a weight column
    got = GaussianMixture(2, chunk_size=50, **init).fit(paths["npy"], sample_weight=w)
    assert_same_fit(got, ref)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_same_seed_same_fit_on_every_source(data):
    """Seeding uses a sample keyed by row index: independent of block boundaries."""
    X, paths = data
    fits = []
    for src, chunk in ((paths["npy"], 50), (paths["parquet"], 128), (paths["csv"], 333),
                       (ArraySource(X), 600)):
        for init in ("kmeans", "k-means++", "random_from_data", "random"):
            g = GaussianMixture(3, init_params=init, random_state=7, chunk_size=chunk,
                                tol=1e-6, max_iter=40).fit(src)
            fits.append((init, g))
    by_init: dict[str, GaussianMixture] = {}
    for init, g in fits:
        if init in by_init and init != "random":  # random: one draw per block
            assert_same_fit(g, by_init[init], rtol=1e-8)
        by_init.setdefault(init, g)
    # a sensible fit: the three blobs are found from a sample-based start
    ref = GaussianMixture(3, random_state=0, n_init=3, tol=1e-8).fit(X)
    assert by_init["kmeans"].score(X) == pytest.approx(ref.score(X), rel=1e-6)


def test_predict_on_paths_equals_arrays(data):
    X, paths = data
    g = GaussianMixture(3, random_state=0, chunk_size=CHUNK).fit(X)
    for p in paths.values():
        np.testing.assert_array_equal(g.predict(p), g.predict(X))
        np.testing.assert_allclose(g.predict_proba(p), g.predict_proba(X), rtol=1e-12)
        np.testing.assert_allclose(g.score_samples(p), g.score_samples(X), rtol=1e-12)
        assert g.bic(p) == pytest.approx(g.bic(X), rel=1e-12)


@pytest.mark.parametrize("kind", ["npy", "parquet", "csv"])
def test_kmeans_file_equals_in_memory(data, kind):
    X, paths = data
    rng = np.random.default_rng(3)
    c0 = X[rng.choice(X.shape[0], 4, replace=False)]
    ref = KMeans(4, init=c0, chunk_size=CHUNK, tol=1e-6).fit(X)
    got = KMeans(4, init=c0, chunk_size=CHUNK, tol=1e-6).fit(paths[kind])
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=RTOL)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=RTOL)
    np.testing.assert_array_equal(got.labels_, ref.labels_)


def test_kmeans_empty_cluster_relocation_on_a_source(data):
    """Two identical seeds leave one cluster empty: both paths move it to the same far row."""
    X, paths = data
    c0 = np.vstack([X[:3], X[2:3]])
    ref = KMeans(4, init=c0, chunk_size=CHUNK).fit(X)
    got = KMeans(4, init=c0, chunk_size=CHUNK).fit(paths["npy"])
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=RTOL)
    assert len(np.unique(got.labels_)) == 4


def test_kmeans_seeded_from_sample_is_good(data):
    X, paths = data
    got = KMeans(3, random_state=0, n_init=3).fit(paths["parquet"])
    ref = KMeans(3, random_state=0, n_init=3).fit(X)
    assert got.inertia_ <= ref.inertia_ * 1.01


# ---------------------------------------------------------------- the seam
def test_map_blocks_sum_dispatches_to_sources():
    X = np.arange(20.0).reshape(10, 2)
    w = np.linspace(0.5, 2.0, 10)
    want = w @ X
    got_arr = map_blocks_sum(X, w, 3, lambda x, ww: ww @ x)
    got_src = map_blocks_sum(ArraySource(X, w), None, 3, lambda x, ww: ww @ x)
    np.testing.assert_allclose(got_arr, want)
    np.testing.assert_allclose(got_src, want)
    assert [s.start for s in iter_slices(10, 3)] == [0, 3, 6, 9]


def test_npy_blocks_match_rows_and_dtypes(tmp_path):
    for dtype in (np.float32, np.float64, np.int16):
        X = (np.arange(35).reshape(7, 5) * 3).astype(dtype)
        np.save(tmp_path / "a.npy", X)
        src = NpySource(tmp_path / "a.npy")
        blocks = list(src.iter_blocks(3))
        assert [o for o, _, _ in blocks] == [0, 3, 6]
        got = np.vstack([b for _, b, _ in blocks])
        np.testing.assert_array_equal(got, X)
        assert got.dtype == (np.float64 if dtype == np.int16 else dtype)


@settings(max_examples=25, deadline=None)
@given(chunk=st.integers(1, 70), seed=st.integers(0, 2**31 - 1))
def test_summary_does_not_depend_on_blocks(chunk, seed):
    X = np.random.default_rng(seed % 1000).normal(size=(67, 3)) * [1.0, 10.0, 0.1] + 5.0
    w = np.random.default_rng(1).uniform(0.1, 3.0, size=67)
    whole = summarize(ArraySource(X, w), 67, sample_size=20, seed=seed)
    parts = summarize(ArraySource(X, w), chunk, sample_size=20, seed=seed)
    np.testing.assert_allclose(parts.shift, (w @ X) / w.sum(), rtol=1e-12)
    var = (w @ (X - parts.shift) ** 2) / w.sum()
    np.testing.assert_allclose(parts.m2 / w.sum(), var, rtol=1e-10)
    np.testing.assert_array_equal(parts.sample.row_ids, whole.sample.row_ids)
    np.testing.assert_array_equal(parts.sample.rows, X[whole.sample.row_ids])
    assert parts.n_rows == 67


def test_row_uniforms_are_uniform_and_seeded():
    u = row_uniforms(3, 0, 200_000)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    np.testing.assert_array_equal(row_uniforms(3, 1000, 10), u[1000:1010])
    assert not np.array_equal(row_uniforms(4, 0, 10), u[:10])


def test_weighted_sample_prefers_heavy_rows():
    X = np.arange(2000.0)[:, None]
    w = np.where(np.arange(2000) < 1000, 1.0, 9.0)
    s = summarize(ArraySource(X, w), 100, sample_size=400, seed=0).sample
    heavy = np.mean(s.row_ids >= 1000)
    assert 0.8 < heavy < 0.95  # inclusion roughly proportional to weight (0.9 with replacement)


# ---------------------------------------------------------------- errors
def test_errors_name_the_problem(tmp_path):
    X = blobs(100, 2, 2)
    bad = X.copy()
    bad[37, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"NaN \(first at row 37, column 1"):
        GaussianMixture(2, chunk_size=10).fit(tmp_path / "bad.npy")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"column 'b' has a non-numeric value 'oops' at data row 1"):  # noqa: E501
        GaussianMixture(1).fit(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="no column"):
        CSVSource(tmp_path / "t.csv", columns=["zz"])
    with pytest.raises(ValueError, match="unknown file type"):
        as_source(_touch(tmp_path / "x.dat"))
    with pytest.raises(FileNotFoundError):
        GaussianMixture(1).fit(tmp_path / "missing.npy")
    np.save(tmp_path / "ok.npy", X)
    with pytest.raises(ValueError, match="resp_init needs X in memory"):
        GaussianMixture(2, resp_init=np.zeros(100, dtype=int)).fit(tmp_path / "ok.npy")
    with pytest.raises(ValueError, match="sample_weight has 3 entries"):
        GaussianMixture(2).fit(tmp_path / "ok.npy", sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(101).fit(tmp_path / "ok.npy")
    np.save(tmp_path / "three.npy", np.zeros((4, 3)))
    g = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        g.predict(tmp_path / "three.npy")
    np.save(tmp_path / "one_d.npy", np.zeros(4))
    with pytest.raises(ValueError, match="2-D"):
        NpySource(tmp_path / "one_d.npy")
    pq.write_table(pa.table({"a": [1.0, None], "b": ["x", "y"]}), tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="non-numeric column"):
        ParquetSource(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="missing value at row 1"):
        GaussianMixture(1).fit(ParquetSource(tmp_path / "s.parquet", columns=["a"]))


def _touch(path):
    path.write_text("")
    return path


def test_old_import_path_still_works():
    from gaussmix.execution import resolve_chunk_size

    assert resolve_chunk_size(None, 3, 2) > 0
    assert gaussmix.NpySource is NpySource


def test_parquet_directory_and_tsv(tmp_path):
    X = blobs(400, 3, 2, seed=9)
    (tmp_path / "ds").mkdir()
    for i, part in enumerate(np.array_split(X, 3)):
        pq.write_table(pa.table({f"x{j}": part[:, j] for j in range(3)}),
                       tmp_path / "ds" / f"part-{i}.parquet")
    np.savetxt(tmp_path / "X.tsv", X, delimiter="\t", header="\t".join(["a", "b", "c"]),
               comments="", fmt="%.17g")
    init = start_params(X, 2, "VVV")
    ref = GaussianMixture(2, chunk_size=64, **init).fit(X)
    assert_same_fit(GaussianMixture(2, chunk_size=64, **init).fit(tmp_path / "ds"), ref)
    assert_same_fit(GaussianMixture(2, chunk_size=64, **init).fit(tmp_path / "X.tsv"), ref)


def test_float32_file_equals_float32_array(tmp_path):
    X = blobs(500, 3, 3, seed=2).astype(np.float32)
    np.save(tmp_path / "f32.npy", X)
    init = start_params(X.astype(np.float64), 3, "VVV")
    ref = GaussianMixture(3, chunk_size=64, tol=1e-6, **init).fit(X)
    got = GaussianMixture(3, chunk_size=64, tol=1e-6, **init).fit(tmp_path / "f32.npy")
    assert_same_fit(got, ref)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_mean_accumulates_in_float64(dtype):
    """The shift: float32 rows summed in float64 by a kernel, float64 rows by BLAS."""
    from gaussmix._input import weighted_mean

    rng = np.random.default_rng(12)
    X = (rng.normal(size=(5000, 3)) * [1.0, 1e-3, 50.0] + 1e4).astype(dtype)
    w = rng.integers(0, 4, 5000).astype(float)
    ref = (w @ X.astype(np.float64)) / w.sum()
    for chunk in (7, 1000, 5000):
        np.testing.assert_allclose(weighted_mean(X, w, chunk), ref, rtol=1e-13)


@pytest.mark.parametrize(("name", "dtype", "rows"), [
    ("diag", np.float32, 12_500), ("spherical", np.float64, 12_500),  # 16 MiB of [x², x, 1]
    ("tied", np.float32, 6_250), ("tied", np.float64, 3_125),  # 4 MiB of 2d + k a row
    ("full", np.float32, 6_250),
])
def test_default_chunks_follow_each_layouts_temporaries(name, dtype, rows):
    """50,000 x 64, k = 20 (the benchmark's W3): each layout's default chunk
    holds about its target bytes of the temporaries its E-step makes."""
    from gaussmix.covariance import get_model
    from gaussmix.mixture import _model_chunk

    model = get_model(name)
    X = np.empty((50_000, 64), dtype=dtype)
    chunk = _model_chunk(model, 20, X)
    assert chunk == rows
    width = model.layout.row_width(20, 64)
    assert chunk * width * X.itemsize <= model.layout.chunk_bytes


@pytest.mark.parametrize("name", ["diag", "spherical"])
def test_large_data_keeps_lean_chunks(name):
    """Past 64 MiB of [x², x, 1] in all, diag/spherical chunks go back to the
    4 MiB target: 1,000,000 x 16 float64 in 64 chunks of 15,625 rows (4 MiB
    of temporaries each, not 16), while 100,000 rows take the larger chunks."""
    from gaussmix.covariance import get_model
    from gaussmix.mixture import _model_chunk

    model = get_model(name)
    width = model.layout.row_width(10, 16)
    big = np.lib.stride_tricks.as_strided(np.empty(16), shape=(1_000_000, 16),
                                          strides=(0, 8))  # shape without the memory
    assert _model_chunk(model, 10, big) == 15_625
    assert 15_625 * width * 8 <= 4 * 2**20
    small = big[:100_000]
    assert _model_chunk(model, 10, small) == 25_000  # 4 chunks (4 MiB would make 8)


@pytest.mark.parametrize("n", [1, 3, 1000, 100_000, 1_000_003])
def test_default_chunks_are_equal_and_even_in_number(n):
    """Default E-step chunks: at most the memory cap, 4m of them, equal to a row."""
    from gaussmix.covariance import get_model
    from gaussmix.execution.chunks import default_chunk_size
    from gaussmix.mixture import _model_chunk

    model = get_model("diag")
    X = np.empty((n, 2))
    cap = default_chunk_size(5, 2, model.layout.row_width(5, 2), 8, model.layout.chunk_bytes)
    chunk = _model_chunk(model, 5, X)
    sizes = [s.stop - s.start for s in iter_slices(n, chunk)]
    assert chunk <= cap and sum(sizes) == n
    assert max(sizes) - min(sizes) < len(sizes)  # only the last is shorter, by < one row a chunk
    assert len(sizes) % 4 == 0 or n < 4
