"""gaussmix: Gaussian mixture models (EM) and k-means on additive sufficient statistics."""

from .cluster import KMeans
from .covariance import ALIASES, MODELS, SingularCovarianceError, get_model
from .datasets import load_faithful, load_iris, make_elongated
from .execution import CSVSource, NpySource, ParquetSource
from .minibatch import MiniBatchKMeans
from .mixture import GaussianMixture
from .selection import Selection, select

__version__ = "0.1.0"

__all__ = [
    "ALIASES",
    "MODELS",
    "CSVSource",
    "GaussianMixture",
    "KMeans",
    "MiniBatchKMeans",
    "NpySource",
    "ParquetSource",
    "Selection",
    "SingularCovarianceError",
    "get_model",
    "load_faithful",
    "load_iris",
    "make_elongated",
    "select",
]
