import json

import numpy as np
import pandas as pd

from neuroalign.data.simulate import SimEyetrackingSettings, simulate_eyetracking
from neuroalign.data.simulate.eyetracking import REPORT
from neuroalign.recovery import recover_eyetracking

REQUIRED = [
    "participant_id", "TRIAL_INDEX", "paragraph_id", "IA_ID", "IA_LABEL",
    "IA_FIRST_FIXATION_DURATION", "IA_FIRST_RUN_DWELL_TIME", "IA_DWELL_TIME", "IA_SKIP",
    "IA_FIXATION_COUNT", "word_length", "wordfreq_frequency", "surprisal",
]  # fmt: skip


def test_report_has_onestop_columns_and_dots_for_skipped(sim_eyetracking):
    raw = pd.read_csv(sim_eyetracking / REPORT, dtype=str, keep_default_na=False)
    assert set(REQUIRED) <= set(raw.columns)
    skipped = raw["IA_SKIP"] == "1"
    assert 0.2 < skipped.mean() < 0.6
    durations = ["IA_FIRST_FIXATION_DURATION", "IA_FIRST_RUN_DWELL_TIME", "IA_DWELL_TIME"]
    for col in [*durations, "IA_REGRESSION_PATH_DURATION"]:
        assert (raw.loc[skipped, col] == ".").all()
        assert raw.loc[~skipped, col].str.isdigit().all()
    assert (raw.loc[skipped, "IA_FIXATION_COUNT"] == "0").all()
    table = pd.read_csv(sim_eyetracking / REPORT, na_values=["."])
    fixated = table[table["IA_SKIP"] == 0]
    assert (fixated["IA_FIRST_RUN_DWELL_TIME"] >= fixated["IA_FIRST_FIXATION_DURATION"]).all()
    assert (fixated["IA_DWELL_TIME"] >= fixated["IA_FIRST_RUN_DWELL_TIME"]).all()
    assert 150 < fixated["IA_FIRST_FIXATION_DURATION"].median() < 300
    assert table["participant_id"].nunique() == 60
    assert (
        table.groupby("participant_id")["TRIAL_INDEX"]
        .nunique()
        .eq(table["TRIAL_INDEX"].max())
        .all()
    )


def test_columns_follow_the_real_onestop_report(sim_eyetracking, shared_data):
    real = pd.read_csv(shared_data / "reading" / "onestop_sample_ia.csv", nrows=5)
    ours = pd.read_csv(sim_eyetracking / REPORT, nrows=5)
    shared = [c for c in ours.columns if c != "surprisal"]
    assert set(shared) <= set(real.columns)
    assert real["IA_ID"].min() == ours["IA_ID"].min() == 0


def test_length_and_frequency_have_the_expected_direction(sim_eyetracking):
    table = pd.read_csv(sim_eyetracking / REPORT, na_values=["."])
    long_words = table["word_length_no_punctuation"] >= 7
    short_words = table["word_length_no_punctuation"] <= 3
    assert table.loc[long_words, "IA_SKIP"].mean() < table.loc[short_words, "IA_SKIP"].mean()


def test_recovered_coefficients_within_ten_percent(sim_eyetracking):
    rec = recover_eyetracking(sim_eyetracking)
    for name in ("skip_coef", "duration_coef"):
        planted = rec[f"planted_{name}"].to_numpy()[1:]
        recovered = rec[f"recovered_{name}"].to_numpy()[1:]
        assert np.all(np.abs(recovered / planted - 1) < 0.1), (name, planted, recovered)
    summary = json.loads(rec.attrs["summary"])
    assert summary["duration_coef_max_relative_error"] < 0.1


def test_same_seed_gives_identical_table(tmp_path):
    a = simulate_eyetracking(
        tmp_path / "a",
        SimEyetrackingSettings.from_config({"n_readers": 2, "stories": ["ferry"], "seed": 5}),
    )
    b = simulate_eyetracking(
        tmp_path / "b",
        SimEyetrackingSettings.from_config({"n_readers": 2, "stories": ["ferry"], "seed": 5}),
    )
    c = simulate_eyetracking(
        tmp_path / "c",
        SimEyetrackingSettings.from_config({"n_readers": 2, "stories": ["ferry"], "seed": 6}),
    )
    assert (a / REPORT).read_bytes() == (b / REPORT).read_bytes()
    assert (a / REPORT).read_bytes() != (c / REPORT).read_bytes()
