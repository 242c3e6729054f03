"""Settings of the localizer stage: one entry of the config's ``localize`` section.

The fields are the entry's keys (config/README.md explains each). A workflow job fills the
settings left null from its model's entry (``device``, ``dtype``, ``batch_size``) and from the
top-level ``seed`` (`LocalizeSettings.for_model`); a Python call that leaves them null gets the
same defaults as the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from neuroalign.localize.select import select_units
from neuroalign.schemas import load_schema, validate_section
from neuroalign.settings import StageSettings

__all__ = ["LocalizeSettings"]

#: Settings a localizer run takes from its model's entry where its own are null.
MODEL_KEYS = ("device", "dtype", "batch_size")
MODELS_SECTION = "#/properties/models/additionalProperties"


def _top_seed() -> int:
    """The default of the top-level ``seed``."""
    return load_schema("config")["properties"]["seed"]["default"]


@cache
def _model_defaults() -> dict[str, Any]:
    """The schema's defaults of a model entry's device, dtype and batch size."""
    entry = validate_section({"source": "path:."}, MODELS_SECTION, "models")
    return {key: entry[key] for key in MODEL_KEYS}


@dataclass(frozen=True, kw_only=True)
class LocalizeSettings(StageSettings):
    """How one localizer runs on a model: items, activations, selection, controls, ablation.

    Build it with ``LocalizeSettings.from_config({"localizer": "language", ...})`` (the schema's
    defaults fill the rest). The routing keys (``dataset``, ``path``, ``stimset``, ``models``,
    ``blimp``, ``corpus``, ``brain``) tell the workflow where the inputs are; the stage function
    takes the paths themselves.

    Attributes
    ----------
    localizer : {"language", "md", "tom", "custom"}
        The contrast.
    units, layers, pooling, truncate, batch_size
        How activations are read (``pooling="auto"``: the localizer's default).
    device, dtype, seed
        Where the model runs and the seed of every random draw; null: the model's entry and the
        top-level seed (see `for_model`).
    absolute, rule, fraction, alpha
        The statistic (Welch t on ``|a|`` or ``a``) and the selection rule.
    n_seeds, schemes, bottom, n_boot
        Random control sets, the bottom-k mask, bootstrap resamples of the reliability.
    n_items, positive
        At most ``n_items`` items per condition and run; the positive label of a custom CSV.
    ablation, doses, ablation_mode, ablation_scheme, paradigms, n_pairs, n_control
        The lesion study and its held-out tasks.
    brain_columns
        Response columns of a generic brain table.
    """

    SECTION = "#/properties/localize/additionalProperties"

    localizer: str
    dataset: str | None = None
    path: str = ""
    stimset: str | None = None
    positive: str | None = None
    models: tuple[str, ...] = ()
    units: str = "resid"
    layers: str | tuple[int, ...] = "all"
    pooling: str = "auto"
    truncate: int = 12
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int | None = None
    absolute: bool = True
    rule: str = "global_topk"
    fraction: float = 0.01
    alpha: float = 0.05
    n_seeds: int = 10
    schemes: tuple[str, ...] = ("layer_matched", "uniform")
    bottom: bool = False
    n_boot: int = 100
    n_items: int | None = None
    ablation: bool = True
    doses: tuple[float, ...] = (0.00125, 0.0025, 0.005, 0.01)
    ablation_mode: str = "zero"
    ablation_scheme: str = "layer_matched"
    blimp: dict[str, str] | None = None
    paradigms: tuple[str, ...] | None = None
    n_pairs: int = 20
    n_control: int = 200
    corpus: dict[str, str] | None = None
    brain: dict[str, str] | None = None
    brain_columns: tuple[str, ...] | None = None

    def for_model(
        self, model: Mapping[str, Any] | None = None, seed: int | None = None
    ) -> LocalizeSettings:
        """Fill the settings left null: the one precedence rule of this stage.

        ``device``, ``dtype`` and ``batch_size``: this entry's value, else the model entry's
        (``models.<name>``), else the schema's default of a model entry. ``seed``: this entry's
        value, else ``seed`` (the top-level seed), else the top-level seed's default (0).

        Parameters
        ----------
        model : mapping, optional
            The model's config entry (validated, so its defaults are filled).
        seed : int, optional
            The top-level seed.
        """
        entry = {**_model_defaults(), **(model or {})}
        changes: dict[str, Any] = {k: entry[k] for k in MODEL_KEYS if getattr(self, k) is None}
        if self.seed is None:
            changes["seed"] = _top_seed() if seed is None else seed
        return self.replace(**changes) if changes else self

    @property
    def random_seed(self) -> int:
        """The seed of the random sets and resamples (``seed``, or its default when null)."""
        return _top_seed() if self.seed is None else self.seed

    def selector(self, t: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The selection rule as ``selector(t, q) -> mask``."""
        return select_units(t, rule=self.rule, fraction=self.fraction, q=q, alpha=self.alpha)
