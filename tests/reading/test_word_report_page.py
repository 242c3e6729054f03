"""The word-level reading effects page, built from saved results of simulated readers."""

from __future__ import annotations

import shutil

import pytest

from neuroalign.reading.word_settings import WordEffectsSettings
from neuroalign.reading.word_stage import word_effects
from neuroalign.report.blocks import Figure, Notice, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.reading_words import collect


@pytest.fixture(scope="module")
def site_inputs(tmp_path_factory):
    """results/ with one analysis, and data/ with the simulated readers and their truth."""
    from neuroalign.data.readers.onestop import read_onestop_ia
    from neuroalign.data.simulate.eyetracking import simulate_eyetracking
    from neuroalign.data.simulate.settings import SimEyetrackingSettings
    from neuroalign.data.stimuli import write_table

    root = tmp_path_factory.mktemp("report")
    data = root / "data" / "raw" / "sim_eyetracking"
    cfg = SimEyetrackingSettings.from_config({"n_readers": 10, "stories": ["lighthouse"]})
    simulate_eyetracking(data, cfg)
    table = read_onestop_ia(data / "ia_report.csv", stimset="sim_reading")
    table.attrs["dataset"] = "sim_eyetracking"
    stimuli = write_table(table, root / "sim_reading.parquet")
    settings = WordEffectsSettings.from_config(
        {"stimset": "sim_reading", "corpus_predictors": ["surprisal"],
         "log_measures": ["mean_FFD"], "mixed_measures": ["mean_FFD"]}
    )  # fmt: skip
    word_effects(
        settings, stimuli=stimuli, output=root / "results" / "reading" / "words" / "sim_reading.nc",
        participants=data / "ia_report.csv",
    )  # fmt: skip
    return root


def _figures(page):
    return [b for p in page.walk() for s in p.sections for b in s.blocks if isinstance(b, Figure)]


def test_page_shows_coefficients_delta_ll_lags_and_planted(site_inputs, tmp_path):
    site = tmp_path / "site"
    (site / "figures").mkdir(parents=True)
    ctx = ReportContext(
        config={}, results=site_inputs / "results", data_root=site_inputs / "data", site=site
    )
    page = collect(ctx)
    assert page is not None and page.simulated
    (sub,) = page.subpages
    assert any(isinstance(b, Notice) and b.level == "simulated" for b in sub.sections[0].blocks)
    assert page.headline.text().startswith("sim_reading: surprisal on mean_FFD")
    assert page.headline.has_interval and page.headline.low > 0
    planted = sub.sections[0].blocks[1]
    assert isinstance(planted, Table) and planted.rows[2][0] == "surprisal"
    assert "(covers)" in planted.rows[2][2] and "(covers)" in planted.rows[2][3]
    titles = [s.title for s in sub.sections]
    assert "Coefficients: mean_FFD" in titles and titles[-2:] == [
        "Alignment (lag profiles)", "Provenance",
    ]  # fmt: skip
    figures = _figures(page)
    assert len(figures) == 3 and all(f.n_empty == 0 for f in figures)


def test_no_results_no_page(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    assert collect(ctx) is None


def test_site_in_a_browser(site_inputs, browser, check_site, tmp_path):
    from neuroalign.report.build import build_report

    index = build_report(
        output=tmp_path / "report" / "index.html", config={"seed": 0},
        results=site_inputs / "results", data_root=site_inputs / "data",
        collectors={"reading_words": collect},
    )  # fmt: skip
    seen = check_site(browser, index.parent, expect_headlines=("reading_words",))
    assert "reading-words-sim_reading.html" in seen["simulated"]
    assert seen["figures"] == 3
    shutil.rmtree(tmp_path / "report")
