"""Reading trials from fixation and IA reports: labels, sequences, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _decode_sim import sim_goals

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate.reading_goals import FIXATIONS, IA, ia_measures
from neuroalign.reading.decode_data import read_reading_trials


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return sim_goals(tmp_path_factory.getbasetemp())


def test_onestop_sample_trials(shared_data):
    folder = shared_data / "reading"
    trials = read_reading_trials(
        folder / "onestop_sample_fixations.csv", folder / "onestop_sample_ia.csv"
    )
    assert len(trials) == 24
    assert set(trials.trials["participant"]) == {"l37_1129", "l7_1090"}
    # question_preview is True in every trial of the sample: all information seeking.
    assert (trials.labels("goal") == 1).all() and (trials.labels("correct") == 1).all()
    assert trials.trials["item_group"].iloc[0] == "2_2_1"  # the level is not part of the group
    assert trials.trials["span_start"].iloc[0] == 4 and trials.trials["span_end"].iloc[0] == 44
    raw = pd.read_csv(folder / "onestop_sample_fixations.csv", low_memory=False)
    on_text = pd.to_numeric(raw["CURRENT_FIX_INTEREST_AREA_ID"], errors="coerce").notna()
    assert len(trials.fixations) == on_text.sum()
    pos, dur = trials.sequence(0)
    assert pos[:4].tolist() == [0, 0, 1, 2] and dur[0] == pytest.approx(0.032)
    assert len(trials.words["2_2_1_Adv"]) == 111


def test_simulated_reports_round_trip(sim):
    trials = read_reading_trials(sim / FIXATIONS, sim / IA)
    assert len(trials) == 60
    # Participants x items crossed; the goal balanced within each participant.
    assert trials.trials.groupby("participant")["item"].nunique().eq(6).all()
    assert trials.trials.groupby("participant")["goal"].mean().eq(0.5).all()
    # The IA report's measures are those of the fixation sequence.
    ia = pd.read_csv(sim / IA, na_values=["."])
    first = ia[(ia["participant_id"] == "r01") & (ia["TRIAL_INDEX"] == 1)]
    row = trials.trials.index[trials.trials["trial"] == "r01:1"][0]
    pos, _dur = trials.sequence(row)
    counts = np.bincount(pos, minlength=len(first))
    assert (first["IA_FIXATION_COUNT"].to_numpy() == counts).all()
    cut = trials.first(5)
    assert all(len(cut.sequence(i)[0]) == min(5, len(trials.sequence(i)[0])) for i in range(10))


def test_ia_measures_follow_eyelink_definitions():
    # Words 0 1 2 3 4: read 0, 2 (skip 1), refixate 2, regress to 1, then 3; 4 never.
    m = ia_measures(np.array([0, 2, 2, 1, 3]), np.array([100.0, 200, 50, 80, 120]), 5)
    assert m["IA_SKIP"].tolist() == [0, 1, 0, 0, 1]
    assert m["IA_FIRST_RUN_DWELL_TIME"].iloc[2] == 250
    assert np.isnan(m["IA_FIRST_FIXATION_DURATION"].iloc[1])
    assert m["IA_REGRESSION_PATH_DURATION"].iloc[2] == 330  # 200 + 50 + 80 until word 3
    assert m["IA_REGRESSION_IN"].tolist() == [0, 1, 0, 0, 0]
    assert m["IA_DWELL_TIME"].tolist() == [100, 80, 250, 120, 0]


def test_trial_without_fixations_is_named(sim, tmp_path):
    fix = pd.read_csv(sim / FIXATIONS)
    fix = fix[~((fix["participant_id"] == "r02") & (fix["TRIAL_INDEX"] == 3))]
    fix.to_csv(tmp_path / "fix.csv", index=False)
    with pytest.raises(NeuroalignError, match=r"trial 'r02:3' has no fixations") as err:
        read_reading_trials(tmp_path / "fix.csv", sim / IA)
    assert "\n" not in str(err.value)


def test_fixation_on_a_missing_interest_area_is_named(sim, tmp_path):
    fix = pd.read_csv(sim / FIXATIONS)
    index = fix.index[(fix["participant_id"] == "r04") & (fix["TRIAL_INDEX"] == 2)][3]
    fix.loc[index, "CURRENT_FIX_INTEREST_AREA_ID"] = 999
    fix.to_csv(tmp_path / "fix.csv", index=False)
    with pytest.raises(NeuroalignError, match=r"trial 'r04:2' has a fixation on interest area 998"):
        read_reading_trials(tmp_path / "fix.csv", sim / IA)


def test_trial_missing_from_the_ia_report_is_named(sim, tmp_path):
    ia = pd.read_csv(sim / IA, keep_default_na=False)
    ia[ia["participant_id"] != "r05"].to_csv(tmp_path / "ia.csv", index=False)
    with pytest.raises(NeuroalignError, match=r"trial r05:\d+ of the fixation report"):
        read_reading_trials(sim / FIXATIONS, tmp_path / "ia.csv")
