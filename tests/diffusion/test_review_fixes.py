"""Planted checks from a correctness review: processor-equal nearest resizing, the guiding
encoder ranks the top fraction whatever the order of the encoders, CLIP category images
prepared as the category model's processor prepares them."""

import numpy as np
import pandas as pd
import torch
from PIL import Image

from neuroalign.diffusion.encoder import ImagePrep
from neuroalign.diffusion.evaluate import EvaluateSettings, evaluate_synthesis
from neuroalign.results import load_netcdf


def _pixels(rng, h, w):
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def test_nearest_resize_equals_the_processor():
    from transformers import CLIPImageProcessor, ViTImageProcessor

    rng = np.random.default_rng(0)
    procs = [
        ViTImageProcessor(size={"height": 32, "width": 32}, resample=0),
        CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, resample=0
        ),
    ]
    for proc in procs:
        for h, w in ((64, 64), (48, 80)):
            img = _pixels(rng, h, w)
            ref = proc(images=[img], return_tensors="pt")["pixel_values"]
            x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
            torch.testing.assert_close(ImagePrep.from_processor(proc)(x), ref, atol=1e-5, rtol=0)


class _Channel(torch.nn.Module):
    """One voxel (ROI 'red') reading the mean of one colour channel."""

    def __init__(self, channel):
        super().__init__()
        self.channel = channel
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.rois = {"red": torch.tensor([True])}

    def forward(self, x):
        return x[:, self.channel].mean(dim=(1, 2))[:, None] + 0 * self.p


def test_top_fraction_is_ranked_by_the_guiding_encoder_in_any_order(tmp_path):
    # red rises with the seed, green falls: the two encoders rank the images oppositely
    n, rows = 10, []
    for cond in ("guided", "unguided"):
        (tmp_path / "red" / cond).mkdir(parents=True)
        for seed in range(n):
            pixels = np.zeros((8, 8, 3), np.uint8)
            pixels[..., 0] = 20 * seed + (10 if cond == "guided" else 0)
            pixels[..., 1] = 200 - 20 * seed
            rel = f"red/{cond}/{seed}.png"
            Image.fromarray(pixels).save(tmp_path / rel)
            rows.append({"roi": "red", "seed": seed, "condition": cond, "image": rel})
    pd.DataFrame(rows).to_parquet(tmp_path / "manifest.parquet")
    settings = EvaluateSettings.from_config({"n_bootstrap": 0, "device": "cpu", "seed": 0})
    ds = load_netcdf(
        evaluate_synthesis(
            settings,
            manifest=tmp_path / "manifest.parquet",
            encoders={"held_out": _Channel(1), "guiding": _Channel(0)},
            output=tmp_path / "eval.nc",
        )
    )
    kept = np.flatnonzero(ds["top"].sel(target="red").values)
    assert set(kept) == {8, 9}  # the reddest two of ten, by the guiding encoder
    diff = ds["diff"].sel(target="red", stat="mean")
    assert float(diff.sel(encoder="guiding")) > 0
    assert float(diff.sel(encoder="held_out")) == 0


def test_category_images_are_prepared_as_the_processor_does():
    from transformers import CLIPImageProcessor

    from neuroalign.diffusion.evaluate import clip_embedders

    proc = CLIPImageProcessor(
        size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}, resample=2
    )
    seen = []

    class _Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))
            self.config = type("C", (), {"vision_config": type("V", (), {"image_size": 16})})()

        def get_image_features(self, pixel_values):
            seen.append(pixel_values)
            return pixel_values.flatten(1)

    images, _ = clip_embedders(_Model(), None, prep=ImagePrep.from_processor(proc))
    img = _pixels(np.random.default_rng(1), 48, 80)
    images(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    ref = proc(images=[img], return_tensors="pt")["pixel_values"]
    assert seen[0].shape == ref.shape
    torch.testing.assert_close(seen[0], ref, atol=0.05, rtol=0)
