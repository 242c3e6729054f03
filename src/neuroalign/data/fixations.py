"""From a raw EyeLink recording to a fixation report: the ``fixations`` stage.

:func:`detect_recording` reads an EyeLink ASCII file through MNE, splits it into trials at its
messages, detects each trial's fixations with pymovements (:mod:`neuroalign.data.gaze`), puts
them on the words when an interest-area report is given
(:mod:`neuroalign.data.interest_areas`), and writes a fixation report in the columns of EyeLink
Data Viewer's (the OneStop fixation report's ``CURRENT_FIX_*``), so that
:func:`neuroalign.data.readers.onestop.read_onestop_fixations` reads it like a dataset's own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance, write_json_atomic
from neuroalign.data.gaze import Screen, detect_fixations, fixation_table
from neuroalign.data.interest_areas import assign_interest_areas, check_fixations
from neuroalign.settings import StageSettings

logger = logging.getLogger(__name__)

__all__ = ["FixationSettings", "ScreenSettings", "detect_recording", "write_fixation_report"]


@dataclass(frozen=True)
class ScreenSettings(StageSettings):
    """The display geometry (``fixations.screen``)."""

    SECTION: ClassVar[str] = "#/$defs/fixations/properties/screen"

    width_px: int = 1920
    height_px: int = 1080
    width_cm: float = 53.0
    height_cm: float = 30.0
    distance_cm: float = 60.0
    pixels_per_degree: float | None = None

    def screen(self) -> Screen:
        """The :class:`~neuroalign.data.gaze.Screen` these settings describe."""
        if self.pixels_per_degree is not None:
            return Screen.from_pixels_per_degree(
                self.width_px, self.height_px, self.pixels_per_degree, self.distance_cm
            )
        return Screen(
            self.width_px, self.height_px, self.width_cm, self.height_cm, self.distance_cm
        )


@dataclass(frozen=True)
class FixationSettings(StageSettings):
    """How fixations are detected in a raw recording (the config's ``fixations`` section).

    Build it with ``FixationSettings.from_config({"method": "idt"})`` (the schema's defaults fill
    the rest). The fields are :func:`neuroalign.data.gaze.detect_fixations`' parameters plus
    the recording's screen, the eye and the trial messages.
    """

    SECTION: ClassVar[str] = "#/$defs/fixations"

    method: str = "ivt"
    velocity_threshold: float = 40.0
    velocity_method: str = "fivepoint"
    dispersion_threshold: float = 1.25
    minimum_duration: float = 50.0
    eye: str = "auto"
    trial_start: str | None = "TRIALID"
    trial_end: str | None = None
    screen: ScreenSettings = field(default_factory=ScreenSettings)

    def __post_init__(self) -> None:
        for name in ("trial_start", "trial_end"):
            pattern = getattr(self, name)
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as err:
                raise NeuroalignError(
                    f"field '{name}': {pattern!r} is not a regular expression ({err}); escape "
                    "special characters, e.g. 'trial\\(1\\)'."
                ) from None


def detect_recording(
    settings: FixationSettings,
    *,
    recording: str | Path,
    participant: str | None = None,
    interest_areas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Detect the fixations of every trial of an EyeLink recording.

    Parameters
    ----------
    settings : FixationSettings
        Detection method, thresholds, screen, eye and trial messages.
    recording : path
        An EyeLink ASCII (``.asc``) file.
    participant : str, optional
        The reader; default the file's stem.
    interest_areas : DataFrame, optional
        The words of the trials (``participant, trial, position, text, left, top, right,
        bottom``: an interest-area report's rows, see
        :func:`neuroalign.data.readers.onestop.read_onestop_boxes`); fixations of those trials
        get the interest area they fall in.

    Returns
    -------
    fixations : DataFrame
        A fixation table (:data:`neuroalign.data.gaze.FIXATION_COLUMNS`), times in seconds
        from each trial's start message.

    Raises
    ------
    NeuroalignError
        One line naming the trial: a trial without any fixation, or a trial of
        ``interest_areas`` the recording does not have.
    """
    from neuroalign.data.readers.eyelink import eyelink_gaze, eyelink_trials, read_eyelink

    recording = Path(recording)
    participant = participant or recording.stem
    raw, events = read_eyelink(recording)
    x, y, eye = eyelink_gaze(raw, settings.eye)
    trials = eyelink_trials(raw, events, start=settings.trial_start, end=settings.trial_end)
    sfreq = float(raw.info["sfreq"])
    detected = {}
    for trial, start, stop in trials[["trial", "start", "stop"]].itertuples(index=False):
        found = detect_fixations(
            x[start:stop],
            y[start:stop],
            sampling_rate=sfreq,
            screen=settings.screen.screen(),
            method=settings.method,
            velocity_threshold=settings.velocity_threshold,
            dispersion_threshold=settings.dispersion_threshold,
            minimum_duration=settings.minimum_duration,
            velocity_method=settings.velocity_method,
        )
        if found.empty:
            raise NeuroalignError(
                f"{recording.name}: participant {participant!r}, trial {trial}: no fixations "
                f"detected ({settings.method}); check the trial messages, the eye and the "
                "thresholds."
            )
        detected[int(trial)] = found
    logger.info(
        "%s: %d fixations in %d trials (%s, %s eye)",
        recording.name,
        sum(len(f) for f in detected.values()),
        len(detected),
        settings.method,
        eye,
    )
    table = fixation_table(detected, participant=participant, eye=eye.capitalize())
    if interest_areas is not None:
        table = _on_words(table, interest_areas)
        check_fixations(table, interest_areas)
    return table


def write_fixation_report(
    fixations: pd.DataFrame, output: str | Path, *, attrs: dict[str, str] | None = None
) -> Path:
    """Write a fixation table as an EyeLink Data Viewer fixation report (CSV).

    Parameters
    ----------
    fixations : DataFrame
        A fixation table (:data:`neuroalign.data.gaze.FIXATION_COLUMNS`).
    output : path
        The CSV to write (atomically); provenance goes to ``<output>.json`` beside it.
    attrs : dict, optional
        Provenance attributes.

    Returns
    -------
    output : Path

    Notes
    -----
    Columns ``participant_id, TRIAL_INDEX, CURRENT_FIX_INDEX, CURRENT_FIX_START,
    CURRENT_FIX_END, CURRENT_FIX_DURATION`` (ms from the trial start), ``CURRENT_FIX_X,
    CURRENT_FIX_Y`` (pixels), ``CURRENT_FIX_INTEREST_AREA_ID`` (1-based, ``.`` outside),
    ``CURRENT_FIX_INTEREST_AREA_LABEL`` and ``EYE_TRACKED``, plus ``paragraph_id`` when the
    table says which text each trial showed.
    """
    ms = np.round(fixations[["onset", "offset", "duration"]].to_numpy(dtype=float) * 1000.0)
    on_word = fixations["position"].to_numpy() >= 0
    report = pd.DataFrame(
        {
            "participant_id": fixations["participant"].astype(str).to_numpy(),
            "TRIAL_INDEX": fixations["trial"].to_numpy(dtype=np.int64),
            "CURRENT_FIX_INDEX": fixations["index"].to_numpy(dtype=np.int64),
            "CURRENT_FIX_START": ms[:, 0].astype(np.int64),
            "CURRENT_FIX_END": ms[:, 1].astype(np.int64),
            "CURRENT_FIX_DURATION": ms[:, 2].astype(np.int64),
            "CURRENT_FIX_X": np.round(fixations["x"].to_numpy(dtype=float), 1),
            "CURRENT_FIX_Y": np.round(fixations["y"].to_numpy(dtype=float), 1),
            "CURRENT_FIX_INTEREST_AREA_ID": np.where(
                on_word, (fixations["position"].to_numpy() + 1).astype(str), "."
            ),
            "CURRENT_FIX_INTEREST_AREA_LABEL": np.where(
                on_word, fixations["text"].astype(str).to_numpy(), "."
            ),
            "EYE_TRACKED": fixations["eye"].astype(str).to_numpy(),
        }
    )
    if "story" in fixations and fixations["story"].astype(str).ne("").any():
        report["paragraph_id"] = fixations["story"].astype(str).to_numpy()
    output = Path(output)
    with atomic_path(output) as tmp:
        report.to_csv(tmp, index=False)
    if attrs is not None:
        write_json_atomic(output.with_name(output.name + ".json"), attrs)
    return output


def fixations(
    settings: FixationSettings,
    *,
    recording: str | Path,
    output: str | Path,
    participant: str | None = None,
    interest_areas: str | Path | None = None,
) -> Path:
    """The ``fixations`` stage: an EyeLink recording in, a fixation report (CSV) out.

    Parameters
    ----------
    settings : FixationSettings
        See :func:`detect_recording`.
    recording : path
        The EyeLink ASCII file.
    output : path
        The fixation report to write (see :func:`write_fixation_report`).
    participant : str, optional
        The reader; default the recording's stem.
    interest_areas : path, optional
        An interest-area report (CSV with ``IA_LEFT/TOP/RIGHT/BOTTOM``) of this recording's
        trials: fixations are put on its words, and checked against them.

    Returns
    -------
    output : Path
    """
    from neuroalign.data.readers.onestop import read_onestop_boxes

    participant = participant or Path(recording).stem
    boxes = None
    if interest_areas is not None:
        boxes = read_onestop_boxes(interest_areas)
        boxes = boxes[boxes["participant"] == participant]
        if boxes.empty:
            raise NeuroalignError(
                f"{interest_areas}: no interest areas of participant {participant!r}; pass "
                "--participant as the report names the reader."
            )
    table = detect_recording(
        settings, recording=recording, participant=participant, interest_areas=boxes
    )
    inputs = {"recording": recording}
    if interest_areas is not None:
        inputs["interest_areas"] = interest_areas
    attrs = provenance(
        stage="fixations",
        config=settings.to_dict(),
        inputs=inputs,
        n_fixations=len(table),
        n_trials=int(table["trial"].nunique()),
    )
    return write_fixation_report(table, output, attrs=attrs)


def _on_words(table: pd.DataFrame, words: pd.DataFrame) -> pd.DataFrame:
    """Put fixations on the interest areas of their trial (trials without words keep -1)."""
    table = table.copy()
    for trial, rows in table.groupby("trial", sort=False):
        trial_words = words[words["trial"] == trial]
        if trial_words.empty:
            continue
        pos = assign_interest_areas(rows["x"], rows["y"], trial_words)
        positions = trial_words["position"].to_numpy()
        labels = trial_words["text"].astype(str).to_numpy(dtype=object)
        inside = pos >= 0
        table.loc[rows.index, "position"] = np.where(inside, positions[np.maximum(pos, 0)], -1)
        table.loc[rows.index, "text"] = np.where(inside, labels[np.maximum(pos, 0)], "")
        if "story" in trial_words:
            table.loc[rows.index, "story"] = str(trial_words["story"].iloc[0])
    return table
