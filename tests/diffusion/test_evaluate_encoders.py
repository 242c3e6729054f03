"""Evaluation with encoder files: a CLIP guide and a held-out DINOv2 fitted on the same betas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neuroalign.diffusion.brainscuba import BrainscubaSettings, caption_voxels, read_captions
from neuroalign.diffusion.encoder import fit_encoder
from neuroalign.diffusion.evaluate import EvaluateSettings, evaluate_synthesis
from neuroalign.diffusion.settings import DiffusionEncoderSettings
from neuroalign.models.random_init import init_model
from neuroalign.models.stage import ExtractSettings, extract
from neuroalign.results import load_netcdf

vision_data = pytest.importorskip("neuroalign.data.vision")

N, N_TEST, SIZE = 48, 12, 32


def _red_images(red: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images whose red channel level is ``red`` (plus texture), green and blue random."""
    base = rng.uniform(0, 1, (red.size, SIZE, SIZE, 3)) * 0.3
    base[..., 0] += red[:, None, None]
    return np.clip(base, 0, 1)


def _save(images: np.ndarray, folder, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for im, name in zip(images, names, strict=True):
        Image.fromarray(np.round(im * 255).astype(np.uint8)).save(folder / name)


def _store(root, config, name, table):
    tower = init_model(config, root / name, seed=1)
    settings = ExtractSettings.from_config(
        {
            "model": {
                "source": f"path:{tower}",
                "tower": "vision",
                "units": ["resid"],
                "device": "cpu",
                "dtype": "float32",
            },
            "pooling": "mean",
        }
    )
    return extract(settings, stimuli=table, output=root / f"{name}.zarr")


def test_guide_and_held_out_encoder_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    red = rng.uniform(0, 0.7, N)
    _save(_red_images(red, rng), tmp_path / "img", [f"im{i:03d}.png" for i in range(N)])
    pd.DataFrame(
        {
            "image": [f"img/im{i:03d}.png" for i in range(N)],
            "image_id": [f"im{i:03d}" for i in range(N)],
            "caption": [f"red {r:.3f}" for r in red],
        }
    ).to_parquet(tmp_path / "stim.parquet")
    # Planted voxels: 'red' follows the images' redness, 'other' is noise.
    Y = np.c_[np.outer(red, np.ones(6)), rng.standard_normal((N, 6))]
    Y += 0.05 * rng.standard_normal(Y.shape)
    rois = {"red": np.arange(12) < 6, "other": np.arange(12) >= 6}
    ids = np.array([f"im{i:03d}" for i in range(N)])
    betas = vision_data.VisionBetas(
        betas=np.r_[Y, Y + 0.05 * rng.standard_normal(Y.shape)],
        image_ids=np.tile(ids, 2),
        repeat=np.repeat([0, 1], N),
        session=np.repeat([1, 2], N),
        split=np.tile(np.where(np.arange(N) >= N - N_TEST, "test", "train"), 2),
        rois=rois,
        dataset="sim_vision",
        subject="01",
    )
    monkeypatch.setattr(vision_data, "read_vision_betas", lambda *a, **k: betas)
    files = {}
    for key, config, name in (
        ("guiding", "clip-vision-tiny", "clip"),
        ("held_out", "dinov2-tiny", "dino"),
    ):
        acts = _store(tmp_path, config, name, tmp_path / "stim.parquet")
        settings = DiffusionEncoderSettings.from_config(
            {"dataset": "sim_vision", "model": name, "device": "cpu", "zscore_sessions": False}
        )
        files[key] = fit_encoder(
            settings,
            activations=acts,
            dataset=tmp_path,
            subject="01",
            output=tmp_path / f"{name}.nc",
        )
    # A 'synthesis run': guided images redder than their twins.
    run = tmp_path / "synth"
    n_seeds = 8
    unguided = rng.uniform(0.1, 0.3, n_seeds)
    rows = []
    for cond, level in (("guided", unguided + 0.35), ("unguided", unguided)):
        names = [f"{s}.png" for s in range(n_seeds)]
        _save(_red_images(level, np.random.default_rng(5)), run / "red" / cond, names)
        rows += [
            {
                "roi": "red",
                "seed": s,
                "condition": cond,
                "image": f"red/{cond}/{s}.png",
                "score": 0.0,
            }
            for s in range(n_seeds)
        ]
    pd.DataFrame(rows).to_parquet(run / "manifest.parquet")
    out = evaluate_synthesis(
        EvaluateSettings.from_config({"n_bootstrap": 100, "device": "cpu"}),
        manifest=run / "manifest.parquet",
        encoders=files,
        output=tmp_path / "eval.nc",
    )
    ds = load_netcdf(out)
    assert ds.attrs["simulated"] == "true" and "clip" in ds.attrs["encoders"]
    diff = ds["diff"].sel(target="red")
    # Both backbones see the planted redness rise on every seed.
    for enc in ("guiding", "held_out"):
        assert float(diff.sel(encoder=enc, stat="mean")) > 0
        assert float(diff.sel(encoder=enc, stat="frac_positive")) >= 7 / 8
    assert float(diff.sel(encoder="guiding", stat="p")) < 0.05
    # BrainSCUBA on the same files: the planted red ROI is described by the reddest images.
    for name in ("clip", "dino"):
        table, _ = read_captions(
            caption_voxels(
                BrainscubaSettings.from_config({"device": "cpu", "top_k": 3, "rois": ["red"]}),
                encoder=files["guiding" if name == "clip" else "held_out"],
                bank=tmp_path / f"{name}.zarr",
                stimuli=tmp_path / "stim.parquet",
                output=tmp_path / f"captions_{name}.parquet",
            )
        )
        top = [int(i[2:]) for i in table["top_image_ids"][0]]
        assert red[top[0]] >= np.quantile(red, 0.9)
        assert table["caption"][0] == f"red {red[top[0]]:.3f}"
