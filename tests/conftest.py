"""Shared fixtures: the offline dataset mirror and the repository root."""

from __future__ import annotations

import os
import re
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


#: What a page says about itself, read in the browser (one script for every page).
_PAGE_FACTS = """
const text = (el) => (el ? el.innerText.trim() : "");
const rows = Array.from(document.querySelectorAll("tr")).map(
  (tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.innerText.trim()));
return {
  title: text(document.querySelector("h1")),
  badge: document.querySelectorAll(".banner-simulated").length > 0,
  headline: text(document.querySelector("p.headline")),
  figures: Array.from(document.querySelectorAll("figure[data-axes]")).map(
    (f) => [f.querySelector("img") ? f.querySelector("img").getAttribute("src") : "",
            Number(f.dataset.axes), Number(f.dataset.emptyAxes)]),
  dataset: rows.filter((r) => r.length >= 2 && r[0] === "dataset").map((r) => r[1]),
  body: document.body.innerText,
};
"""
#: A number shown with an interval (``0.123 (95% CI [0.1, 0.2])``), or saying it has none, or
#: ``n/a`` (a result without a finite estimate).
_NUMBER = re.compile(r"= (-?\d+\.\d+ \((.+ \[-?\d+\.\d+, -?\d+\.\d+\]|no interval: .+)\)|n/a)")
#: The fields the provenance page must show.
PROVENANCE_FIELDS = (
    "git commit",
    "config hash",
    "config file",
    "config file sha256",
    "sha256",
    "Results",
    "model",
    "weights sha256",
    "inputs sha256",
)


def _simulated_page(name: str, facts: dict) -> bool:
    """A page of simulated data: its slug or title names a ``sim_`` dataset, or its attrs do."""
    named = any(s in f"{name} {facts['title']}" for s in ("sim_", "sim-"))
    return named or any(d.startswith("sim_") for d in facts["dataset"])


def _check_site_in_browser(driver, site: Path, *, expect_headlines=()) -> dict:
    """Generic checks of every page of a built report, in the browser.

    - no empty axes: every plotted figure's axes all hold data (`empty_axes` at save time,
      carried as ``data-empty-axes``), so a panel without input says so in words instead;
    - every page of simulated data carries the simulated badge;
    - every stage with a headline shows it on the index, a number with its interval (or the
      words saying it has none), the same as under the stage page's title; the stages in
      ``expect_headlines`` that are on the index have one;
    - the provenance page shows its fields.

    Returns what was seen: ``{"pages", "figures", "simulated", "headlines"}``.
    """
    from selenium.webdriver.common.by import By

    index = site / "index.html"
    pages = [index, *sorted(p for p in site.glob("*.html") if p != index)]
    seen = {"pages": len(pages), "figures": 0, "simulated": [], "headlines": {}}
    facts_of = {}
    for page in pages:
        driver.get(page.as_uri())
        facts = driver.execute_script(_PAGE_FACTS)
        facts_of[page.name] = facts
        for src, n_axes, n_empty in facts["figures"]:
            assert n_empty == 0, f"{page.name}: {src} has {n_empty} of {n_axes} axes empty"
        seen["figures"] += len(facts["figures"])
        if page.name not in ("index.html", "provenance.html") and _simulated_page(page.stem, facts):
            assert facts["badge"], f"{page.name}: simulated data without the simulated badge"
            seen["simulated"].append(page.name)
        if facts["headline"]:
            assert _NUMBER.search(facts["headline"]), f"{page.name}: {facts['headline']}"
    driver.get(index.as_uri())
    for li in driver.find_elements(By.CSS_SELECTOR, "ul.pages > li"):
        names = li.find_elements(By.CSS_SELECTOR, ".stage-name")
        if not names:
            continue
        stage = names[0].text.strip()
        href = li.find_element(By.TAG_NAME, "a").get_attribute("href").rsplit("/", 1)[-1]
        found = li.find_elements(By.CSS_SELECTOR, ".headline")
        if stage in expect_headlines:
            assert found, f"index: stage {stage} shows no headline number"
        if found:
            text = found[0].text.strip()
            assert _NUMBER.search(text), f"index: stage {stage}: {text!r}"
            assert facts_of[href]["headline"] == f"Headline: {text}", stage
            seen["headlines"][stage] = text
    body = facts_of["provenance.html"]["body"]
    for field in PROVENANCE_FIELDS:
        assert field in body, f"provenance page: no {field!r}"
    return seen


@pytest.fixture(scope="session")
def check_site():
    """``check_site(driver, site, expect_headlines=())``: see `_check_site_in_browser`."""
    return _check_site_in_browser
