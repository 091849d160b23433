"""gaussmix: Gaussian mixture models (EM) and k-means on additive sufficient statistics."""

from .cluster import KMeans
from .collapse import CollapseError, CollapseEvent, CollapseWarning
from .compare import Comparison, compare
from .covariance import ALIASES, MODELS, SingularCovarianceError, get_model
from .datasets import load_faithful, load_iris, make_elongated
from .execution import CSVSource, NpySource, ParquetSource
from .io import ModelFileError, load, save
from .minibatch import MiniBatchKMeans
from .mixture import FitRecord, GaussianMixture
from .selection import Selection, select
from .warmup import warmup

__version__ = "0.1.0"

__all__ = [
    "ALIASES",
    "MODELS",
    "Comparison",
    "CSVSource",
    "CollapseError",
    "CollapseEvent",
    "CollapseWarning",
    "FitRecord",
    "GaussianMixture",
    "KMeans",
    "MiniBatchKMeans",
    "ModelFileError",
    "NpySource",
    "ParquetSource",
    "Selection",
    "SingularCovarianceError",
    "compare",
    "get_model",
    "load",
    "load_faithful",
    "load_iris",
    "make_elongated",
    "save",
    "select",
    "warmup",
]
