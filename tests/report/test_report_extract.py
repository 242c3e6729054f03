"""The models page reads activation stores and plots norms per layer."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign.report import build_report


def _store(path, *, flag: dict) -> None:
    rng = np.random.default_rng(1)
    scale = np.arange(1, 4)[None, :, None]  # norms grow with the layer
    ds = xr.Dataset(
        {"resid": (("item", "layer", "resid_unit"), rng.normal(size=(7, 3, 5)) * scale)},
        coords={
            "text": ("item", list("abcdefg")),
            "layer": [0, 1, 2],
            "layer_name": ("layer", ["h.0", "h.1", "h.2"]),
        },
        attrs={"model": "pypi:tiny", "pooling": "mean", "context": "sentence"} | flag,
    )
    ds.to_zarr(path, consolidated=False)


@pytest.mark.parametrize("flag", [{}, {"complete": "false"}], ids=["missing", "false"])
def test_models_page_lists_stores_with_norm_figures(tmp_path, flag):
    results = tmp_path / "results"
    _store(results / "activations" / "tiny" / "words.zarr", flag={"complete": "true"})
    _store(results / "activations" / "tiny" / "partial.zarr", flag=flag)
    index = build_report(output=results / "report" / "index.html", config={}, results=results)
    site = index.parent
    assert "extract.html" in index.read_text()
    page = (site / "extract-tiny.html").read_text()
    assert "pypi:tiny" in page and "Stimulus set words" in page
    # An unfinished store is refused: listed with the reason, never plotted.
    assert "partial.zarr is not shown" in page and "partial.zarr is incomplete" in page
    figures = sorted((site / "figures").glob("extract-tiny-*-resid-norms.png"))
    assert [f.name for f in figures] == ["extract-tiny-words-resid-norms.png"]
    # the caption says what the plotted norms do (they grow with the layer here)
    assert "Here the mean norm rises" in page and "usually grow" not in page


def test_norm_caption_follows_the_plot():
    from neuroalign.report.stages.extract import _norm_trend

    assert "rises at every layer" in _norm_trend([0, 1, 2], np.array([1.0, 2.0, 3.0]))
    assert "falls at every layer" in _norm_trend([0, 1, 2], np.array([3.0, 2.0, 1.0]))
    assert "falls overall" in _norm_trend([0, 1, 2], np.array([3.0, 4.0, 1.0]))
