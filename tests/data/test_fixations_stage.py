"""``neuroalign fixations``: from an EyeLink ASCII recording to a fixation report and back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.data.fixations import FixationSettings, detect_recording, fixations
from neuroalign.data.gaze import FIXATION_COLUMNS
from neuroalign.data.interest_areas import trial_measures
from neuroalign.data.readers.onestop import read_onestop_boxes, read_onestop_fixations

SFREQ = 500
STEP = 2  # ms per sample
WORDS = ["The", "old", "wolf", "ran", "home."]
LEFT = 200  # the words' boxes: 120 px wide from x = 200, y 380 .. 420
WIDTH = 120


def _write_asc(path, trials):
    """A monocular 500 Hz EyeLink ASCII file: per trial TRIALID, samples, TRIAL_RESULT."""
    t = 10000
    lines = [
        "** CONVERTED FROM reader.edf using edfapi 4.0",
        "** TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED",
        "** VERSION: EYELINK II 1",
        "** SOURCE: EYELINK CL",
        "**",
        "",
        f"MSG\t{t - 2} DISPLAY_COORDS = 0 0 1919 1079",
        f"START\t{t} \tRIGHT\tSAMPLES\tEVENTS",
        "PRESCALER\t1",
        "VPRESCALER\t1",
        "PUPIL\tAREA",
        f"EVENTS\tGAZE\tRIGHT\tRATE\t {SFREQ:.2f}\tTRACKING\tCR\tFILTER\t2",
        f"SAMPLES\tGAZE\tRIGHT\tRATE\t {SFREQ:.2f}\tTRACKING\tCR\tFILTER\t2",
    ]
    for trial, x, y in trials:
        lines.append(f"MSG\t{t} TRIALID {trial}")
        for xi, yi in zip(x, y, strict=True):
            if np.isnan(xi):
                lines.append(f"{t}\t   .\t   .\t    0.0\t...")
            else:
                lines.append(f"{t}\t {xi:.1f}\t {yi:.1f}\t 1000.0\t...")
            t += STEP
        lines.append(f"MSG\t{t} TRIAL_RESULT 0")
        for _ in range(40):  # between trials: gaze on a fixation cross
            lines.append(f"{t}\t 960.0\t 540.0\t 1000.0\t...")
            t += STEP
    lines.append(f"END\t{t} \tSAMPLES\tEVENTS\tRES\t  46.00\t  46.00")
    path.write_text("\n".join(lines) + "\n")


def _reading(words, samples, rng):
    """Gaze that fixates word ``words[i]`` for ``samples[i]`` samples; 8-sample saccades."""
    x, y = [], []
    centres = [LEFT + WIDTH * w + WIDTH / 2 for w in words]
    for i, (cx, n) in enumerate(zip(centres, samples, strict=True)):
        x.append(np.full(n, cx))
        y.append(np.full(n, 400.0))
        if i + 1 < len(centres):
            x.append(cx + (centres[i + 1] - cx) * np.linspace(0, 1, 10)[1:-1])
            y.append(np.full(8, 400.0))
    x, y = np.concatenate(x), np.concatenate(y)
    return x + rng.normal(0, 0.2, len(x)), y + rng.normal(0, 0.2, len(y))


# Trial 1 reads the words in order, skipping "wolf" (2) and regressing from "ran" to "old".
PLAN = {1: ([0, 1, 3, 1, 3, 4], [100, 120, 110, 90, 80, 150]), 2: ([0, 1, 2, 3, 4], [90] * 5)}


@pytest.fixture
def reading_files(tmp_path):
    rng = np.random.default_rng(1)
    trials = [(t, *_reading(*PLAN[t], rng)) for t in PLAN]
    asc = tmp_path / "r01.asc"
    _write_asc(asc, trials)
    rows = [
        {
            "participant_id": "r01",
            "TRIAL_INDEX": trial,
            "paragraph_id": f"p{trial}",
            "IA_ID": i + 1,
            "IA_LABEL": word,
            "IA_LEFT": LEFT + WIDTH * i,
            "IA_RIGHT": LEFT + WIDTH * (i + 1),
            "IA_TOP": 380,
            "IA_BOTTOM": 420,
        }
        for trial in PLAN
        for i, word in enumerate(WORDS)
    ]
    ia = tmp_path / "ia.csv"
    pd.DataFrame(rows).to_csv(ia, index=False)
    settings = tmp_path / "fix.json"
    settings.write_text(
        json.dumps({"trial_end": "TRIAL_RESULT", "screen": {"pixels_per_degree": 46.0}})
    )
    return asc, ia, settings


def test_cli_writes_a_report_the_onestop_reader_reads(reading_files, tmp_path, capsys):
    asc, ia, settings = reading_files
    out = tmp_path / "out" / "fixations.csv"
    status = main(
        [
            "fixations",
            "--settings",
            str(settings),
            "--recording",
            str(asc),
            "--output",
            str(out),
            "--interest-areas",
            str(ia),
        ]
    )
    assert status == 0
    assert f"{out}: 11 fixations in 2 trials (ivt)" in capsys.readouterr().out
    table = read_onestop_fixations(out)
    assert tuple(table.columns) == FIXATION_COLUMNS
    assert table.groupby("trial")["position"].apply(list).to_dict() == {
        t: words for t, (words, _) in PLAN.items()
    }
    assert table["text"].tolist()[:3] == ["The", "old", "ran"]
    assert set(table["story"]) == {"p1", "p2"} and set(table["eye"]) == {"Right"}
    provenance = json.loads(out.with_name("fixations.csv.json").read_text())
    assert provenance["stage"] == "fixations"
    assert json.loads(provenance["config"])["method"] == "ivt"
    # The planted durations, within the five-point velocity filter's 2 samples per edge.
    planted = np.concatenate([np.array(PLAN[t][1]) * STEP / 1000 for t in PLAN])
    assert np.abs(table["duration"].to_numpy() - planted).max() <= 4 * STEP / 1000 + 1e-9
    # The word measures from the detected fixations: skip and regressions exactly.
    measures = trial_measures(table, read_onestop_boxes(ia))
    first = measures[measures["trial"] == 1].set_index("position")
    assert first["skip"].tolist() == [False, False, True, False, False]
    assert first["regression_out_count"].tolist() == [0, 0, 0, 1, 0]
    assert first["regression_in_count"].tolist() == [0, 1, 0, 0, 0]
    assert first["fixation_count"].tolist() == [1, 2, 0, 2, 1]
    # Go-past time of "ran": its own fixation, the regression to "old" and the return.
    detected = table[table["trial"] == 1]["duration"].to_numpy() * 1000
    assert first.loc[3, "RPD"] == pytest.approx(detected[2:5].sum())
    assert first.loc[3, "GD"] == pytest.approx(detected[2])


def test_a_trial_without_fixations_names_it(reading_files, tmp_path):
    asc, _, _ = reading_files
    rng = np.random.default_rng(2)
    x, y = _reading([0, 1], [100, 100], rng)
    lost = np.full(150, np.nan)
    _write_asc(asc, [(1, x, y), (7, lost, lost)])
    settings = FixationSettings.from_config({"trial_end": "TRIAL_RESULT"})
    with pytest.raises(NeuroalignError, match=r"participant 'r01', trial 7: no fixations"):
        detect_recording(settings, recording=asc)


def test_interest_areas_of_another_reader_are_refused(reading_files, tmp_path):
    asc, ia, _ = reading_files
    extra = pd.read_csv(ia)
    pd.concat([extra, extra.assign(TRIAL_INDEX=9)]).to_csv(tmp_path / "ia9.csv", index=False)
    with pytest.raises(NeuroalignError, match=r"participant 'r01', trial 9: the trial has no"):
        fixations(
            FixationSettings.from_config({"trial_end": "TRIAL_RESULT"}),
            recording=asc,
            output=tmp_path / "x.csv",
            interest_areas=tmp_path / "ia9.csv",
        )
    with pytest.raises(NeuroalignError, match="no interest areas of participant 'r02'"):
        fixations(
            FixationSettings.from_config({}),
            recording=asc,
            output=tmp_path / "x.csv",
            participant="r02",
            interest_areas=ia,
        )


def test_cli_on_the_real_eyelink_file(shared_data, tmp_path, capsys):
    """The MNE test recording split at its ``trigger: 200`` messages (5 within the samples)."""
    settings = tmp_path / "fix.json"
    settings.write_text(
        json.dumps({"trial_start": "trigger: 200", "screen": {"pixels_per_degree": 45.98}})
    )
    out = tmp_path / "real.csv"
    recording = shared_data / "formats" / "test_eyelink.asc"
    args = ["--settings", str(settings), "--recording", str(recording), "--output", str(out)]
    status = main(["fixations", *args, "--participant", "sub-00"])
    assert status == 0
    table = read_onestop_fixations(out)
    assert sorted(table["trial"].unique()) == [1, 2, 3, 4, 5]
    assert set(table["participant"]) == {"sub-00"} and set(table["eye"]) == {"Right"}
    assert (table["position"] == -1).all()  # no interest areas given
    # Trials start at their message; fixations before the first trigger (0.66 s) are not kept.
    assert (table["onset"] >= 0).all() and table.groupby("trial")["index"].min().eq(1).all()
    # Back on the recording's clock, the report holds the file's own fixations (EFIX lines
    # of the right eye) that lie inside a trial: measured 121 of 126 within 10 ms, as on the
    # whole recording (test_gaze); a fixation that straddles a trigger is split in two.
    from neuroalign.data.gaze import match_events
    from neuroalign.data.readers.eyelink import eyelink_trials, read_eyelink

    raw, events = read_eyelink(recording)
    trials = eyelink_trials(raw, events, start="trigger: 200").set_index("trial")
    start = trials.loc[table["trial"], "start"].to_numpy() / raw.info["sfreq"]
    ours = pd.DataFrame({"onset": table["onset"] + start, "offset": table["offset"] + start})
    efix = events[(events["kind"] == "fixation") & (events["eye"] == "right")].copy()
    efix["offset"] = efix["onset"] + efix["duration"] - 1 / raw.info["sfreq"]
    first, last = trials["start"].min() / 500, trials["stop"].max() / 500
    efix = efix[(efix["onset"] >= first) & (efix["offset"] < last)]
    matched = match_events(ours, efix, tolerance=0.010) >= 0
    assert matched.mean() >= 0.93
    assert capsys.readouterr().out.startswith(f"{out}: {len(table)} fixations in 5 trials")


def test_settings_refuse_a_bad_trial_message_pattern():
    with pytest.raises(NeuroalignError, match=r"field 'trial_start': '\(' is not a regular"):
        FixationSettings.from_config({"trial_start": "("})
    settings = FixationSettings.from_config({"screen": {"pixels_per_degree": 46.0}})
    assert settings.screen.screen().pixels_per_degree == pytest.approx(46.0)
    assert settings.method == "ivt" and settings.velocity_threshold == 40.0
