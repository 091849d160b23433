"""Every public entry point against bad or unusual input: a correct result or a clear error.

One row per case: (name, estimator, how to call it, expectation). An expectation
is either ``("ok", check)`` or ``(ErrorType, regex the message must match)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, KMeans

rng = np.random.default_rng(0)
X2 = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))])


def gmm(**kw):
    return GaussianMixture(2, random_state=0, **kw)


def km(**kw):
    return KMeans(2, random_state=0, **kw)


def fit(X, **kw):
    return lambda est: est.fit(X, **kw)


def fitted_then(method, Xnew):
    return lambda est: getattr(est.fit(X2), method)(Xnew)


def with_nan(v=np.nan):
    X = X2.copy()
    X[3, 1] = v
    return X


def finite_fit(est):
    for name in ("means_", "covariances_", "weights_", "cluster_centers_"):
        if hasattr(est, name):
            assert np.all(np.isfinite(getattr(est, name)))
    return True


def finite_array(out):
    assert np.all(np.isfinite(np.asarray(out, dtype=float)))
    return True


def two_clusters_found(est):
    centers = getattr(est, "means_", getattr(est, "cluster_centers_", None))
    assert np.ptp(centers[:, 0]) > 0
    return True


obj_numbers = X2.astype(object)
obj_string = X2.astype(object)
obj_string[2, 1] = "abc"
obj_dict = X2.astype(object)
obj_dict[1, 0] = {"a": 1}
frame_text = pd.DataFrame({"x": X2[:, 0], "city": ["a"] * 80})
frame_mixed = pd.DataFrame({"i": np.arange(80), "f": X2[:, 1], "b": np.arange(80) % 2 == 0})
const_col = np.c_[X2, np.full(80, 3.0)]
identical = np.tile([1.0, 2.0], (30, 1))
three_points = np.repeat([[0.0, 0.0], [1.0, 2.0], [5.0, 1.0]], 5, axis=0)

CASES = [
    # name, estimator, call, expectation
    ("nan", gmm, fit(with_nan()), (ValueError, r"NaN \(first at row 3, column 1")),
    ("inf", km, fit(with_nan(np.inf)), (ValueError, r"inf \(first at row 3, column 1")),
    ("nan_predict", gmm, fitted_then("predict_proba", with_nan()), (ValueError, "row 3, column 1")),
    ("nan_km_transform", km, fitted_then("transform", with_nan()), (ValueError, "row 3, column 1")),
    ("empty", gmm, fit(np.empty((0, 2))), (ValueError, "0 sample")),
    ("no_features", km, fit(np.empty((5, 0))), (ValueError, "0 feature")),
    ("one_dim", gmm, fit(X2[:, 0]), (ValueError, "Expected 2D array")),
    ("three_dim", km, fit(X2.reshape(8, 10, 2)), (ValueError, "dim")),
    ("one_row_gmm", gmm, fit(X2[:1]), (ValueError, "minimum of 2")),
    ("one_row_km1", lambda: KMeans(1), fit(X2[:1]), ("ok", finite_fit)),
    ("n_lt_k_gmm", lambda: GaussianMixture(5), fit(X2[:3]),
     (ValueError, "n_samples >= n_components")),
    ("n_lt_k_km", lambda: KMeans(5), fit(X2[:3]), (ValueError, "n_samples >= n_clusters")),
    ("constant_column", gmm, fit(const_col), ("ok", finite_fit)),
    ("constant_column_km", km, fit(const_col), ("ok", two_clusters_found)),
    ("identical_rows_k1", lambda: GaussianMixture(1), fit(identical), ("ok", finite_fit)),
    ("identical_rows_k2", gmm, fit(identical), (ValueError, "only 1 distinct row")),
    ("more_k_than_points", lambda: GaussianMixture(4), fit(three_points),
     (ValueError, "only 3 distinct row.*prior")),
    ("more_k_than_points_prior", lambda: GaussianMixture(4, prior="default"), fit(three_points),
     ("ok", finite_fit)),
    ("tiny_scale", gmm, fit(X2 * 1e-300), (ValueError, "varies only by.*underflows")),
    ("huge_scale", km, fit(X2 * 1e300), (ValueError, "overflow float64")),
    ("huge_predict", gmm, fitted_then("score_samples", X2 * 1e300), (ValueError, "overflow")),
    ("small_scale_relative", lambda: GaussianMixture(2, reg_covar_mode="relative", random_state=0),
     fit(X2 * 1e-100), ("ok", two_clusters_found)),
    ("large_scale", gmm, fit(X2 * 1e100), ("ok", two_clusters_found)),
    ("float32", gmm, fit(X2.astype(np.float32)), ("ok", finite_fit)),
    ("ints_and_floats_list", gmm, fit([[1, 2.5], [3, 4.0], [5, 1.5], [0, 0.1]]),
     ("ok", finite_fit)),
    ("bool_array", km, fit(X2 > 3), ("ok", finite_fit)),
    ("object_numbers", gmm, fit(obj_numbers), ("ok", finite_fit)),
    ("object_string", gmm, fit(obj_string), (ValueError, r"'abc' at row 2, column 1")),
    ("object_dict", km, fit(obj_dict), (TypeError, "row 1, column 0")),
    ("frame_text_column", gmm, fit(frame_text), (TypeError, "column 'city'")),
    ("frame_text_km", km, fit(frame_text), (TypeError, "column 'city'")),
    ("frame_mixed_numeric", gmm, fit(frame_mixed), ("ok", finite_fit)),
    ("sparse", gmm, fit(sp.csr_matrix(X2)), (TypeError, "dense")),
    ("sparse_km", km, fit(sp.csr_matrix(X2)), (TypeError, "dense")),
    ("sparse_predict", gmm, fitted_then("predict", sp.csr_matrix(X2)), (TypeError, "dense")),
    ("complex", gmm, fit(X2 + 1j), (ValueError, "[Cc]omplex")),
    ("string_is_a_path", gmm, fit("no-such-file.npy"), (FileNotFoundError, "no-such-file")),
    ("wrong_features_predict", gmm, fitted_then("predict", X2[:, :1]),
     (ValueError, "1 features.*expecting 2")),
    ("wrong_features_proba", gmm, fitted_then("predict_proba", np.c_[X2, X2]),
     (ValueError, "4 features")),
    ("wrong_features_km", km, fitted_then("transform", X2[:, :1]), (ValueError, "1 features")),
    ("wrong_features_score", gmm, fitted_then("score", X2[:, :1]), (ValueError, "features")),
    ("predict_ok", gmm, fitted_then("predict_proba", X2[:5]), ("ok", finite_array)),
    ("weight_nan", gmm, fit(X2, sample_weight=np.r_[np.nan, np.ones(79)]), (ValueError, "index 0")),
    ("weight_negative", km, fit(X2, sample_weight=np.r_[-1.0, np.ones(79)]),
     (ValueError, "non-negative")),
    ("weight_zero", gmm, fit(X2, sample_weight=np.zeros(80)),
     (ValueError, "non-zero|sums to zero")),
    ("weight_shape", gmm, fit(X2, sample_weight=np.ones(3)), (ValueError, "")),
]


@pytest.mark.parametrize("name, make, call, expect", CASES, ids=[c[0] for c in CASES])
def test_input_battery(name, make, call, expect):
    est = make()
    kind, what = expect
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "ok":
            out = call(est)
            assert what(out)
            return
        with pytest.raises(kind, match=what):
            call(est)


def test_kmeans_more_clusters_than_distinct_points_warns_and_stays_finite():
    with pytest.warns(ConvergenceWarning, match="distinct"):
        km4 = KMeans(4, random_state=0).fit(three_points)
    assert np.all(np.isfinite(km4.cluster_centers_)) and km4.inertia_ == 0.0
