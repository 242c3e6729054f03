"""Simulated goal-directed reading: OneStop reports, the planted null, recovery, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import SimReadingGoalsSettings, simulate
from neuroalign.recovery import recover

SMALL = {"seed": 1, "n_participants": 8, "stories": ["orchard"]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    settings = SimReadingGoalsSettings.from_config(SMALL)
    return simulate(settings, output=tmp_path_factory.mktemp("rg") / "sim_reading_goals")


def test_reports_are_onestop_shaped_and_crossed(dataset):
    fix = pd.read_csv(dataset / "fixations.csv")
    ia = pd.read_csv(dataset / "ia.csv", na_values=["."])
    for column in ("CURRENT_FIX_INTEREST_AREA_ID", "CURRENT_FIX_DURATION", "question_preview"):
        assert column in fix
    trials = ia.drop_duplicates(["participant_id", "TRIAL_INDEX"])
    assert len(trials) == 8 * 6
    assert trials.groupby("participant_id")["unique_paragraph_id"].nunique().eq(6).all()
    assert trials.groupby("participant_id")["question_preview"].mean().eq(0.5).all()
    # Per trial, the IA report's fixation counts add up to the fixation report's rows.
    counts = ia.groupby(["participant_id", "TRIAL_INDEX"])["IA_FIXATION_COUNT"].sum()
    assert counts.equals(fix.groupby(["participant_id", "TRIAL_INDEX"]).size().astype(counts.dtype))


def test_null_copy_shuffles_labels_within_participant_only(dataset):
    planted = pd.read_csv(dataset / "ia.csv").drop_duplicates(["participant_id", "TRIAL_INDEX"])
    null = pd.read_csv(dataset / "null" / "ia.csv").drop_duplicates(
        ["participant_id", "TRIAL_INDEX"]
    )
    same = ["participant_id", "TRIAL_INDEX", "unique_paragraph_id", "TRIAL_FIXATION_COUNT"]
    assert planted[same].reset_index(drop=True).equals(null[same].reset_index(drop=True))
    for column in ("question_preview", "is_correct"):
        a = planted.groupby("participant_id")[column].sum()
        assert a.equals(null.groupby("participant_id")[column].sum())
    assert (planted["question_preview"].to_numpy() != null["question_preview"].to_numpy()).any()
    fix = pd.read_csv(dataset / "fixations.csv")
    fix_null = pd.read_csv(dataset / "null" / "fixations.csv")
    assert fix["CURRENT_FIX_DURATION"].equals(fix_null["CURRENT_FIX_DURATION"])


def test_same_settings_same_bytes(dataset, tmp_path):
    again = simulate(SimReadingGoalsSettings.from_config(SMALL), output=tmp_path / "again")
    for name in ("fixations.csv", "ia.csv", "null/ia.csv"):
        assert (again / name).read_bytes() == (dataset / name).read_bytes()


def test_planted_goal_effects_are_recovered(dataset, tmp_path):
    ds = recover("reading_goals", dataset, tmp_path / "recovery.nc")
    planted = ds["planted_goal_skip"].to_numpy()
    recovered = ds["recovered_goal_skip"].to_numpy()
    assert np.sign(recovered).tolist() == np.sign(planted).tolist()
    assert np.abs(recovered - planted).max() < 0.35
    assert ds["recovered_comprehension_coef"].item() > 5  # planted 15, attenuated
    assert set(json.loads(ds.attrs["summary"])) == {
        "goal_skip_max_abs_error",
        "comprehension_coef_relative_error",
    }


def test_features_are_refused(tmp_path):
    table = tmp_path / "f.csv"
    table.write_text("text,x\nthe,1\n")
    with pytest.raises(NeuroalignError, match="takes no word features"):
        simulate(SimReadingGoalsSettings(), output=tmp_path / "out", features=table)


def test_command_line(tmp_path, capsys):
    from neuroalign.cli import main

    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({**SMALL, "n_participants": 2, "null_copy": False}))
    main(
        ["simulate", "reading_goals", "--settings", str(settings), "--output", str(tmp_path / "d")]
    )
    assert "wrote sim_reading_goals" in capsys.readouterr().out
    assert (tmp_path / "d" / "ia.csv").is_file() and not (tmp_path / "d" / "null").exists()
