"""Report pages researchers can trust: headlines with intervals, rounded numbers, interpretation."""

import json

import numpy as np
import pytest
import xarray as xr

from neuroalign.report._format import as_text
from neuroalign.report.blocks import Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.headline import estimate_text, median_ci


def test_median_ci_is_bca_and_holds_the_median():
    values = np.random.default_rng(0).exponential(size=200)
    med, lo, hi = median_ci(values)
    assert med == pytest.approx(np.median(values)) and lo <= med <= hi
    assert estimate_text(med, lo, hi).startswith(f"{med:.3f} (95% CI [")
    assert estimate_text(0.5, np.nan, np.nan) == "0.500"


def test_numbers_are_rounded_even_inside_json():
    assert as_text(0.123456789012) == "0.1235"
    assert as_text({"r": 0.123456789012, "n": [1.0000000001]}) == '{"n": [1.0], "r": 0.1235}'
    assert as_text('{"r": 0.123456789012}') == '{"r": 0.1235}'


def test_alignment_section_interprets_the_layer_matched_comparison(tmp_path):
    from neuroalign.report.stages.encode import _alignment_blocks

    names = (
        ["localized"]
        + [f"layer_matched_{i}" for i in range(3)]
        + [f"uniform_{i}" for i in range(3)]
    )
    ds = xr.Dataset(
        {"unit_set_mean_r": ("unit_set", [0.1, 0.2, 0.22, 0.18, 0.3, 0.31, 0.29])},
        coords={"unit_set": names},
        attrs={"summary": json.dumps({"alignment_difference": -0.123456789})},
    )
    (tmp_path / "figures").mkdir()
    ctx = ReportContext(config={}, results=None, data_root=None, site=tmp_path)
    blocks = _alignment_blocks(ctx, "x", ds)
    text = next(b for b in blocks if isinstance(b, Text)).text
    assert "layer_matched comparison is the one to read" in text and "does not control" in text
    table = next(b for b in blocks if isinstance(b, Table) and "random scheme" in b.columns)
    rows = {r[0]: r for r in table.rows}
    assert rows["layer_matched"][3] == "-0.100" and rows["uniform"][3] == "-0.200"
    values = next(b for b in blocks if isinstance(b, Table) and "alignment" in b.columns)
    assert values.rows == [["difference", "-0.1235"]]


def test_localize_headline_shows_the_resplit_range():
    from neuroalign.report.stages.localize import _headline

    ds = xr.Dataset({"reliability_dice": 0.391, "reliability_chance_dice": 0.05})
    ds["reliability_dice"].attrs.update(
        {"dist_low": 0.2, "dist_high": 0.5, "dist_level": 0.95, "dist_median": 0.35}
    )
    assert _headline(ds) == (
        "run-split Dice 0.391 (re-split central 95% [0.200, 0.500]), chance 0.050"
    )


def test_the_page_names_the_baseline_used_and_its_candidates():
    from neuroalign.report.stages.encode_tables import baseline_text, used_baseline

    ds = xr.Dataset(
        {
            "baseline_used": ("target", ["frequency", "all"]),
            "baseline_share": ("target", [1.0, 0.8]),
        },
        coords={"target": ["a", "b"]},
        attrs={
            "baseline": json.dumps(
                {
                    "length": ["n_chars"],
                    "frequency": ["log_frequency"],
                    "all": ["n_chars", "log_frequency"],
                }
            ),
            "baseline_choice": "strongest on training data",
        },
    )
    text = baseline_text(ds)
    assert text.startswith("used all / frequency; candidates length (n_chars); ")
    assert "strongest on training data" in text
    assert used_baseline(ds, "target", "a") == "frequency: log_frequency"
    assert (
        used_baseline(ds, "target", "b") == "all: n_chars, log_frequency, in 80% of the outer folds"
    )
    old = xr.Dataset(attrs={"baseline": json.dumps(["n_chars", "n_words"])})
    assert baseline_text(old) == "n_chars, n_words"


def test_empty_axes_counts_panels_without_data_and_accepts_words():
    from matplotlib.figure import Figure as MplFigure

    from neuroalign.report.figures import empty_axes

    fig = MplFigure()
    a, b, c, d = fig.subplots(1, 4)
    a.plot([0, 1], [1, 2])
    b.bar([0], [np.nan])  # only a NaN bar: nothing to see
    c.axis("off")
    c.text(0.5, 0.5, "no localizer configured")  # said in words
    d.plot([np.nan], [np.nan])
    assert empty_axes(fig) == (4, 2)
    image = fig.colorbar(a.imshow(np.eye(3)), ax=a)
    assert image is not None and empty_axes(fig) == (4, 2)  # the colorbar is not a panel


def test_saved_figures_carry_their_axes_counts(tmp_path):
    from matplotlib.figure import Figure as MplFigure

    ctx = ReportContext(config={}, results=None, data_root=None, site=tmp_path)
    fig = MplFigure()
    ax1, _ = fig.subplots(1, 2)
    ax1.scatter([1, 2], [3, 4])
    block = ctx.save_figure(fig, "half", alt="a", caption="b")
    assert (block.n_axes, block.n_empty) == (2, 1)


def test_headline_text_and_choice():
    from neuroalign.report.headline import Headline, first_headline

    single = Headline("top induction score", 0.91234, where="gpt2")
    assert single.text() == (
        "gpt2: top induction score = 0.912 (no interval: the result holds a single estimate)"
    )
    ci = Headline("median r", 0.2, 0.1, 0.3, interval="BCa 95% CI", note="of 10 voxels")
    assert ci.text() == "median r = 0.200 (BCa 95% CI [0.100, 0.300]), of 10 voxels"
    assert first_headline([None, single, ci]) is ci
    assert first_headline([None, single]) is single and first_headline([]) is None
    assert first_headline([Headline("r", float("nan"), 0.0, 1.0), single]) is single
