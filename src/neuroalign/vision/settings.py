"""Settings of the vision encoding stage: one entry of the config's ``vision.encode`` section.

The fields are the entry's keys (config/README.md explains each; the schema holds their
defaults). The routing keys (``dataset``, ``stimset``, ``models``, ``subjects``) tell the workflow
where the inputs are; the stage function takes the paths themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neuroalign.settings import DEFAULT_ALPHAS, StageSettings, alpha_grid, seed_or_default

__all__ = ["VisionEncodeSettings"]


@dataclass(frozen=True, kw_only=True)
class VisionEncodeSettings(StageSettings):
    """How one vision encoding analysis runs.

    Build it with ``VisionEncodeSettings.from_config({"dataset": "sim_vision", "models":
    ["tiny_clip"]})``; the schema's defaults fill the rest.

    Attributes
    ----------
    dataset : str
        Vision fMRI dataset id.
    stimset : str or None
        Stimulus set of the activations; None: the dataset id.
    models : tuple of str
        Model names (one activation store each).
    subjects : tuple of str
        Subject labels.
    variable : str
        Unit space of the activations.
    layers : "all" or tuple of int
        Layers to sweep (as the store labels them; negative count from the end).
    alphas : tuple of float or mapping
        Ridge penalty grid (`grid` gives the array).
    folds : int
        Cross-validation folds over the training images.
    n_permutations : int
        Test-image permutations per voxel null (0: no p and q).
    p_method : {"gaussian", "empirical"}
        p from a normal fitted to each voxel's null (resolves the small p-values FDR over many
        voxels needs; as the language encoders) or the count ``(1 + #null >= r) / (1 +
        n_permutations)``.
    n_bootstrap : int
        Test-image bootstrap resamples of the ROI scores (0: no intervals).
    ci_level : float
        Coverage of the bootstrap intervals.
    q_level : float
        Benjamini-Hochberg level of a significant voxel.
    min_ceiling : float
        Noise ceiling (percent) below which a voxel's normalized score is NaN.
    zscore_sessions : bool
        z-score betas within sessions before averaging repeats.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (`neuroalign.devices`).
    dtype : {"float32", "float64"}
        Precision of the ridge products.
    seed : int or None
        Seed of the folds, permutations and bootstrap (`random_seed` resolves a null).
    """

    SECTION: ClassVar[str] = "#/$defs/vision_encode"

    dataset: str
    models: tuple[str, ...]
    stimset: str | None = None
    subjects: tuple[str, ...] = ("01",)
    variable: str = "resid"
    layers: str | tuple[int, ...] = "all"
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ALPHAS)
    )
    folds: int = 5
    n_permutations: int = 1000
    p_method: str = "gaussian"
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    q_level: float = 0.05
    min_ceiling: float = 5.0
    zscore_sessions: bool = True
    device: str = "auto"
    dtype: str = "float32"
    seed: int | None = None

    @property
    def random_seed(self) -> int:
        """``seed``, or the top-level seed's default when null."""
        return seed_or_default(self.seed)

    @property
    def grid(self) -> np.ndarray:
        """The ridge penalties ``alphas`` names (`neuroalign.settings.alpha_grid`)."""
        return alpha_grid(self.alphas)

    @property
    def stimulus_set(self) -> str:
        """``stimset``, or the dataset id when null."""
        return self.stimset or self.dataset
