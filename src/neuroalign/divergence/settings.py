"""Settings of the divergence stages: one entry of the config's ``divergence`` or ``finetune``.

The fields are the entry's keys (the schema's ``$defs/divergence`` and ``$defs/finetune``
describe each). Routing keys (``dataset``, ``stimset``, ``model``, ``finetuned``, ``control``,
``base``) tell the workflow where the inputs are; the stage functions take the paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.settings import DEFAULT_ALPHAS, StageSettings, alpha_grid, seed_or_default

__all__ = ["DivergenceSettings", "FinetuneSettings"]


@dataclass(frozen=True, kw_only=True)
class DivergenceSettings(StageSettings):
    """How one divergence analysis runs (config ``divergence.<name>``).

    Build it with ``DivergenceSettings.from_config({...})`` (the schema's defaults fill the
    rest). ``windows`` are ``(start, stop)`` pairs in s after word onset; ``interval`` the
    language interval whose windows make each word's error.
    """

    SECTION: ClassVar[str] = "#/$defs/divergence"

    dataset: str | None = None
    stimset: str | None = None
    model: str | None = None
    encoding: str | None = None
    subjects: tuple[str, ...] = ("01",)
    task: str | None = None
    variable: str = "resid"
    layer: int = -1
    windows: tuple[tuple[float, float], ...] = (
        (0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6),
    )  # fmt: skip
    interval: tuple[float, float] = (0.2, 0.5)
    n_folds: int = 5
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ALPHAS)
    )
    n_perm: int = 1000
    n_boot: int = 1000
    fraction: float = 0.1
    categories: tuple[str, ...] = ("emotion", "social", "physical", "figurative")
    lexicons: dict[str, str] = field(default_factory=dict)
    lm: str | None = None
    lm_context: int = 16
    proposer: str | None = None
    n_proposals: int = 5
    proposer_words: int = 20
    max_new_tokens: int = 24
    finetuned: str | None = None
    control: str | None = None
    batch_size: int = 16
    device: str = "auto"
    seed: int | None = None

    def __post_init__(self) -> None:
        for start, stop in self.windows:
            if stop <= start:
                raise NeuroalignError(
                    f"field 'windows': window [{start}, {stop}] must end after it starts."
                )
        if self.interval[1] <= self.interval[0]:
            raise NeuroalignError(f"field 'interval' {list(self.interval)} must be increasing.")

    @property
    def grid(self) -> np.ndarray:
        """The penalty grid ``alphas`` names."""
        return alpha_grid(self.alphas)

    @property
    def random_seed(self) -> int:
        """The seed, 0 when null."""
        return seed_or_default(self.seed)


@dataclass(frozen=True, kw_only=True)
class FinetuneSettings(StageSettings):
    """How one model is fine-tuned (config ``finetune.<name>``).

    The texts come from ``path`` (a local file or a packaged toy text), or from ``data``
    (``{dataset, file}``: a file of a fetched dataset, by default its training split), or,
    with neither, from the ``datasets`` library.
    """

    SECTION: ClassVar[str] = "#/$defs/finetune"

    base: str | None = None
    dataset: str = "text"
    path: str | None = None
    data: dict[str, str | None] | None = None
    limit: int | None = None
    steps: int = 200
    batch_size: int = 8
    learning_rate: float = 5e-5
    max_length: int = 128
    mlm_probability: float = 0.15
    device: str = "auto"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.path is not None and self.data is not None:
            raise NeuroalignError(
                "set either 'path' (a local file) or 'data' (a fetched dataset), not both."
            )

    @property
    def random_seed(self) -> int:
        """The seed, 0 when null."""
        return seed_or_default(self.seed)
