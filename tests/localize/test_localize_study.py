"""Ablation study on a tiny causal LM, alignment, the netCDF round trip and the report page."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from tiny_localize import make_gpt2

from neuroalign.localize.contrasts import Contrast
from neuroalign.localize.evaluate import BlimpLogProb, NextWordLoss
from neuroalign.localize.pipeline import (
    ablation_study,
    alignment_study,
    localize,
    read_result,
    write_result,
)
from neuroalign.localize.settings import LocalizeSettings
from neuroalign.report.context import ReportContext
from neuroalign.report.stages.localize import collect


@pytest.fixture(scope="module")
def result(planted, tokenizer):
    acts, positive, split, mask = planted
    table = pd.DataFrame(
        {
            "text": [f"item {i}" for i in range(len(acts))],
            "condition": np.where(positive, "sentence", "nonword"),
            "split": split,
            "positive": positive,
            "item": np.arange(len(acts)),
        }
    )
    items = Contrast("language", table, "sentence", "nonword")
    settings = LocalizeSettings.from_config(
        {
            "localizer": "language",
            "fraction": 6 / 120,
            "n_seeds": 4,
            "n_boot": 5,
            "bottom": True,
            "doses": [0.025, 0.05],
        }
    )
    ds = localize(acts, items, settings)
    model = make_gpt2(n_embd=40, n_layer=3, n_head=2)
    pairs = pd.DataFrame(
        {
            "paradigm": ["p"] * 3,
            "sentence_good": ["the cat sleeps", "a dog runs", "the birds sing"],
            "sentence_bad": ["the cat sleep", "a dog run", "the birds sings"],
        }
    )
    tasks = [
        BlimpLogProb("blimp", "accuracy", True, tokenizer, pairs, "causal"),
        NextWordLoss("next_word", "loss", False, tokenizer, "the cat sat on a mat " * 30, 16, 2),
    ]
    t = ds["t"].to_numpy()
    abl = ablation_study(model, tasks, t, settings)
    brain = acts[:120, mask] @ np.ones(6) + np.random.default_rng(0).standard_normal(120)
    random = ds["random_mask"].isel(scheme=0).to_numpy().astype(bool)
    aligned = alignment_study(acts[:120], brain, mask, random)
    return xr.merge([ds, abl, aligned], combine_attrs="override")


def test_ablation_study_shapes_and_baseline(result):
    ds = result
    assert ds["ablation_localized"].dims == ("dose", "task")
    assert ds["ablation_random"].shape == (2, 4, 2)
    assert ds["ablation_k"].values.tolist() == [3, 6]
    assert ds["task_higher_is_better"].values.tolist() == [1, 0]
    assert np.isfinite(ds["ablation_deficit_z"].sel(task="next_word")).all()
    assert np.isfinite(ds["ablation_percentile"]).all()
    assert float(ds["alignment_percentile"]) == 100.0
    assert int(ds["bottom_mask"].sum()) == int(ds["mask"].sum())


def test_round_trip_and_report_page(result, tmp_path):
    ds = result
    out = tmp_path / "results" / "localize" / "tiny" / "language.nc"
    write_result(ds, out)
    back = read_result(out)
    assert back["mask"].dtype == bool
    np.testing.assert_array_equal(back["t"], ds["t"])
    site = tmp_path / "site"
    ctx = ReportContext(config={}, results=tmp_path / "results", data_root=None, site=site)
    page = collect(ctx)
    assert page.slug == "localize" and len(page.subpages) == 1
    sub = page.subpages[0]
    titles = [s.title for s in sub.sections]
    assert titles == ["Layer distribution", "Localizer language"]
    pngs = sorted(p.name for p in (site / "figures").glob("*.png"))
    assert pngs == [
        "localize-tiny-language-ablation.png",
        "localize-tiny-language-alignment.png",
        "localize-tiny-language-t.png",
        "localize-tiny-layers.png",
    ]
    assert str(out) in ctx.inputs


def test_no_results_no_page(tmp_path):
    ctx = ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "s")
    assert collect(ctx) is None
