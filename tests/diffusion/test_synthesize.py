"""The synthesis stage on files: layout, manifest, identical PNG bytes for the same seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from neuroalign.cli import main
from neuroalign.diffusion.settings import SynthesizeSettings
from neuroalign.diffusion.synthesize import synthesize
from neuroalign.models.random_init import init_model
from neuroalign.settings import write_settings

SETTINGS = dict(
    dataset="sim_vision",
    encoder="sim_vision",
    steps=2,
    scheduler="ddim",
    scale=2000.0,
    seeds={"base": 5, "n": 2},
    batch_size=2,
    device="cpu",
    dtype="float32",
    objectives={"a_vs_b": {"contrast": ["A", "B"], "lambda": 0.5}},
    rois=["A"],
)


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory):
    """An encoder file over the tiny CLIP tower's last-layer features (random read-out)."""
    root = tmp_path_factory.mktemp("synth")
    tower = init_model("clip-vision-tiny", root / "tiny_clip", seed=1)
    rng = np.random.default_rng(0)
    n_units, n_vox = 32, 6
    ds = xr.Dataset(
        {
            "weight": (("unit", "voxel"), rng.standard_normal((n_units, n_vox)).astype("f4")),
            "intercept": ("voxel", np.zeros(n_vox, "f4")),
            "feature_mean": ("unit", np.zeros(n_units, "f4")),
            "feature_scale": ("unit", np.ones(n_units, "f4")),
            "roi_A": ("voxel", (np.arange(n_vox) < 3).astype("i1")),
            "roi_B": ("voxel", (np.arange(n_vox) >= 3).astype("i1")),
        },
        attrs={
            "model": "tiny_clip",
            "model_source": f"path:{tower}",
            "units": "resid",
            "layer": 3,
            "pooling": "mean",
        },
    )
    path = root / "enc.nc"
    ds.to_netcdf(path)
    return path


def test_stage_layout_and_reproducible_bytes(tiny_sd, encoder_file, tmp_path):
    folder, _ = tiny_sd
    settings = SynthesizeSettings.from_config(SETTINGS)
    out = synthesize(
        settings, encoder=encoder_file, pipeline=f"path:{folder}", output=tmp_path / "a"
    )
    table = pd.read_parquet(out / "manifest.parquet")
    assert len(table) == 2 * 2 * 2
    assert set(table["roi"]) == {"A", "a_vs_b"}
    assert set(table["condition"]) == {"guided", "unguided"}
    assert table.columns.tolist()[:9] == [
        "roi", "seed", "condition", "image", "scale", "objective", "steps", "scheduler", "score"
    ]  # fmt: skip
    for image in table["image"]:
        assert (out / image).is_file()
    assert (out / "A" / "guided" / "5.png").is_file()
    assert table.loc[table.roi == "a_vs_b", "objective"].iloc[0] == "mean(A) - 0.5 * mean(B)"
    meta = json.loads(pq.read_schema(out / "manifest.parquet").metadata[b"neuroalign"])
    assert json.loads(meta["seed_table"]) == [5, 6]
    assert "diffusers" in json.loads(meta["versions"])
    # The unguided twins are the same images under every objective.
    a = (out / "A" / "unguided" / "6.png").read_bytes()
    assert a == (out / "a_vs_b" / "unguided" / "6.png").read_bytes()
    # Same seeds and settings, through the command line: identical PNG bytes.
    write_settings(settings, tmp_path / "s.json")
    status = main(
        [
            "synthesize",
            "--settings",
            str(tmp_path / "s.json"),
            "--encoder",
            str(encoder_file),
            "--pipeline",
            f"path:{folder}",
            "--output",
            str(tmp_path / "b"),
        ]
    )
    assert status == 0
    for image in table["image"]:
        assert (out / image).read_bytes() == (tmp_path / "b" / image).read_bytes()
    other = pd.read_parquet(tmp_path / "b" / "manifest.parquet")
    np.testing.assert_array_equal(other["score"].values, table["score"].values)
    assert (out / "A" / "guided" / "5.png").read_bytes() != (
        out / "A" / "guided" / "6.png"
    ).read_bytes()


def test_channels_last_models_give_the_same_images(tiny_sd, encoder_file, tmp_path, monkeypatch):
    import io

    import torch
    from PIL import Image

    from neuroalign.diffusion import synthesize as stage

    folder, _ = tiny_sd
    seen = {}

    class Spy(stage.GuidedSampler):
        def __init__(self, unet, vae, *args, **kw):
            seen["layouts"] = [
                m.weight.is_contiguous(memory_format=torch.channels_last)
                for m in (unet.conv_in, vae.decoder.conv_in)
            ]
            super().__init__(unet, vae, *args, **kw)

    monkeypatch.setattr(stage, "GuidedSampler", Spy)
    runs = {}
    for flag in (False, True):
        settings = SynthesizeSettings.from_config({**SETTINGS, "channels_last": flag})
        runs[flag] = synthesize(
            settings, encoder=encoder_file, pipeline=f"path:{folder}", output=tmp_path / str(flag)
        )
        assert seen["layouts"] == [flag, flag]
    table = pd.read_parquet(runs[False] / "manifest.parquet")
    for image in table["image"]:
        a, b = (
            np.asarray(Image.open(io.BytesIO((runs[f] / image).read_bytes())), np.int16)
            for f in (False, True)
        )
        assert np.abs(a - b).max() <= 1  # the same math; sums may round differently
    other = pd.read_parquet(runs[True] / "manifest.parquet")
    np.testing.assert_allclose(other["score"].values, table["score"].values, atol=1e-3)


def test_unknown_roi_is_one_line(tiny_sd, encoder_file, tmp_path):
    folder, _ = tiny_sd
    settings = SynthesizeSettings.from_config({**SETTINGS, "rois": ["FFA"], "objectives": {}})
    with pytest.raises(Exception, match=r"unknown ROI 'FFA'; the encoder has A, B"):
        synthesize(settings, encoder=encoder_file, pipeline=f"path:{folder}", output=tmp_path)
    assert not (tmp_path / "manifest.parquet").exists()


def test_init_sd_cli_writes_a_loadable_pipeline(tmp_path):
    from neuroalign.diffusion.sd import load_sd

    args = ["init-sd", "--image-size", "16", "--seed", "2", "--output", str(tmp_path / "sd")]
    assert main(args) == 0
    parts = load_sd(f"path:{tmp_path / 'sd'}")
    assert parts.unet.config.sample_size == 8
    assert parts.tokenizer("a red face").input_ids[0] == parts.tokenizer.bos_token_id
    with pytest.raises(Exception, match="has no unet/ folder"):
        load_sd(f"path:{tmp_path}")
