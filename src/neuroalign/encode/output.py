"""What every encode kind shares: where it fits and what its provenance says."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroalign.devices import resolve_device
from neuroalign.encode.settings import EncodeSettings

__all__ = ["ALPHA_CONVENTION", "fit_device", "run_config", "score_variables"]

ALPHA_CONVENTION = "alpha * ||w||^2"


def fit_device(settings: EncodeSettings) -> str:
    """The one device the fits run on (`neuroalign.devices.resolve_device` of ``device``)."""
    return resolve_device(settings.device, field="encode.device")


def run_config(settings: EncodeSettings, **resolved: Any) -> dict[str, Any]:
    """The settings a result was computed with, flat: shared keys, the kind's options, and the
    values resolved at run time (``resolved``, e.g. the test task found in the dataset)."""
    shared = settings.to_dict()
    options = shared.pop("options")
    for key in ("dataset", "stimset", "models", "subjects", "report", "localized"):
        shared.pop(key)
    return {**shared, "seed": settings.random_seed, **options, **resolved}


def score_variables(fit: Any, dim: str) -> dict[str, tuple[str, np.ndarray]]:
    """The held-out scores, alpha and CV score of every target, as dataset variables on ``dim``."""
    return {name: (dim, getattr(fit, name)) for name in ("r", "r2", "alpha", "cv_score", "p", "q")}
