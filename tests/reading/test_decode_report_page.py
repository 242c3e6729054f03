"""The reading-decoding page, built from saved runs on simulated readers (planted and null)."""

from __future__ import annotations

import shutil

import pytest
from _decode_sim import sim_goals

from neuroalign.reading.decode import DecodeReadingSettings, decode_reading
from neuroalign.report.blocks import Figure, Notice, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.reading_decode import collect

RUN = {
    "dataset": "sim_reading_goals",
    "decoders": ["text", "eye"],
    "n_bootstrap": 100,
    "online": {"decoders": ["eye"], "k": [10, 40]},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    sim = sim_goals(tmp_path_factory.getbasetemp())
    out = tmp_path_factory.mktemp("decode_report") / "results"
    folder = out / "reading" / "decode"
    decode_reading(
        DecodeReadingSettings.from_config(RUN), dataset=sim, output=folder / "sim_goals.nc"
    )
    null = DecodeReadingSettings.from_config(
        {**RUN, "fixations": "null/fixations.csv", "ia": "null/ia.csv"}
    )
    decode_reading(null, dataset=sim, output=folder / "sim_goals_null.nc")
    return out


def _blocks(page, kind):
    return [b for s in page.sections for b in s.blocks if isinstance(b, kind)]


def test_page_shows_regimes_null_beside_planted_and_error_tables(results, tmp_path):
    ctx = ReportContext(config={}, results=results, data_root=None, site=tmp_path / "site")
    page = collect(ctx)
    assert page is not None and page.simulated
    assert any(b.level == "simulated" for b in _blocks(page, Notice))
    head = page.headline
    assert head.has_interval and head.value > 0.8 and head.where == "sim_goals"
    assert "new paragraph and participant" in head.label
    side = page.sections[1].blocks[0]
    assert isinstance(side, Table) and side.columns[-2:] == ["sim_goals", "sim_goals_null"]
    goal_eye = [r for r in side.rows if r[0] == "reading goal" and r[2] == "eye"]
    assert len(goal_eye) == 3  # one row per regime
    for row in goal_eye:
        planted, null = (float(cell.split()[0]) for cell in row[3:])
        assert planted > 0.8 and abs(null - 0.5) < 0.15
    titles = [t.caption for t in _blocks(page, Table)]
    assert any("per item" in c for c in titles) and any("per participant" in c for c in titles)
    figures = _blocks(page, Figure)
    assert len(figures) == 4 and all(f.n_empty == 0 and f.n_axes > 0 for f in figures)


def test_no_results_no_page(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    assert collect(ctx) is None


def test_site_in_a_browser(results, browser, check_site, tmp_path):
    from neuroalign.report.build import build_report

    index = build_report(
        output=tmp_path / "report" / "index.html",
        config={"seed": 0},
        results=results,
        data_root=None,
        collectors={"reading_decode": collect},
    )
    seen = check_site(browser, index.parent, expect_headlines=("reading_decode",))
    assert "reading-decode.html" in seen["simulated"]
    assert seen["figures"] == 4
    shutil.rmtree(tmp_path / "report")
