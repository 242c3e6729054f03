"""Settings of the encode stage: one entry of the config's ``encode`` section.

The fields are the entry's keys (config/README.md explains each). ``options`` holds the keys of
the entry's kind, each declared in the schema with its type and default: `FmriOptions`,
`MegOptions`, `EyetrackingOptions`, `SentenceOptions` or `WordOptions`. A workflow job fills a
null ``seed`` with the top-level seed (`neuroalign.encode.workflow.stage_settings`); a Python call
that leaves it null gets the top-level seed's default, as the workflow does with the default
config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.schemas import load_schema
from neuroalign.settings import DEFAULT_ALPHAS, StageSettings, alpha_grid

__all__ = [
    "EncodeSettings",
    "EyetrackingOptions",
    "FmriOptions",
    "MegOptions",
    "SentenceOptions",
    "WordOptions",
]


@dataclass(frozen=True, kw_only=True)
class FmriOptions(StageSettings):
    """Options of ``kind: fmri`` (story fMRI in BIDS, voxels as targets).

    Attributes
    ----------
    test_task : str or None
        Task held out for testing; None: the task with several runs (the repeats).
    delays : tuple of int
        FIR delays in TRs.
    resample : {"sum", "mean"}
        Word -> TR Lanczos resampling (``sum`` tracks the word rate).
    trim : int
        TRs dropped at each run's start and end.
    n_perm : int
        Circular shifts in the null (0: no p and q).
    tf32_scoring : bool
        Score the alphas with TF32 tensor-core products on NVIDIA GPUs.
    """

    SECTION: ClassVar[str] = "#/$defs/encode_fmri_options"

    test_task: str | None = None
    delays: tuple[int, ...] = (1, 2, 3, 4)
    resample: str = "sum"
    trim: int = 2
    n_perm: int = 200
    tf32_scoring: bool = False


@dataclass(frozen=True, kw_only=True)
class MegOptions(StageSettings):
    """Options of ``kind: meg`` (story MEG in BIDS FIF, sensors as targets, TRFs).

    Attributes
    ----------
    task : str or None
        Task label of the recording; None: the only one.
    tmin, tmax : float
        First and last lag (s).
    sfreq : float
        Sampling rate (Hz) the recording is resampled to.
    l_freq, h_freq : float or None
        Band-pass edges (Hz) applied before resampling; None: that side open (both: none).
    notch : tuple of float
        Line-noise frequencies (Hz) to notch out; empty: none.
    n_components : int
        Principal components of the features, added to a word-onset impulse.
    test_blocks : int
        Last contiguous blocks (of ``folds``) held out for the scores, p and q.
    n_perm : int
        Circular shifts in the null (0: no p and q).
    """

    SECTION: ClassVar[str] = "#/$defs/encode_meg_options"

    task: str | None = None
    tmin: float = -0.1
    tmax: float = 0.6
    sfreq: float = 100.0
    l_freq: float | None = None
    h_freq: float | None = None
    notch: tuple[float, ...] = ()
    n_components: int = 8
    test_blocks: int = 1
    n_perm: int = 200


@dataclass(frozen=True, kw_only=True)
class MegEpochsOptions(StageSettings):
    """Options of ``kind: meg_epochs`` (any BIDS MEG: epochs per word, sensors x windows).

    Attributes
    ----------
    task, session, run : str or None
        BIDS entities of the recordings; None: every recording of the subject.
    trial_type, word_column : str
        Which events are words, and the column of their text.
    l_freq, h_freq : float or None
        Band-pass edges (Hz); None leaves that side open.
    notch : tuple of float
        Line-noise frequencies (Hz) to notch out; empty: none.
    sfreq : float
        Rate (Hz) the filtered recording is resampled to.
    tmin, tmax : float
        Epoch limits (s) around each word onset.
    baseline : tuple or None
        Baseline interval (s; None is the epoch's start or end); None: no correction.
    window : float
        Width (s) of the windows tiling 0 to ``tmax`` whose mean responses are the targets.
    n_components : int or None
        Principal components of the features (fitted on each training set); None: all units.
    group : {"auto", "story", "run", "block"}
        Cross-validation groups: words of a story (or run) are held out together; ``block``:
        contiguous blocks of words; ``auto``: story, else run, else block, whichever gives at
        least ``folds`` groups first.
    n_perm : int
        Circular shifts of the held-out predictions over the words in the null of r (0: no p
        and q).
    """

    SECTION: ClassVar[str] = "#/$defs/encode_meg_epochs_options"

    task: str | None = None
    session: str | None = None
    run: str | None = None
    trial_type: str = "word"
    word_column: str = "word"
    l_freq: float | None = 0.5
    h_freq: float | None = 30.0
    notch: tuple[float, ...] = ()
    sfreq: float = 100.0
    tmin: float = -0.2
    tmax: float = 0.8
    baseline: tuple[float | None, float | None] | None = (None, 0.0)
    window: float = 0.1
    n_components: int | None = None
    group: str = "auto"
    n_perm: int = 200


@dataclass(frozen=True, kw_only=True)
class EyetrackingOptions(StageSettings):
    """Options of ``kind: eyetracking``: none (the shared keys say everything)."""

    SECTION: ClassVar[str] = "#/$defs/encode_eyetracking_options"


@dataclass(frozen=True, kw_only=True)
class SentenceOptions(StageSettings):
    """Options of ``kind: sentences`` (one response per sentence in the stimulus table).

    Attributes
    ----------
    targets : tuple of str
        Response columns of the stimulus table.
    baseline : str
        ``strongest`` (each outer fold's best standard baseline on its training sentences),
        or one of ``length``, ``counts``, ``frequency``, ``all``
        (`neuroalign.encode.tables.SENTENCE_BASELINES`).
    n_perm : int
        Permutations in the refit nulls (0: no p and q).
    """

    SECTION: ClassVar[str] = "#/$defs/encode_sentences_options"

    targets: tuple[str, ...] = ("effect_size",)
    baseline: str = "strongest"
    n_perm: int = 1000


@dataclass(frozen=True, kw_only=True)
class WordOptions(StageSettings):
    """Options of ``kind: words`` (reading measures per word in the stimulus table).

    Attributes
    ----------
    measures, baseline : tuple of str or None
        Measure and baseline columns; None: the corpus' measures (known from the table's
        reader) and the strongest of its standard baselines, chosen on each training set.
    surprisal : tuple of str or None
        Surprisal columns fitted like a layer; ``()``: none; None: those the corpus ships.
    group : str or None
        Column grouping words into sentences or texts; None: the corpus'.
    keep_edges : bool
        Keep sentence-initial and sentence-final words.
    n_perm : int
        Permutations in the refit nulls (0: no p and q).
    """

    SECTION: ClassVar[str] = "#/$defs/encode_words_options"

    measures: tuple[str, ...] | None = None
    baseline: tuple[str, ...] | None = None
    surprisal: tuple[str, ...] | None = None
    group: str | None = None
    keep_edges: bool = False
    n_perm: int = 200


#: The options class of each kind.
OPTIONS: dict[str, type[StageSettings]] = {
    "fmri": FmriOptions,
    "meg": MegOptions,
    "meg_epochs": MegEpochsOptions,
    "eyetracking": EyetrackingOptions,
    "sentences": SentenceOptions,
    "words": WordOptions,
}


def _top_seed() -> int:
    """The default of the top-level ``seed``."""
    return load_schema("config")["properties"]["seed"]["default"]


@dataclass(frozen=True, kw_only=True)
class EncodeSettings(StageSettings):
    """How one encoding analysis runs: which activations, which penalties, which folds.

    Build it with ``EncodeSettings.from_config({"kind": "fmri", "dataset": ..., "stimset": ...,
    "models": [...]})``: the schema's defaults fill the rest, and ``options`` becomes the kind's
    options class. The routing keys (``dataset``, ``stimset``, ``models``, ``subjects``,
    ``report``, ``localized``) tell the workflow where the inputs are; the stage functions take
    the paths themselves.

    Attributes
    ----------
    kind : {"fmri", "meg", "eyetracking", "sentences", "words"}
        The kind of data, and so the stage function that runs it.
    variable : str
        Unit space of the activations.
    layers : "all" or tuple of int
        Layers to sweep (block indices as the store labels them; negative count from the end).
    alphas : tuple of float or mapping
        Ridge penalty grid (`grid` gives the array).
    folds : int
        Cross-validation folds.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (`neuroalign.devices`).
    dtype : {"float32", "float64"}
        Precision of the ridge products.
    seed : int or None
        Seed of the folds, nulls and searches (`random_seed` resolves a null).
    options : FmriOptions, MegOptions, EyetrackingOptions, SentenceOptions or WordOptions
        The kind's own settings.
    """

    SECTION: ClassVar[str] = "#/properties/encode/additionalProperties"

    kind: str
    dataset: str
    stimset: str
    models: tuple[str, ...]
    options: FmriOptions | MegOptions | EyetrackingOptions | SentenceOptions | WordOptions
    subjects: tuple[str, ...] = ("01",)
    report: str = "ia_report.csv"
    variable: str = "resid"
    layers: str | tuple[int, ...] = "all"
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ALPHAS)
    )
    folds: int = 5
    device: str = "auto"
    dtype: str = "float32"
    seed: int | None = None
    localized: str | None = None

    def __post_init__(self) -> None:
        expected = OPTIONS.get(self.kind)
        if expected is None:
            raise NeuroalignError(
                f"encode kind {self.kind!r} is unknown; use one of {', '.join(OPTIONS)}."
            )
        if not isinstance(self.options, expected):
            raise NeuroalignError(
                f"encode options of kind {self.kind!r} must be {expected.__name__}, not "
                f"{type(self.options).__name__}; build them with EncodeSettings.from_config."
            )

    @classmethod
    def _build(cls, values: Mapping[str, Any], where: str) -> EncodeSettings:
        values = dict(values)
        options = values.get("options", {})
        if values.get("kind") in OPTIONS and isinstance(options, Mapping):
            values["options"] = OPTIONS[values["kind"]]._build(options, f"{where}.options")
        return super()._build(values, where)

    @property
    def random_seed(self) -> int:
        """The seed of every random draw: ``seed``, or the top-level seed's default when null."""
        return _top_seed() if self.seed is None else self.seed

    @property
    def grid(self) -> np.ndarray:
        """The ridge penalties ``alphas`` names (`neuroalign.settings.alpha_grid`)."""
        return alpha_grid(self.alphas)

    def check_kind(self, kind: str) -> None:
        """Refuse settings of another kind (a stage function runs one kind).

        Raises
        ------
        NeuroalignError
            If ``self.kind`` is not ``kind``.
        """
        if self.kind != kind:
            raise NeuroalignError(
                f"encode settings of kind {self.kind!r} were passed to the {kind} stage; call "
                f"encode_{self.kind} (or `neuroalign encode {self.kind}`) instead."
            )
