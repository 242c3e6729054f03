"""EyeLink ASCII recordings through MNE: gaze samples plus fixation, saccade and blink events."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file, check_option

logger = logging.getLogger(__name__)

# MNE annotation description -> event kind.
_KINDS = {"fixation": "fixation", "saccade": "saccade", "BAD_blink": "blink"}


def read_eyelink(path: str | Path) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read an EyeLink ``.asc`` file with :func:`mne.io.read_raw_eyelink`.

    Parameters
    ----------
    path : path
        An EDF file converted to ASCII with ``edf2asc``.

    Returns
    -------
    raw : mne.io.Raw
        Gaze position and pupil channels (``xpos_left``, ``ypos_left``, ``pupil_left``, ...).
    events : DataFrame
        See :func:`eyelink_events`.
    """
    path = check_file(path, "EyeLink ASCII file")
    try:
        with warnings.catch_warnings():
            # MNE's parser uses pandas calls that newer pandas deprecates; nothing to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            raw = mne.io.read_raw_eyelink(path, verbose="error")
    except (ValueError, RuntimeError, IndexError) as err:
        raise NeuroalignError(
            f"{path}: MNE cannot read this EyeLink file ({err}); convert the EDF with edf2asc."
        ) from err
    return raw, eyelink_events(raw)


def eyelink_events(raw: mne.io.BaseRaw) -> pd.DataFrame:
    """Return the fixations, saccades, blinks and messages of an EyeLink recording.

    Parameters
    ----------
    raw : mne.io.Raw
        A recording read by :func:`mne.io.read_raw_eyelink`.

    Returns
    -------
    events : DataFrame
        One row per event, sorted by onset, columns ``kind`` (fixation, saccade, blink or
        message), ``onset``, ``duration`` (seconds from the first sample), ``eye`` (left,
        right, or "" for messages), ``x``, ``y`` (mean gaze position in pixels over the
        event's samples; NaN for blinks, messages and events outside the samples) and
        ``description`` (MNE's annotation text, e.g. ``trigger: 200``).
    """
    ann = raw.annotations
    rows = []
    for onset, duration, description, channels in zip(
        ann.onset, ann.duration, ann.description, ann.ch_names, strict=True
    ):
        kind = _KINDS.get(description, "message")
        eye = _eye(channels)
        rows.append((kind, float(onset), float(duration), eye, str(description)))
    events = pd.DataFrame(rows, columns=["kind", "onset", "duration", "eye", "description"])
    events["onset"] -= raw.first_time
    events["x"], events["y"] = _mean_gaze(raw, events)
    events = events.sort_values(["onset", "kind", "eye"], kind="stable").reset_index(drop=True)
    counts = events["kind"].value_counts().to_dict()
    logger.info("EyeLink events: %s", counts)
    return events[["kind", "onset", "duration", "eye", "x", "y", "description"]]


def _eye(channels: tuple[str, ...]) -> str:
    eyes = {c.rsplit("_", 1)[-1] for c in channels if c.rsplit("_", 1)[-1] in ("left", "right")}
    return eyes.pop() if len(eyes) == 1 else ""


def _mean_gaze(raw: mne.io.BaseRaw, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean x, y of each fixation or saccade over its samples (NaN where not available)."""
    x = np.full(len(events), np.nan)
    y = np.full(len(events), np.nan)
    names = set(raw.ch_names)
    sfreq = raw.info["sfreq"]
    wanted = events["kind"].isin(["fixation", "saccade"]) & events["eye"].ne("")
    for eye in ("left", "right"):
        if f"xpos_{eye}" not in names or f"ypos_{eye}" not in names:
            continue
        data = raw.get_data(picks=[f"xpos_{eye}", f"ypos_{eye}"])
        for i in np.flatnonzero(wanted & (events["eye"] == eye)):
            start = round(events["onset"].iat[i] * sfreq)
            stop = round((events["onset"].iat[i] + events["duration"].iat[i]) * sfreq) + 1
            segment = data[:, max(start, 0) : min(stop, data.shape[1])]
            if segment.size and np.isfinite(segment).any():
                x[i], y[i] = np.nanmean(segment, axis=1)
    return x, y


def eyelink_gaze(raw: mne.io.BaseRaw, eye: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """Return one eye's gaze samples of an EyeLink recording.

    Parameters
    ----------
    raw : mne.io.Raw
        A recording read by :func:`mne.io.read_raw_eyelink`.
    eye : {"auto", "left", "right"}
        Which eye; ``auto`` takes the right eye of a binocular recording (as EyeLink Data
        Viewer's reports do by default) and the only eye of a monocular one.

    Returns
    -------
    x, y : ndarray of shape (n_samples,)
        Gaze position in screen pixels; NaN where the tracker lost the eye (blinks).
    eye : str
        The eye taken, ``left`` or ``right``.

    Raises
    ------
    NeuroalignError
        If the recording has no gaze channels of that eye.
    """
    check_option("eye", eye, ("auto", "left", "right"))
    names = set(raw.ch_names)
    have = [e for e in ("right", "left") if {f"xpos_{e}", f"ypos_{e}"} <= names]
    if not have:
        raise NeuroalignError(
            "the recording has no gaze position channels (xpos_left/right, ypos_left/right); "
            "it must be recorded in screen (GAZE) coordinates."
        )
    chosen = have[0] if eye == "auto" else eye
    if chosen not in have:
        raise NeuroalignError(
            f"the recording has no {chosen} eye; it has {', '.join(have)}: set eye to one of them."
        )
    x, y = raw.get_data(picks=[f"xpos_{chosen}", f"ypos_{chosen}"])
    return x, y, chosen


def eyelink_trials(
    raw: mne.io.BaseRaw,
    events: pd.DataFrame,
    *,
    start: str | None = "TRIALID",
    end: str | None = None,
) -> pd.DataFrame:
    """Split a recording into trials at its messages.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording (for its sampling rate and length). A trial starts with the first sample
        at or after its message.
    events : DataFrame
        :func:`eyelink_events` output.
    start : str or None
        Regular expression a trial's first message matches (searched in the message text,
        e.g. ``TRIALID`` or ``trigger: 200``); the number in the message, when it has one
        and they are all different, is the trial's number, else trials count from 1. None,
        or no message matching: the whole recording is one trial, number 1.
    end : str or None
        Regular expression of the message that ends a trial (its samples stop before it); a
        trial without one (or with ``end=None``) lasts until the next trial's start or the
        end of the samples.

    Returns
    -------
    trials : DataFrame
        One row per trial: ``trial`` (int), ``start``, ``stop`` (sample indices, stop
        exclusive), ``message`` (the start message; "" for the whole recording).
    """
    n = raw.n_times
    sfreq = raw.info["sfreq"]
    messages = events[events["kind"] == "message"]
    starts = (
        messages[messages["description"].str.contains(start, regex=True)]
        if start
        else messages.iloc[:0]
    )
    starts = starts[starts["onset"] * sfreq < n]
    if starts.empty:
        if start:
            logger.info("no message matches %r; the whole recording is one trial", start)
        return pd.DataFrame({"trial": [1], "start": [0], "stop": [n], "message": [""]})
    begin = np.clip(np.ceil(starts["onset"].to_numpy() * sfreq - 1e-6).astype(np.int64), 0, n)
    stop = np.append(begin[1:], n)
    if end:
        ends = messages[messages["description"].str.contains(end, regex=True)]
        end_at = np.ceil(ends["onset"].to_numpy() * sfreq - 1e-6).astype(np.int64)
        for i in range(len(begin)):
            inside = end_at[(end_at > begin[i]) & (end_at <= stop[i])]
            if inside.size:
                stop[i] = inside[0]
    text = starts["description"].astype(str).to_numpy()
    numbers = pd.Series(text).str.extract(r"(\d+)\s*$")[0]
    if numbers.notna().all() and numbers.nunique() == len(numbers):
        trial = numbers.astype(np.int64).to_numpy()
    else:
        trial = np.arange(1, len(begin) + 1)
    return pd.DataFrame({"trial": trial, "start": begin, "stop": stop, "message": text})
