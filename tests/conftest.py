"""Shared fixtures: the offline dataset mirror and the repository root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_root() -> Path | None:
    """Return the real-data mirror (``NEUROALIGN_MIRROR`` or ``../shared/data``), if present."""
    env = os.environ.get("NEUROALIGN_MIRROR")
    candidates = [Path(env)] if env and "://" not in env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


@pytest.fixture(autouse=True, scope="session")
def _checksum_cache(tmp_path_factory):
    """Weight checksums cached in a session folder, never in the user's cache."""
    old = os.environ.get("NEUROALIGN_CACHE")
    os.environ["NEUROALIGN_CACHE"] = str(tmp_path_factory.mktemp("neuroalign-cache"))
    yield
    if old is None:
        os.environ.pop("NEUROALIGN_CACHE", None)
    else:
        os.environ["NEUROALIGN_CACHE"] = old


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where pyproject.toml is)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data mirror; tests that need it skip with a reason when it is absent."""
    root = mirror_root()
    if root is None:
        reason = "real-data mirror not found: set NEUROALIGN_MIRROR to a copy of the mirror"
        if os.environ.get("NEUROALIGN_REQUIRE_MIRROR"):
            pytest.fail(reason)
        pytest.skip(reason)
    return root


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
        reason = (
            "headless browser test needs chromium and chromedriver on PATH "
            "(Debian packages chromium and chromium-driver)"
        )
        if os.environ.get("NEUROALIGN_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
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


def _check_pages_in_browser(driver, pages, screenshot: Path) -> int:
    """Load every page: complete, every image decoded, no console errors; screenshot the first.

    Returns the number of images seen.
    """
    n_images = 0
    for page in pages:
        driver.get(page.as_uri())
        assert driver.execute_script("return document.readyState") == "complete", page.name
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);"
        )
        for src, complete, width in images:
            assert complete and width > 0, f"{page.name}: image {src} did not load"
        n_images += len(images)
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"{page.name}: console errors {severe}"
    driver.get(pages[0].as_uri())
    assert driver.save_screenshot(str(screenshot))
    pixels = imread(screenshot)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.01  # not a blank page
    return n_images


@pytest.fixture(scope="session")
def check_pages():
    """``check_pages(driver, pages, screenshot)``: see `_check_pages_in_browser`."""
    return _check_pages_in_browser
