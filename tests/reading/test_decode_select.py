"""Goal selection: the planted given question is recovered in all regimes, the null is not."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from neuroalign.data.simulate.reading_goals import simulate_reading_goals
from neuroalign.data.simulate.settings import SimReadingGoalsSettings
from neuroalign.reading.decode import DecodeReadingSettings, decode_reading
from neuroalign.reading.decode_data import read_reading_trials
from neuroalign.report.blocks import Figure, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.reading_decode import collect
from neuroalign.results import load_netcdf

SIM = {"seed": 4, "n_participants": 16, "n_questions": 3}
SETTINGS = {
    "dataset": "sim_reading_goals",
    "tasks": ["goal", "goal_selection"],
    "decoders": ["text", "eye"],
    "n_bootstrap": 200,
    "online": {"decoders": ["eye"], "k": [20]},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("select") / "sim_reading_goals"
    return simulate_reading_goals(root, SimReadingGoalsSettings.from_config(SIM))


@pytest.fixture(scope="module")
def results(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("select_out") / "results"
    settings = DecodeReadingSettings.from_config(SETTINGS)
    return {
        name: load_netcdf(
            decode_reading(
                settings, dataset=sim / sub, output=out / "reading" / "decode" / f"{name}.nc"
            ),
            "result",
        ).sel(task="goal_selection")
        for name, sub in (("planted", ""), ("null", "null"))
    }, out


def test_candidates_and_labels(sim):
    trials = read_reading_trials(sim / "fixations.csv", sim / "ia.csv", sim / "questions.csv")
    assert set(trials.n_candidates()) == {3}
    spans = next(iter(trials.candidates.values()))
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    y = trials.labels("goal_selection")
    goal = trials.trials["goal"].to_numpy()
    assert np.isnan(y[goal == 0]).all() and not np.isnan(y[goal == 1]).any()
    # every question is given, and the null's questions are drawn anew
    assert set(y[goal == 1]) == {0, 1, 2}
    null = read_reading_trials(
        sim / "null/fixations.csv", sim / "null/ia.csv", sim / "questions.csv"
    )
    same_goal = (null.trials["goal"] == 1) & (goal == 1)
    agree = null.trials["question_index"][same_goal] == trials.trials["question_index"][same_goal]
    assert 0.15 < agree.mean() < 0.55
    # without the table the candidates come from the questions the reports show
    same = read_reading_trials(sim / "fixations.csv", sim / "ia.csv")
    assert set(same.n_candidates()) == {3}


def test_planted_selection_well_above_chance(results):
    ds = results[0]["planted"]
    assert float(ds["chance"]) == pytest.approx(1 / 3)
    for regime in ("item", "participant", "both"):
        eye = ds.sel(regime=regime, decoder="eye")
        assert float(eye["balanced_accuracy"]) > 0.8, regime
        assert float(eye["ci_low"]) > 0.6, regime
        text = ds.sel(regime=regime, decoder="text")
        assert float(text["ci_low"]) < 0.35 and float(text["balanced_accuracy"]) < 0.5
    assert float(ds["online_balanced_accuracy"].sel(online_decoder="eye", k=20)) > 1 / 3


def test_null_selection_at_chance(results):
    ds = results[0]["null"]
    for regime in ("item", "participant", "both"):
        for decoder in ("text", "eye"):
            cell = ds.sel(regime=regime, decoder=decoder)
            # no null cell is above chance; held-out folds of a balanced null can fall below it
            assert float(cell["ci_low"]) <= 1 / 3, (regime, decoder)
            assert abs(float(cell["balanced_accuracy"]) - 1 / 3) < 0.15, (regime, decoder)
    assert abs(float(ds["balanced_accuracy"].mean()) - 1 / 3) < 0.08


def test_page_marks_chance_one_in_k(results, tmp_path):
    ctx = ReportContext(config={}, results=results[1], data_root=None, site=tmp_path / "site")
    page = collect(ctx)
    tables = [b for sec in page.sections for b in sec.blocks if isinstance(b, Table)]
    runs = [t for t in tables if t.columns[-1] == "chance"]
    assert len(runs) == 2
    rows = [r for r in runs[0].rows if r[0].startswith("goal selection")]
    assert len(rows) == 6 and {r[-1] for r in rows} == {"0.333"}
    assert {r[-1] for r in runs[0].rows if r[0] == "reading goal"} == {"0.500"}
    assert any(isinstance(b, Figure) for sec in page.sections for b in sec.blocks)


def test_one_question_per_paragraph_is_skipped_with_reason(tmp_path):
    root = simulate_reading_goals(
        tmp_path / "one",
        SimReadingGoalsSettings.from_config(
            {"seed": 1, "n_participants": 4, "stories": ["lighthouse"], "null_copy": False}
        ),
    )
    settings = DecodeReadingSettings.from_config(
        {
            **SETTINGS,
            "tasks": ["goal_selection"],
            "online": {"decoders": ["eye"], "k": [10]},
            "n_bootstrap": 0,
        }
    )
    ds = load_netcdf(decode_reading(settings, dataset=root, output=tmp_path / "r.nc"), "r")
    status = json.loads(ds.attrs["status"])["goal_selection"]
    assert status.startswith("not decodable") and "candidate questions" in status
    assert np.isnan(ds["balanced_accuracy"].values).all()


def test_onestop_sample_has_no_candidate_questions(shared_data):
    folder = shared_data / "reading"
    trials = read_reading_trials(
        folder / "onestop_sample_fixations.csv", folder / "onestop_sample_ia.csv"
    )
    assert set(trials.n_candidates()) == {1}
    assert np.isnan(trials.labels("goal_selection")).all()
