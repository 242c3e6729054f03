"""Settings of the simulators: one frozen dataclass per kind, built from the configuration schema.

Each class is the validated ``simulate.<kind>`` section of the configuration (schema
``$defs/sim_<kind>``), with the schema's defaults filled in. Cross-field rules the schema cannot
say (story chapters exist, the test story is not a training story, ``tmax > tmin``) are checked
when an object is built, so every way of making settings refuses the same mistakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from neuroalign._check import NeuroalignError, suggest
from neuroalign.settings import StageSettings

KINDS = ("fmri", "localizer", "meg", "eyetracking", "vision", "reading_goals")


class _CrossFieldError(NeuroalignError):
    """A rule between fields broken; `from_config` prefixes where the settings came from."""


class SimulateSettings(StageSettings):
    """Base of the simulators' settings: ``KIND`` names the simulated dataset kind."""

    KIND: ClassVar[str] = ""

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any] | None = None, source: str = "settings"
    ) -> Self:
        """Validate ``simulate.<kind>`` against the schema, fill its defaults, build the settings.

        Raises
        ------
        NeuroalignError
            One line naming the source, the field and the fix.
        """
        try:
            return super().from_config(section, source)
        except _CrossFieldError as err:
            raise NeuroalignError(f"{source}: {err}") from None

    @property
    def dataset(self) -> str:
        """The dataset id, ``sim_<kind>``."""
        return f"sim_{self.KIND}"

    def __post_init__(self) -> None:
        _check_stories(self)


def _check_stories(settings: SimulateSettings) -> None:
    from neuroalign.data.simulate.story import load_story

    chapters = list(load_story())
    kind = settings.KIND
    for key in ("train_stories", "stories", "test_story"):
        value = getattr(settings, key, None)
        if value is None:
            continue
        for name in [value] if isinstance(value, str) else value:
            if name not in chapters:
                raise _CrossFieldError(
                    f"field 'simulate.{kind}.{key}': unknown story chapter {name!r}; "
                    f"chapters are {', '.join(chapters)}.{suggest(name, chapters)}"
                )
    if isinstance(settings, SimFmriSettings) and settings.test_story in settings.train_stories:
        raise _CrossFieldError(
            f"field 'simulate.fmri.test_story': {settings.test_story!r} is also a training "
            "story; pick a chapter not in train_stories."
        )
    if isinstance(settings, SimMegSettings) and settings.tmax <= settings.tmin:
        raise _CrossFieldError(
            f"field 'simulate.meg.tmax' ({settings.tmax}) must be greater than tmin "
            f"({settings.tmin})."
        )


@dataclass(frozen=True)
class SimFeatures(StageSettings):
    """A model's activations for the story that drive the simulated fMRI voxels."""

    SECTION: ClassVar[str] = "#/$defs/sim_fmri/properties/features"

    model: str
    layer: int
    units: str = "resid"


@dataclass(frozen=True)
class SimFmriSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.fmri.simulate_fmri` (``simulate.fmri``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_fmri"
    KIND: ClassVar[str] = "fmri"

    enabled: bool = True
    seed: int | None = None
    n_subjects: int = 2
    voxel_size: float = 8
    tr: float = 2.0
    train_stories: tuple[str, ...] = ("lighthouse", "orchard", "ferry", "archive")
    test_story: str = "storm"
    test_repeats: int = 3
    feature_dim: int = 16
    roi_radius: float = 16
    signal_sd: float = 1.0
    noise_sd: float = 1.0
    noise_ar: float = 0.3
    lead_in: float = 8.0
    speech_rate: float = 2.5
    features: SimFeatures | None = None


@dataclass(frozen=True)
class SimLocalizerSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.localizer.simulate_localizer`."""

    SECTION: ClassVar[str] = "#/$defs/sim_localizer"
    KIND: ClassVar[str] = "localizer"

    enabled: bool = True
    seed: int | None = None
    n_subjects: int = 2
    voxel_size: float = 8
    tr: float = 2.0
    n_runs: int = 2
    blocks_per_condition: int = 8
    items_per_block: int = 3
    item_duration: float = 6.0
    fixation_duration: float = 14.0
    roi_radius: float = 16
    sentence_effect: float = 1.5
    nonword_ratio: float = 0.3
    visual_effect: float = 1.0
    noise_sd: float = 1.0
    noise_ar: float = 0.3


@dataclass(frozen=True)
class SimMegSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.meg.simulate_meg` (``simulate.meg``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_meg"
    KIND: ClassVar[str] = "meg"

    enabled: bool = True
    seed: int | None = None
    n_subjects: int = 1
    stories: tuple[str, ...] = ("lighthouse",)
    sfreq: float = 100.0
    tmin: float = 0.0
    tmax: float = 0.6
    trf_amplitude: float = 250.0
    noise_sd: float = 150.0
    lead_in: float = 3.0
    speech_rate: float = 2.5
    line_freq: float = 50
    divergent_category: str | None = None
    divergent_amplitude: float = 250.0
    bad_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkipModel(StageSettings):
    """Logistic model of first-pass skipping (``simulate.eyetracking.skip``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_eyetracking/properties/skip"

    intercept: float = -0.6
    length: float = -0.45
    frequency: float = -0.15
    surprisal: float = -0.1


@dataclass(frozen=True)
class DurationModel(StageSettings):
    """Log-normal model of first fixation duration (``simulate.eyetracking.duration``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_eyetracking/properties/duration"

    intercept: float = 5.35
    length: float = 0.025
    frequency: float = 0.03
    surprisal: float = 0.04
    noise_sd: float = 0.25
    reader_sd: float = 0.1


@dataclass(frozen=True)
class SimEyetrackingSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.eyetracking.simulate_eyetracking`."""

    SECTION: ClassVar[str] = "#/$defs/sim_eyetracking"
    KIND: ClassVar[str] = "eyetracking"

    enabled: bool = True
    seed: int | None = None
    n_readers: int = 20
    stories: tuple[str, ...] = ("lighthouse", "orchard", "ferry", "archive", "storm")
    skip: SkipModel = field(default_factory=SkipModel)
    duration: DurationModel = field(default_factory=DurationModel)
    refixation: float = 0.04
    regression: float = 0.1


@dataclass(frozen=True)
class SimVisionFeatures(StageSettings):
    """A model's activations for the simulated images that drive the simulated voxels."""

    SECTION: ClassVar[str] = "#/$defs/sim_vision/properties/features"

    model: str
    layer: int
    units: str = "resid"


@dataclass(frozen=True)
class SimVisionSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.vision.simulate_vision`."""

    SECTION: ClassVar[str] = "#/$defs/sim_vision"
    KIND: ClassVar[str] = "vision"

    enabled: bool = True
    seed: int | None = None
    n_subjects: int = 1
    image_size: int = 64
    n_train: int = 120
    n_test: int = 30
    train_repeats: int = 2
    test_repeats: int = 3
    n_sessions: int = 2
    runs_per_session: int = 3
    feature_dim: int = 16
    roi_radius: float = 2.5
    property_share: float = 0.6
    signal_sd: float = 1.0
    noise_sd: float = 1.0
    features: SimVisionFeatures | None = None

    def __post_init__(self) -> None:
        if self.n_test < 2:
            raise _CrossFieldError(
                f"field 'simulate.vision.n_test' is {self.n_test}; at least 2 test images are "
                "needed for test-set metrics."
            )


@dataclass(frozen=True)
class GoalSkipModel(StageSettings):
    """First-pass skipping of ``simulate.reading_goals`` (``skip``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_reading_goals/properties/skip"

    intercept: float = -0.8
    length: float = -0.3


@dataclass(frozen=True)
class GoalDurationModel(StageSettings):
    """Log-normal fixation durations of ``simulate.reading_goals`` (``duration``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_reading_goals/properties/duration"

    intercept: float = 5.35
    length: float = 0.03
    noise_sd: float = 0.3


@dataclass(frozen=True)
class GoalEffects(StageSettings):
    """The planted effects of the information-seeking goal (``simulate.reading_goals.goal``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_reading_goals/properties/goal"

    skip_outside: float = 1.0
    skip_inside: float = -0.5
    span_dwell: float = 0.15
    regress_intercept: float = -2.0
    regress_into_span: float = 3.0


@dataclass(frozen=True)
class ComprehensionModel(StageSettings):
    """The planted comprehension model (``simulate.reading_goals.comprehension``)."""

    SECTION: ClassVar[str] = "#/$defs/sim_reading_goals/properties/comprehension"

    intercept: float = 0.0
    span_coverage: float = 15.0
    item_sd: float = 0.5


@dataclass(frozen=True)
class SimReadingGoalsSettings(SimulateSettings):
    """Settings of :func:`~neuroalign.data.simulate.reading_goals.simulate_reading_goals`."""

    SECTION: ClassVar[str] = "#/$defs/sim_reading_goals"
    KIND: ClassVar[str] = "reading_goals"

    enabled: bool = True
    seed: int | None = None
    n_participants: int = 12
    stories: tuple[str, ...] = ("lighthouse", "orchard")
    span_fraction: float = 0.25
    reader_sd: float = 0.4
    refixation: float = 0.02
    regression: float = 0.05
    skip: GoalSkipModel = field(default_factory=GoalSkipModel)
    duration: GoalDurationModel = field(default_factory=GoalDurationModel)
    goal: GoalEffects = field(default_factory=GoalEffects)
    comprehension: ComprehensionModel = field(default_factory=ComprehensionModel)
    n_questions: int = 1
    null_copy: bool = True


#: The settings class of each simulated kind.
SETTINGS: dict[str, type[SimulateSettings]] = {
    cls.KIND: cls
    for cls in (
        SimFmriSettings,
        SimLocalizerSettings,
        SimMegSettings,
        SimEyetrackingSettings,
        SimVisionSettings,
        SimReadingGoalsSettings,
    )
}


def settings_class(kind: str) -> type[SimulateSettings]:
    """Return the settings class of simulated kind ``kind`` (error names the kinds)."""
    if kind not in SETTINGS:
        raise NeuroalignError(
            f"unknown simulated kind {kind!r}; choose one of {', '.join(KINDS)}."
            f"{suggest(kind, KINDS)}"
        )
    return SETTINGS[kind]
