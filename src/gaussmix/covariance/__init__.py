"""Registry of covariance models, keyed by mclust code, with scikit-learn aliases.

Model codes are data: estimators and the EM engine look a model up here and
call its methods; nothing outside this package branches on a model's name.
"""

from __future__ import annotations

from ._base import CovarianceModel
from ._closed import EEI, EEV, EVI, EVV
from ._iterative import EVE, VEE, VEI, VEV, VVE
from ._layouts import LAYOUTS, Layout, SingularCovarianceError
from ._models import EEE, EII, VII, VVI, VVV, FixedSphericalVariance

#: scikit-learn's names for the models it has.
ALIASES: dict[str, str] = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}

MODELS: dict[str, CovarianceModel] = {}


def register(model: CovarianceModel) -> CovarianceModel:
    """Add a model to the registry under its code."""
    MODELS[model.code] = model
    return model


# mclust's order: volume / shape / orientation, from most to least constrained.
for _cls in (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV):
    register(_cls())


def canonical_name(name: str) -> str:
    """mclust code for a model name or scikit-learn alias.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if not isinstance(name, str):
        raise ValueError(f"covariance_type must be a string, got {type(name).__name__}")
    code = ALIASES.get(name, name.upper() if name.upper() in MODELS else name)
    if code not in MODELS:
        known = ", ".join(sorted(MODELS)) + ", " + ", ".join(ALIASES)
        raise ValueError(f"unknown covariance_type {name!r}; known: {known}")
    return code


def get_model(name: str | CovarianceModel) -> CovarianceModel:
    """Covariance model object for a code or alias (e.g. ``"full"`` or ``"VVV"``).

    A :class:`CovarianceModel` instance is returned as it is.
    """
    if isinstance(name, CovarianceModel):
        return name
    return MODELS[canonical_name(name)]


__all__ = [
    "ALIASES",
    "LAYOUTS",
    "MODELS",
    "CovarianceModel",
    "FixedSphericalVariance",
    "Layout",
    "SingularCovarianceError",
    "canonical_name",
    "get_model",
    "register",
]
