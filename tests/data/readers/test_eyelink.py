"""EyeLink ASCII reader on the real MNE testing file."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.eyelink import read_eyelink


@pytest.fixture(scope="module")
def eyelink(shared_data):
    return read_eyelink(shared_data / "formats" / "test_eyelink.asc")


def test_recording(eyelink):
    raw, _ = eyelink
    assert raw.info["sfreq"] == 500.0
    assert {"xpos_left", "xpos_right", "pupil_left", "pupil_right"} <= set(raw.ch_names)
    assert raw.times[-1] == pytest.approx(60.47, abs=0.01)  # 30,236 samples


def test_event_counts(eyelink):
    _, events = eyelink
    counts = events["kind"].value_counts().to_dict()
    # 252 EFIX, 252 ESACC and 26 EBLINK lines; MNE builds events from their end lines.
    assert counts["fixation"] == 252
    assert counts["saccade"] == 252
    assert counts["blink"] == 26
    fixations = events[events["kind"] == "fixation"]
    assert fixations["eye"].value_counts().to_dict() == {"right": 127, "left": 125}
    assert events["onset"].is_monotonic_increasing
    assert "trigger: 200" in set(events.loc[events["kind"] == "message", "description"])


def test_fixation_position_matches_the_efix_line(eyelink):
    _, events = eyelink
    first = events[(events["kind"] == "fixation") & (events["eye"] == "right")].iloc[0]
    # EFIX R 5511183 5511747 566 990.1 515.8 (start, end, duration ms, mean x, mean y)
    assert first["duration"] == pytest.approx(0.566)
    assert first["x"] == pytest.approx(990.1, abs=0.5)
    assert first["y"] == pytest.approx(515.8, abs=0.5)
    blinks = events[events["kind"] == "blink"]
    assert blinks["x"].isna().all()


def test_bad_file(tmp_path):
    with pytest.raises(NeuroalignError, match="EyeLink ASCII file not found"):
        read_eyelink(tmp_path / "none.asc")


def test_gaze_of_one_eye(eyelink):
    from neuroalign.data.readers.eyelink import eyelink_gaze

    raw, _ = eyelink
    x, y, eye = eyelink_gaze(raw)
    assert eye == "right" and x.shape == y.shape == (raw.n_times,)
    assert np.nanmean(x) == pytest.approx(np.nanmean(raw.get_data(picks="xpos_right")))
    assert eyelink_gaze(raw, "left")[2] == "left"
    with pytest.raises(NeuroalignError, match="'eye'"):
        eyelink_gaze(raw, "both")


def test_trials_at_messages(eyelink):
    from neuroalign.data.readers.eyelink import eyelink_trials

    raw, events = eyelink
    trials = eyelink_trials(raw, events, start="trigger: 200")
    # Five "trigger: 200" messages fall within the samples (MSG 5511842 .. 5569336); the same
    # number in each, so trials count from 1. Each lasts until the next one starts.
    assert trials["trial"].tolist() == [1, 2, 3, 4, 5]
    # A trial starts with the first sample at or after its message (samples every 2 ms from
    # 5511179, so 5511843 for the message at 5511842).
    assert trials["start"].iloc[0] == (5511843 - 5511179) // 2
    assert (trials["stop"].to_numpy()[:-1] == trials["start"].to_numpy()[1:]).all()
    assert trials["stop"].iloc[-1] == raw.n_times
    ended = eyelink_trials(raw, events, start="trigger: 200", end="trigger: 2[0-3][1-9]")
    assert (ended["stop"] < trials["stop"]).all()  # each trial ends at its next 20x/21x/22x
    whole = eyelink_trials(raw, events, start="TRIALID")  # no such message in this file
    assert whole[["trial", "start", "stop"]].values.tolist() == [[1, 0, raw.n_times]]
