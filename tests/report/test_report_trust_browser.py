"""The trust features of the report in headless Chromium: badges, headlines, provenance, words
instead of empty panels."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign.report import build_report

pytestmark = pytest.mark.browser


def _encoding_results(results, rng):
    folder = results / "encoding"
    (folder / "sim_fmri").mkdir(parents=True)
    n = 200
    r_by_layer = rng.normal(0, 0.02, (3, n))
    r_by_layer[1, :30] += 0.4  # responsive voxels, best at layer 1
    q = np.ones(n)
    q[:30] = 0.001
    for name, qs in (("toy", q), ("silent", np.ones(n))):
        xr.Dataset(
            {
                "r": ("voxel", r_by_layer[1]),
                "q": ("voxel", qs),
                "r_by_layer": (("layer", "voxel"), r_by_layer),
                "best_layer": ("voxel", np.array(["0", "1", "2"])[np.argmax(r_by_layer, 0)]),
            },
            coords={"layer": ["0", "1", "2"], "voxel": np.arange(n)},
            attrs={"dataset": "sim_fmri", "config_hash": "abc"},
        ).to_netcdf(folder / "sim_fmri" / f"{name}.nc")
    xr.Dataset(
        {
            name: (("layer", "measure"), np.full((2, 1), v))
            for name, v in [("r2_baseline", 0.1), ("r2_full", 0.2), ("r2_gain", 0.1)]
        },
        coords={"layer": ["0", "1"], "measure": ["gaze_duration"]},
        attrs={"dataset": "sim_eyetracking", "baseline": '["word_length", "previous_word_length"]'},
    ).to_netcdf(folder / "reading.nc")


def test_badges_headlines_provenance_and_no_empty_panels(
    browser, check_pages, check_site, fake_run, tmp_path
):
    from selenium.webdriver.common.by import By

    _encoding_results(fake_run.results, np.random.default_rng(0))
    index = build_report(
        output=fake_run.results / "report" / "index.html",
        config={"seed": 0},
        results=fake_run.results,
        data_root=fake_run.data_root,
    )
    site = index.parent
    pages = [index, *sorted(p for p in site.glob("*.html") if p != index)]
    check_pages(browser, pages, tmp_path / "shot.png")
    seen = check_site(browser, site, expect_headlines=("encode",))
    assert seen["headlines"]["encode"].startswith("sim_fmri/silent: median r over all 200")
    assert {"simulate-sim_meg.html"} <= set(seen["simulated"]) and seen["figures"] >= 5

    browser.get(index.as_uri())
    stages = browser.find_element(By.CSS_SELECTOR, "ul.pages").text
    assert "median r over the 30 voxels with q < 0.05" in stages and "95% CI [" in stages

    simulated = [p for p in pages if p.name.startswith("encode-")]
    assert len(simulated) == 3
    for page in simulated:  # every page of simulated data carries the badge
        browser.get(page.as_uri())
        assert browser.find_elements(By.CSS_SELECTOR, ".banner-simulated"), page.name
        text = browser.find_element(By.TAG_NAME, "body").text
        assert not any(len(tok) > 12 and tok.replace(".", "").isdigit() for tok in text.split())

    (silent,) = [p for p in simulated if "silent" in p.name]
    (toy,) = [p for p in simulated if "toy" in p.name]
    (reading,) = [p for p in simulated if "reading" in p.name]
    browser.get(silent.as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "no voxel passes the declared threshold" in body  # said in words, not empty axes
    browser.get(toy.as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "declared set is the 30 voxels with q < 0.05" in body and "peaks at layer 1" in body
    browser.get(reading.as_uri())
    assert "previous_word_length" in browser.find_element(By.TAG_NAME, "body").text

    browser.get((site / "provenance.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    for field in ("git commit", "config hash", "config file", "sha256"):
        assert field in body, field
