"""The synthesis and captions pages: gallery order, the stats table as saved, simulated badge."""

import re

import numpy as np
import pytest
from test_brainscuba import _encoder_and_bank
from test_evaluate_synthesis import ColourEncoder, _run

from neuroalign.diffusion.brainscuba import BrainscubaSettings, caption_voxels
from neuroalign.diffusion.evaluate import EvaluateSettings, evaluate_synthesis
from neuroalign.report import build_report
from neuroalign.report.context import ReportContext
from neuroalign.report.stages import captions, diffusion
from neuroalign.results import load_netcdf


@pytest.fixture
def results(tmp_path):
    results = tmp_path / "results"
    synth = results / "diffusion" / "synth" / "demo" / "sub-01"
    synth.mkdir(parents=True)
    rng = np.random.default_rng(0)
    unguided = rng.uniform(0.2, 0.5, 10)
    manifest = _run(synth, unguided + rng.uniform(0.05, 0.3, 10), unguided)
    encoder = ColourEncoder()
    encoder.dataset = "sim_vision"
    evaluate_synthesis(
        EvaluateSettings.from_config({"n_bootstrap": 100, "device": "cpu"}),
        manifest=manifest,
        encoders={"guiding": encoder, "held_out": ColourEncoder(gain=0.5)},
        output=results / "diffusion" / "eval" / "demo" / "sub-01.nc",
    )
    return results


def test_diffusion_page(results):
    ctx = ReportContext(config={}, results=results, data_root=None, site=results / "site")
    page = diffusion.collect(ctx)
    assert page is not None and page.simulated
    ds = load_netcdf(results / "diffusion" / "eval" / "demo" / "sub-01.nc")
    d = ds["diff"].sel(encoder="guiding", target="red")
    assert page.headline.text() == (
        f"demo/sub-01: red: mean guided - unguided prediction = {float(d.sel(stat='mean')):.3f} "
        f"(95% bootstrap interval over seeds [{float(d.sel(stat='low')):.3f}, "
        f"{float(d.sel(stat='high')):.3f}]), Wilcoxon p = 0.002, 10 seeds"
    )
    tables = [b for b in page.sections[0].blocks if hasattr(b, "rows") and hasattr(b, "columns")]
    stats = tables[0].rows
    assert [r[1] for r in stats] == ["guiding", "held_out"]
    mean = float(ds["diff"].sel(encoder="guiding", target="red", stat="mean"))
    assert stats[0][3] == f"{mean:.3f}" and stats[0][5] == "0.002"  # 10 of 10 seeds rose
    assert stats[0][6] == "100"
    agreement = tables[1].rows
    assert agreement[0][:2] == ["red", "1.000"]
    notices = [b.text for b in page.sections[0].blocks if hasattr(b, "level")]
    assert any(t.startswith("Zero-shot category shares: skipped") for t in notices)


def test_gallery_shows_best_guided_next_to_twin(results):
    index = build_report(output=results / "report" / "index.html", config={}, results=results)
    html = (index.parent / "diffusion.html").read_text()
    srcs = [s.rsplit("/", 1)[-1] for s in re.findall(r'<img src="([^"]+)"', html)]
    srcs = [s for s in srcs if s.startswith("red_")]
    ds = load_netcdf(results / "diffusion" / "eval" / "demo" / "sub-01.nc")
    guided = ds["score"].sel(encoder="guiding", target="red", roi="red", condition="guided")
    best = np.argsort(-guided.values, kind="stable")[: diffusion.N_SHOWN]
    expected = []
    for seed in best:
        expected += [f"red_guided_{seed}.png", f"red_unguided_{seed}.png"]
    assert srcs == expected
    assert html.count('class="gallery-row"') == diffusion.N_SHOWN
    assert "Simulated data" in html
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert (index.parent / src).is_file()


def test_captions_page(tmp_path):
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((300, 32)) * rng.uniform(0.5, 3.0, (300, 1))
    enc, store, stimuli = _encoder_and_bank(tmp_path, bank)
    results = tmp_path / "results"
    caption_voxels(
        BrainscubaSettings.from_config({"device": "cpu", "top_k": 3}),
        encoder=enc,
        bank=store,
        stimuli=stimuli,
        output=results / "diffusion" / "captions" / "demo" / "sub-01.parquet",
    )
    ctx = ReportContext(config={}, results=results, data_root=None, site=tmp_path / "site")
    page = captions.collect(ctx)
    assert page is not None and page.simulated
    rows = page.sections[0].blocks[1].rows
    # ROI, voxels, words of its voxels' captions, caption, norm, top images
    assert {r[0]: r[2] for r in rows} == {"red": "img011 (6)", "blue": "img042 (6)"}
    assert {r[0]: r[3] for r in rows} == {"red": "img011", "blue": "img042"}
    assert rows[0][5].startswith(("img011 (", "img042 ("))
    # no image files: said in words, no empty gallery
    texts = [b.text for b in page.sections[0].blocks if hasattr(b, "level")]
    assert "The bank's image files are not available to show." in texts


def test_no_results_no_pages(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")
    assert diffusion.collect(ctx) is None and captions.collect(ctx) is None


@pytest.mark.browser
def test_pages_in_a_browser(results, browser, check_pages, tmp_path):
    from selenium.webdriver.common.by import By

    rng = np.random.default_rng(0)
    bank = rng.standard_normal((300, 32)) * rng.uniform(0.5, 3.0, (300, 1))
    enc, store, stimuli = _encoder_and_bank(tmp_path, bank)
    caption_voxels(
        BrainscubaSettings.from_config({"device": "cpu", "top_k": 3}),
        encoder=enc,
        bank=store,
        stimuli=stimuli,
        output=results / "diffusion" / "captions" / "demo" / "sub-01.parquet",
    )
    index = build_report(output=results / "report" / "index.html", config={}, results=results)
    site = index.parent
    pages = [site / "diffusion.html", site / "captions.html"]
    n_images = check_pages(browser, pages, tmp_path / "shot.png")
    assert n_images >= 2 * diffusion.N_SHOWN + 1  # the twins and the difference figure
    for page in pages:
        browser.get(page.as_uri())
        assert browser.find_elements(By.CSS_SELECTOR, ".banner-simulated"), page.name
        for figure in browser.find_elements(By.CSS_SELECTOR, "figure[data-axes]"):
            assert figure.get_attribute("data-empty-axes") == "0"
    browser.get((site / "diffusion.html").as_uri())
    headline = browser.find_element(By.CSS_SELECTOR, "p.headline").text
    assert (
        "red: mean guided - unguided prediction = " in headline
        and "interval over seeds [" in headline
    )
    browser.get(index.as_uri())
    assert "mean guided - unguided prediction" in browser.find_element(By.TAG_NAME, "body").text
