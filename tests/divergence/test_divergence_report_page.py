"""The divergence report page, built from saved results of the planted simulation."""

from __future__ import annotations

import pytest

from neuroalign.divergence.settings import DivergenceSettings
from neuroalign.divergence.stage import compare_finetuned, divergence
from neuroalign.report.blocks import Figure, Notice
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.divergence import collect

FAST = {"layer": 1, "n_perm": 100, "n_boot": 50, "device": "cpu", "alphas": [1.0, 100.0]}


@pytest.fixture(scope="module")
def results(planted, tmp_path_factory):
    dataset, stores, _ = planted
    root = tmp_path_factory.mktemp("report") / "results"
    folder = root / "divergence" / "sim_meg_story"
    settings = DivergenceSettings.from_config(FAST)
    divergence(settings, activations=stores["base"], dataset=dataset, output=folder / "sub-01.nc")
    compare_finetuned(
        settings, base=stores["base"], finetuned=stores["finetuned"], control=stores["control"],
        dataset=dataset, output=folder / "sub-01_finetuned.nc",
    )  # fmt: skip
    return root


def _figures(page):
    return [b for p in page.walk() for s in p.sections for b in s.blocks if isinstance(b, Figure)]


def test_page_shows_ranking_contrasts_and_time_courses(results, tmp_path):
    site = tmp_path / "site"
    (site / "figures").mkdir(parents=True)
    ctx = ReportContext(config={}, results=results, data_root=None, site=site)
    page = collect(ctx)
    assert page is not None and page.simulated
    (sub,) = page.subpages
    assert sub.simulated and sub.slug == "divergence-sim_meg_story_sub-01"
    assert any(isinstance(b, Notice) and b.level == "simulated" for b in sub.sections[0].blocks)
    head = "sim_meg_story/sub-01: error difference of the top category (social) = 0."
    assert page.headline.text().startswith(head)
    assert page.headline.has_interval and page.headline.low > 0
    titles = [s.title for s in sub.sections]
    assert titles == [
        "Ranking", "Category contrasts", "Fine-tuned vs base", "Provenance",
    ]  # fmt: skip
    figures = _figures(page)
    assert len(figures) == 3 and all(f.n_empty == 0 for f in figures)
    contrasts = [b for b in sub.sections[1].blocks if hasattr(b, "columns")]
    assert len(contrasts) == 2  # before and after adding the planted missing feature
    assert contrasts[0].rows[1][0] == "social"


def test_no_results_no_page(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    assert collect(ctx) is None


def test_site_in_a_browser(results, browser, check_site, tmp_path):
    from neuroalign.report.build import build_report

    index = build_report(
        output=tmp_path / "report" / "index.html", config={"seed": 0}, results=results,
        collectors={"divergence": collect},
    )  # fmt: skip
    seen = check_site(browser, index.parent, expect_headlines=("divergence",))
    assert "divergence-sim_meg_story_sub-01.html" in seen["simulated"]
    assert seen["figures"] == 3
