"""Settings of the episodic stage: the config's ``episodic`` section, one class per part.

`EpisodicSettings` is the section; its parts are `GridSettings` (the token-sequence CMR grid),
`HeadSettings` (the head analysis and ablation, also of the training checkpoints:
``train_heads``), `TrainSettings` (the tiny training run; None: no run) and
`RecoverySettings` (parameter recovery of the CMR fits). Every default is the schema's. This
module imports neither torch nor transformers, so the workflow can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neuroalign._check import NeuroalignError
from neuroalign.schemas import load_schema
from neuroalign.settings import StageSettings

__all__ = [
    "EpisodicSettings",
    "GridSettings",
    "HeadSettings",
    "RecoverySettings",
    "TrainSettings",
]


@dataclass(frozen=True)
class GridSettings(StageSettings):
    """A parameter grid for the token-sequence CMR (``episodic.grid``).

    Defaults are the grid of Ji-An et al.: beta_enc in 0.05..1 (20 values), beta_rec in 0..1
    (21), gamma_ft in 0..1 (11); 100 items; lags -8..8; 20 start items. They ran 1000 runs per
    start item; 200 keep beta_rec recoverable to one grid step from beta_enc 0.5 on lags -5..5
    (50 only from 0.6; docs/episodic.md, parameter recovery).
    """

    SECTION = "#/properties/episodic/properties/grid"

    beta_enc: tuple[float, ...] = tuple(round(i / 20, 4) for i in range(1, 21))
    beta_rec: tuple[float, ...] = tuple(round(i / 20, 4) for i in range(21))
    gamma_ft: tuple[float, ...] = tuple(round(i / 10, 4) for i in range(11))
    n_items: int = 100
    max_lag: int = 8
    n_starts: int = 20
    n_runs: int = 200
    max_recalls: int = 100


@dataclass(frozen=True)
class HeadSettings(StageSettings):
    """Settings of the head analysis and ablation (``episodic.heads``, ``episodic.train_heads``).

    Attributes
    ----------
    half_len : int
        Tokens per probe half.
    n_seq : int
        Probe sequences per probe kind.
    max_lag : int
        Lag profiles cover ``-max_lag .. max_lag``.
    fit_lag : int
        CMR fits and human comparisons use ``-fit_lag .. fit_lag``.
    batch_size : int
        Sequences per forward pass.
    n_copy_seq : int
        Sequences used for the copying score.
    seed : int
        Seed of the probe tokens (and of the ablation's random head sets).
    """

    SECTION = "#/$defs/episodic_heads"

    half_len: int = 64
    n_seq: int = 200
    max_lag: int = 8
    fit_lag: int = 5
    batch_size: int = 8
    n_copy_seq: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        # A query's whole lag window must lie in the first probe half (heads.valid_queries);
        # otherwise no query is valid and every lag profile is NaN.
        if 2 * self.max_lag + 1 > self.half_len:
            raise NeuroalignError(
                f"field 'max_lag' ({self.max_lag}) needs 'half_len' >= {2 * self.max_lag + 1} (the "
                f"lag window -max_lag..max_lag must fit in one probe half), got 'half_len' "
                f"{self.half_len}; lower 'max_lag' to {(self.half_len - 1) // 2} or raise "
                "'half_len'."
            )


@dataclass(frozen=True)
class TrainSettings(StageSettings):
    """Model and training settings of the tiny run (``episodic.train``; a few CPU minutes).

    Attributes
    ----------
    vocab_size : int
        Token ids ``1 .. vocab_size - 1`` are ordinary; ``0`` is BOS.
    span : int
        Longest repeated span (sequences have ``1 + 3 * span`` tokens).
    n_layer, n_head, n_embd : int
        Model shape (a Llama-style block: rotary positions, MLP of width 2 * n_embd).
    steps, batch_size : int
        Optimizer steps and sequences per step.
    lr : float
        AdamW learning rate.
    checkpoints : tuple of int
        Steps after which to save (0 saves the initialization).
    """

    SECTION = "#/properties/episodic/properties/train"

    vocab_size: int = 64
    span: int = 16
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    checkpoints: tuple[int, ...] = (0, 100, 200, 300, 400, 500, 600, 800, 1000)


@dataclass(frozen=True)
class RecoverySettings(StageSettings):
    """Parameter recovery of the CMR fits (``episodic.recovery``).

    Attributes
    ----------
    n_draws : int
        Parameter draws.
    seed : int
        Seed of the draws (never the grid's).
    fit_lag : int
        Fit window, as in the head analysis.
    n_runs : int or None
        Runs per start item of each draw (None: the grid's).
    beta_enc, beta_rec, gamma_ft : (float, float)
        Draw bounds of each parameter (the default box is the grid's interior).
    """

    SECTION = "#/properties/episodic/properties/recovery"

    n_draws: int = 200
    seed: int = 1
    fit_lag: int = 5
    n_runs: int | None = None
    beta_enc: tuple[float, float] = (0.3, 0.9)
    beta_rec: tuple[float, float] = (0.3, 0.95)
    gamma_ft: tuple[float, float] = (0.0, 0.5)

    def bounds(self) -> dict[str, tuple[float, float]]:
        """The draw bounds per parameter."""
        return {p: getattr(self, p) for p in ("beta_enc", "beta_rec", "gamma_ft")}


@dataclass(frozen=True)
class EpisodicSettings(StageSettings):
    """The episodic stage's settings: ``EpisodicSettings.from_config({...})``.

    Attributes
    ----------
    models : tuple of str
        Names of config models the workflow analyses (a Python call passes sources).
    analyze_trained : bool
        The workflow also analyses the trained run's last checkpoint.
    device : str
        Torch device of the head analysis and ablation (``cpu``, ``auto``, ``cuda``,
        ``cuda:N``).
    seed : int or None
        Seed of the CMR grid and of the training run; None: the top-level seed (see
        `random_seed`).
    corpus : str
        Text file of the ablation's in-context-learning score (the workflow passes it).
    human : dict
        Free-recall datasets of the workflow: name -> ``{dataset, file}``.
    grid, heads, train, train_heads, recovery
        The parts (see the module docstring).
    """

    SECTION = "#/properties/episodic"

    models: tuple[str, ...] = ()
    analyze_trained: bool = False
    device: str = "cpu"
    seed: int | None = None
    corpus: str = ""
    human: dict[str, dict[str, str]] = field(default_factory=dict)
    grid: GridSettings = field(default_factory=GridSettings)
    heads: HeadSettings = field(default_factory=HeadSettings)
    train: TrainSettings | None = None
    train_heads: HeadSettings = field(
        default_factory=lambda: HeadSettings(half_len=16, n_seq=32, max_lag=5, fit_lag=3)
    )
    recovery: RecoverySettings = field(default_factory=RecoverySettings)

    @property
    def random_seed(self) -> int:
        """The seed of the grid and the training run: ``seed``, or the top-level default (0)."""
        if self.seed is not None:
            return self.seed
        return load_schema("config")["properties"]["seed"]["default"]
