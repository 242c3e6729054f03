"""Settings of the diffusion stages: the guiding encoder's fit and the synthesis runs.

The fields are the keys of one entry of the config's ``diffusion.encoders`` and
``diffusion.synthesize`` sections (the schema holds their defaults; config/README.md explains
them). Routing keys (``dataset``, ``model``, ``encoder``, ``subjects``) tell the workflow where
the inputs are; the stage functions take the paths themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from neuroalign.settings import DEFAULT_ALPHAS, StageSettings, alpha_grid, seed_or_default

__all__ = ["DiffusionEncoderSettings", "SeedTable", "SynthesizeSettings"]


@dataclass(frozen=True, kw_only=True)
class DiffusionEncoderSettings(StageSettings):
    """How the differentiable guiding encoder is fitted (schema ``$defs/diffusion_encoder``).

    Attributes
    ----------
    dataset : str
        Vision fMRI dataset id.
    model : str
        Model (a name from ``models``) whose image features are the encoder's inputs.
    stimset : str or None
        Stimulus set of the activations; None: the dataset id.
    subjects : tuple of str
        Subject labels.
    units : str
        Unit space of the activation store (``resid`` or ``embeds``).
    layer : int
        Layer of a layered unit space, as the store labels it (negative from the end).
    alphas : tuple of float or mapping
        Ridge penalty grid (`grid` gives the array).
    folds : int
        Cross-validation folds over the training images (one alpha per voxel).
    zscore_sessions : bool
        z-score betas within sessions before averaging repeats.
    device : str
        Device of the ridge fit.
    dtype : {"float32", "float64"}
        Precision of the ridge products.
    seed : int or None
        Seed of the folds (`random_seed` resolves a null).
    """

    SECTION: ClassVar[str] = "#/$defs/diffusion_encoder"

    dataset: str
    model: str
    stimset: str | None = None
    subjects: tuple[str, ...] = ("01",)
    units: str = "resid"
    layer: int = -1
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ALPHAS)
    )
    folds: int = 5
    zscore_sessions: bool = True
    device: str = "auto"
    dtype: str = "float64"
    seed: int | None = None

    @property
    def random_seed(self) -> int:
        """``seed``, or the top-level seed's default when null."""
        return seed_or_default(self.seed)

    @property
    def grid(self) -> np.ndarray:
        """The ridge penalties ``alphas`` names."""
        return alpha_grid(self.alphas)


@dataclass(frozen=True, kw_only=True)
class SeedTable(StageSettings):
    """The seeds of a synthesis run: ``base, base + 1, ..., base + n - 1`` (``$defs/seed_table``).

    Attributes
    ----------
    base : int
        First seed.
    n : int
        Number of seeds (images per objective and condition).
    """

    SECTION: ClassVar[str] = "#/$defs/seed_table"

    base: int = 0
    n: int = 8

    @property
    def seeds(self) -> list[int]:
        """The seeds, in order."""
        return list(range(self.base, self.base + self.n))


@dataclass(frozen=True, kw_only=True)
class SynthesizeSettings(StageSettings):
    """How one brain-guided synthesis runs (schema ``$defs/diffusion``).

    Attributes
    ----------
    dataset : str
        Vision fMRI dataset id of the guiding encoder.
    encoder : str
        The ``diffusion.encoders`` entry that guides.
    pipeline : str
        The diffusers model: ``path:<dir>`` (a saved folder, e.g. the tiny one of ``init-sd``)
        or ``hf:<id>[@revision]``.
    subjects : tuple of str
        Subject labels.
    rois : tuple of str or None
        ROIs of the encoder to raise (one objective each, the ROI's mean); None: every ROI
        when ``objectives`` is empty too.
    objectives : mapping
        Named objectives beyond the ROI means: ``{roi: A}``, ``{voxels: [...], weights:
        [...]}``, ``{contrast: [A, B], lambda: 1.0}`` (`neuroalign.diffusion.objectives`).
    steps : int
        Denoising steps.
    scheduler : {"ddim", "dpmpp", "euler"}
        The sampler's scheduler (DDIM, DPM-Solver++ multistep, Euler discrete).
    scale : float
        Guidance scale s (BrainDiVE: 130 on SD-2.1-base).
    cfg : float
        Classifier-free guidance scale; 0 or 1: none (one UNet pass per step).
    prompt : str
        Text prompt (BrainDiVE: empty).
    seeds : SeedTable
        The seed of every image.
    batch_size : int
        Images per batch (a batch equals its images made one at a time).
    resolution : int or None
        Image side in pixels; None: the UNet's sample size times the VAE's scale.
    unguided : bool
        Also make the unguided twin of every seed.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        Precision of the UNet, VAE and encoder.
    guidance_decoder : str or None
        A cheaper decoder for the guidance pass (an AutoencoderTiny: ``path:<dir>`` or
        ``hf:<id>``); None: the pipeline's VAE.
    compile : bool
        Run the UNet and VAE through ``torch.compile``.
    channels_last : bool
        Hold the UNet's, VAE's and guidance decoder's convolution weights in channels-last
        memory order (the layout of the GPU's tensor-core convolution kernels); the same math.
    """

    SECTION: ClassVar[str] = "#/$defs/diffusion"

    dataset: str
    encoder: str
    pipeline: str = "path:results/models/tiny_sd"
    subjects: tuple[str, ...] = ("01",)
    rois: tuple[str, ...] | None = None
    objectives: dict[str, Any] = field(default_factory=dict)
    steps: int = 50
    scheduler: str = "dpmpp"
    scale: float = 130.0
    cfg: float = 0.0
    prompt: str = ""
    seeds: SeedTable = field(default_factory=SeedTable)
    batch_size: int = 8
    resolution: int | None = None
    unguided: bool = True
    device: str = "auto"
    dtype: str = "auto"
    guidance_decoder: str | None = None
    compile: bool = False
    channels_last: bool = False
