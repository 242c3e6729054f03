"""EyeLink ASCII reader on the real MNE testing file."""

from __future__ import annotations

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
