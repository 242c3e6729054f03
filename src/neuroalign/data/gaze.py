"""Fixations from raw gaze samples through pymovements (I-VT and I-DT).

Pure functions on arrays and frames: :func:`detect_fixations` takes one trial's gaze samples in
screen pixels and returns its fixations; :func:`fixation_table` puts the fixations of a
recording's trials into the columns of a fixation report
(:func:`neuroalign.data.readers.onestop.read_onestop_fixations`), so that everything that
reads a dataset's own fixation report reads detected fixations too. Reading a recording (EyeLink
ASCII through MNE) is the reader's job (:mod:`neuroalign.data.readers.eyelink`).

The detection is pymovements' (Salvucci & Goldberg 2000), run the way pymovements documents it:
a :class:`pymovements.Gaze` with the screen's geometry, ``pix2deg`` (pixels to degrees of visual
angle), then for I-VT ``pos2vel`` (velocity in deg/s) and ``detect("ivt")``, for I-DT
``detect("idt")`` on the positions in degrees. Times follow EyeLink's fixation events: a
fixation's ``onset`` and ``offset`` are the times of its first and last sample, and its
``duration`` is ``offset - onset`` plus one sample period (EyeLink's ``EFIX`` duration and Data
Viewer's ``CURRENT_FIX_DURATION``), so a fixation of one sample lasts one sample period.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option

logger = logging.getLogger(__name__)

METHODS = ("ivt", "idt")
#: pymovements' velocity estimators (``Gaze.pos2vel(method=...)``) that need no further parameters.
VELOCITY_METHODS = ("preceding", "neighbors", "fivepoint", "smooth")
#: The columns of a fixation table (the fixation report's, see the module notes).
FIXATION_COLUMNS = (
    "participant",
    "trial",
    "story",
    "index",
    "onset",
    "offset",
    "duration",
    "x",
    "y",
    "position",
    "text",
    "eye",
)


@dataclass(frozen=True)
class Screen:
    """The display of a recording: its resolution and physical size, and the viewing distance.

    Attributes
    ----------
    width_px, height_px : int
        Resolution in pixels (EyeLink's ``DISPLAY_COORDS`` plus one).
    width_cm, height_cm : float
        Visible size of the display.
    distance_cm : float
        Eye-to-screen distance.
    """

    width_px: int
    height_px: int
    width_cm: float
    height_cm: float
    distance_cm: float

    @classmethod
    def from_pixels_per_degree(
        cls, width_px: int, height_px: int, pixels_per_degree: float, distance_cm: float = 60.0
    ) -> Screen:
        """The screen of a known resolution in pixels per degree (square pixels).

        EyeLink writes its own at the end of each recording block (``END ... RES 45.90
        46.06``: x and y pixels per degree); the physical size follows for ``distance_cm``.

        Examples
        --------
        >>> round(Screen.from_pixels_per_degree(1920, 1080, 46.0).pixels_per_degree, 6)
        46.0
        """
        cm_per_pixel = 2 * distance_cm * math.tan(math.radians(0.5)) / pixels_per_degree
        return cls(
            width_px, height_px, width_px * cm_per_pixel, height_px * cm_per_pixel, distance_cm
        )

    @property
    def pixels_per_degree(self) -> float:
        """Horizontal pixels per degree of visual angle at the centre of the screen."""
        cm_per_degree = 2 * self.distance_cm * math.tan(math.radians(0.5))
        return self.width_px / self.width_cm * cm_per_degree


def detect_fixations(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sampling_rate: float,
    screen: Screen,
    method: str = "ivt",
    velocity_threshold: float = 40.0,
    dispersion_threshold: float = 1.25,
    minimum_duration: float = 50.0,
    velocity_method: str = "fivepoint",
) -> pd.DataFrame:
    """Detect the fixations of one trial's gaze samples with pymovements.

    Parameters
    ----------
    x, y : array of shape (n_samples,)
        Gaze position in screen pixels (origin at the upper left, y downwards), one sample per
        ``1 / sampling_rate`` seconds; NaN where the tracker lost the eye (blinks). A fixation
        never spans a missing sample.
    sampling_rate : float
        Samples per second; the sample period must be a whole number of milliseconds (250,
        500 or 1000 Hz), as pymovements' I-DT counts time in integer steps.
    screen : Screen
        The display geometry, which turns pixels into degrees of visual angle.
    method : {"ivt", "idt"}
        Velocity threshold (I-VT) or dispersion threshold (I-DT) identification.
    velocity_threshold : float
        I-VT: samples slower than this (deg/s) are fixation samples.
    dispersion_threshold : float
        I-DT: the largest dispersion (x range + y range, in degrees) of a fixation's samples.
    minimum_duration : float
        Shortest fixation in ms, rounded up to a whole number of samples; I-VT compares it
        with ``offset - onset`` as pymovements does.
    velocity_method : str
        I-VT: pymovements' velocity estimator (one of :data:`VELOCITY_METHODS`); ``fivepoint``
        (its default) smooths over 5 samples, so fixation edges move by up to 2 samples,
        ``preceding`` and ``neighbors`` by at most one.

    Returns
    -------
    fixations : DataFrame
        One row per fixation in temporal order: ``onset_sample``, ``offset_sample`` (indices of
        the first and last sample), ``onset``, ``offset``, ``duration`` (seconds from the first
        sample; see the module notes), ``x``, ``y`` (mean position in pixels).

    Raises
    ------
    NeuroalignError
        On arrays of different lengths, a sample period that is not a whole millisecond, or
        a threshold that is not positive.
    """
    pm = _pymovements()
    check_option("method", method, METHODS)
    check_option("velocity_method", velocity_method, VELOCITY_METHODS)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise NeuroalignError(f"x and y must be 1-D of one length; got {x.shape} and {y.shape}.")
    period = 1000.0 / float(sampling_rate)
    step = round(period)
    if step < 1 or not math.isclose(period, step, abs_tol=1e-9):
        raise NeuroalignError(
            f"sampling_rate {sampling_rate} Hz has a sample period of {period:g} ms; fixation "
            "detection needs a whole number of milliseconds (250, 500 or 1000 Hz)."
        )
    for name, value in (
        ("velocity_threshold", velocity_threshold),
        ("dispersion_threshold", dispersion_threshold),
        ("minimum_duration", minimum_duration),
    ):
        if not value > 0:
            raise NeuroalignError(f"{name} must be positive; got {value}.")
    empty = pd.DataFrame(
        {
            "onset_sample": pd.Series(dtype=np.int64),
            "offset_sample": pd.Series(dtype=np.int64),
            **{c: pd.Series(dtype=float) for c in ("onset", "offset", "duration", "x", "y")},
        }
    )
    min_samples = max(2, math.ceil(minimum_duration / step - 1e-9))
    if len(x) < min_samples or not np.isfinite(x).any():
        return empty
    gaze = pm.gaze.from_numpy(
        time=np.arange(len(x), dtype=np.int64) * step,
        pixel=np.vstack([x, y]),
        experiment=pm.Experiment(
            screen_width_px=screen.width_px,
            screen_height_px=screen.height_px,
            screen_width_cm=screen.width_cm,
            screen_height_cm=screen.height_cm,
            distance_cm=screen.distance_cm,
            origin="upper left",
            sampling_rate=float(sampling_rate),
        ),
        time_unit="ms",
    )
    with warnings.catch_warnings():
        # pymovements warns about experimental parts of its API; nothing to act on here.
        warnings.simplefilter("ignore")
        gaze.pix2deg()
        if method == "ivt":
            gaze.pos2vel(method=velocity_method)
            gaze.detect(
                "ivt",
                velocity_threshold=float(velocity_threshold),
                minimum_duration=min_samples * step,
            )
        else:
            gaze.detect(
                "idt",
                dispersion_threshold=float(dispersion_threshold),
                minimum_duration=min_samples * step,
            )
    frame = gaze.events.frame
    if frame.height == 0:
        return empty
    onset = np.asarray(frame["onset"].to_numpy(), dtype=np.int64) // step
    offset = np.asarray(frame["offset"].to_numpy(), dtype=np.int64) // step
    mean_x, mean_y = _mean_positions(x, y, onset, offset)
    out = pd.DataFrame(
        {
            "onset_sample": onset,
            "offset_sample": offset,
            "onset": onset * step / 1000.0,
            "offset": offset * step / 1000.0,
            "duration": (offset - onset + 1) * step / 1000.0,
            "x": mean_x,
            "y": mean_y,
        }
    )
    return out.sort_values("onset_sample", kind="stable").reset_index(drop=True)


def fixation_table(
    fixations: dict[object, pd.DataFrame],
    *,
    participant: str = "",
    story: dict[object, str] | None = None,
    eye: str = "",
) -> pd.DataFrame:
    """Put the detected fixations of a recording's trials into a fixation table.

    Parameters
    ----------
    fixations : dict of trial -> DataFrame
        :func:`detect_fixations` output of each trial, its times from the trial's start.
    participant : str
        The reader.
    story : dict of trial -> str, optional
        The text each trial showed ("" when not given).
    eye : str
        The eye the samples came from (``Left`` / ``Right``, as a fixation report says).

    Returns
    -------
    table : DataFrame
        Columns :data:`FIXATION_COLUMNS`, as ``read_onestop_fixations`` returns them:
        ``index`` counts a trial's fixations from 1, ``onset, offset, duration`` are seconds
        from the trial start, ``position`` is -1 and ``text`` "" (no interest areas yet: see
        :func:`neuroalign.data.interest_areas.assign_interest_areas`).
    """
    story = story or {}
    parts = []
    for trial, frame in fixations.items():
        parts.append(
            pd.DataFrame(
                {
                    "participant": participant,
                    "trial": np.full(len(frame), trial),
                    "story": story.get(trial, ""),
                    "index": np.arange(1, len(frame) + 1, dtype=np.int64),
                    "onset": frame["onset"].to_numpy(dtype=float),
                    "offset": frame["offset"].to_numpy(dtype=float),
                    "duration": frame["duration"].to_numpy(dtype=float),
                    "x": frame["x"].to_numpy(dtype=float),
                    "y": frame["y"].to_numpy(dtype=float),
                    "position": np.full(len(frame), -1, dtype=np.int64),
                    "text": "",
                    "eye": eye,
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FIXATION_COLUMNS})
    table = pd.concat(parts, ignore_index=True)
    table["participant"] = table["participant"].astype(str)
    table["story"] = table["story"].astype(str)
    return table[list(FIXATION_COLUMNS)]


def match_events(
    detected: pd.DataFrame, reference: pd.DataFrame, *, tolerance: float
) -> np.ndarray:
    """Match reference fixations to detected ones by onset and offset.

    Parameters
    ----------
    detected, reference : DataFrame
        Fixations with ``onset`` and ``offset`` in seconds on one clock.
    tolerance : float
        The largest difference (s) of both the onsets and the offsets of a matched pair.

    Returns
    -------
    match : int ndarray of shape (n_reference,)
        For each reference fixation the row of the detected fixation it matches (each detected
        fixation matches at most one, the closest), -1 where none is within ``tolerance``.
    """
    d_on = detected["onset"].to_numpy(dtype=float)
    d_off = detected["offset"].to_numpy(dtype=float)
    match = np.full(len(reference), -1, dtype=np.int64)
    used = np.zeros(len(detected), dtype=bool)
    for i, (on, off) in enumerate(zip(reference["onset"], reference["offset"], strict=True)):
        error = np.maximum(np.abs(d_on - on), np.abs(d_off - off))
        error[used] = np.inf
        if len(error) and error.min() <= tolerance + 1e-9:
            j = int(error.argmin())
            match[i] = j
            used[j] = True
    return match


def _pymovements():
    """Import pymovements, undoing the root-logger setup its import does.

    ``pymovements.dataset`` calls ``logging.basicConfig(level=INFO)`` at import, which would
    print every library's info messages (and ours twice) in the importing process.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import pymovements
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return pymovements


def _mean_positions(
    x: np.ndarray, y: np.ndarray, onset: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    cx = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x))])
    cy = np.concatenate([[0.0], np.cumsum(np.nan_to_num(y))])
    cn = np.concatenate([[0], np.cumsum(np.isfinite(x))])
    n = cn[offset + 1] - cn[onset]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cx[offset + 1] - cx[onset]) / n, (cy[offset + 1] - cy[onset]) / n
