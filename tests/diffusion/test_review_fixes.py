"""Planted checks from a correctness review: processor-equal nearest resizing, the guiding
encoder ranks the top fraction whatever the order of the encoders, CLIP category images
prepared as the category model's processor prepares them."""

import numpy as np
import pandas as pd
import torch
from _prompts import prompt_states
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


def _reference_guided(parts, name, prediction_type, seeds, scale, score, steps):
    """The guided loop written out from the definitions, step by step, for comparison:
    x0 from the model output at the variance-preserving latent, the blend
    ``sqrt(1-a) x0 + (1-sqrt(1-a)) z``, decode ``/ scaling_factor``, ``/2 + 0.5``, clamp;
    ``g = s dS/dz``; ``eps^ = eps - n g`` (n = sqrt(1-a), or sigma on Euler's latent); the
    scheduler steps the output of the model's type implied by ``eps^``."""
    import diffusers

    classes = {
        "ddim": diffusers.DDIMScheduler,
        "dpmpp": diffusers.DPMSolverMultistepScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
    }
    config = {**parts.scheduler_config, "prediction_type": prediction_type}
    if name == "dpmpp":
        config["algorithm_type"] = "dpmsolver++"
    sch = classes[name].from_config(config)
    sch.set_timesteps(steps)
    states = prompt_states(parts).expand(len(seeds), -1, -1)
    z = torch.cat(
        [torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(s)) for s in seeds]
    )
    z = z * sch.init_noise_sigma
    factor = parts.vae.config.scaling_factor
    for t in sch.timesteps:
        sch.scale_model_input(z, t)  # sets Euler's step index
        if name == "euler":
            sigma = float(sch.sigmas[sch.step_index])
            a, noise = 1 / (sigma**2 + 1), sigma
        else:
            a = float(sch.alphas_cumprod[int(t)])
            noise = (1 - a) ** 0.5
        sa, sb = a**0.5, (1 - a) ** 0.5
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            zvp = sch.scale_model_input(zz, t)
            out = parts.unet(zvp, t, encoder_hidden_states=states).sample
            if prediction_type == "epsilon":
                x0, eps = (zvp - sb * out) / sa, out
            elif prediction_type == "v_prediction":
                x0, eps = sa * zvp - sb * out, sa * out + sb * zvp
            else:
                x0, eps = out, (zvp - sa * out) / sb
            mixed = sb * x0 + (1 - sb) * zvp
            image = (parts.vae.decode(mixed / factor).sample / 2 + 0.5).clamp(0, 1)
            (g,) = torch.autograd.grad(scale * score(image).sum(), zz)
        zvp, eps = zvp.detach(), eps.detach() - noise * g
        if prediction_type == "epsilon":
            step_out = eps
        elif prediction_type == "v_prediction":
            step_out = (eps - sb * zvp) / sa
        else:
            step_out = (zvp - sb * eps) / sa
        z = sch.step(step_out, t, z).prev_sample
    return (parts.vae.decode(z / factor).sample / 2 + 0.5).clamp(0, 1)


def test_guided_loop_equals_the_definitions(tiny_sd, colour_encoder):

    from neuroalign.diffusion.sampler import GuidedSampler

    _, parts = tiny_sd

    def score(images):
        return colour_encoder(images)[:, :10].mean(1)

    for name in ("ddim", "dpmpp", "euler"):
        for prediction_type in ("epsilon", "v_prediction", "sample"):
            config = {**parts.scheduler_config, "prediction_type": prediction_type}
            sampler = GuidedSampler(
                parts.unet,
                parts.vae,
                config,
                scheduler=name,
                steps=3,
                prompt_embeds=prompt_states(parts),
            )
            with torch.no_grad():
                ours = sampler.sample([0, 1], score=score, scale=2e4).images
                ref = _reference_guided(parts, name, prediction_type, [0, 1], 2e4, score, 3)
                plain = sampler.sample([0, 1]).images
            assert (ours - plain).abs().max() > 0.05, (name, prediction_type)
            torch.testing.assert_close(ours, ref, atol=2e-4, rtol=0, msg=(name, prediction_type))


def test_negative_scale_lowers_the_objective(tiny_sd, colour_encoder):
    # g = s dS/dz holds for any sign of s: a negative scale suppresses, it is not unguided

    from neuroalign.diffusion.sampler import GuidedSampler

    _, parts = tiny_sd

    def score(images):
        return colour_encoder(images)[:, :10].mean(1)

    sampler = GuidedSampler(
        parts.unet,
        parts.vae,
        parts.scheduler_config,
        scheduler="ddim",
        steps=3,
        prompt_embeds=prompt_states(parts),
    )
    seeds = [0, 1, 2, 3]
    with torch.no_grad():
        plain = score(sampler.sample(seeds).images)
        up = score(sampler.sample(seeds, score=score, scale=2e4).images)
        down = score(sampler.sample(seeds, score=score, scale=-2e4).images)
    assert bool((up > plain).all()) and bool((down < plain).all())


def test_bicubic_resize_stays_in_the_pixel_range_as_the_processor():
    # the processor resizes 0..255 pixels and clamps (PIL and torchvision alike): a sharp
    # edge upsampled bicubic overshoots in float, never in the processor's output
    from transformers import ViTImageProcessor

    proc = ViTImageProcessor(size={"height": 40, "width": 40}, resample=3)
    board = (np.indices((10, 10)).sum(0) % 2 * 255).astype(np.uint8)
    img = np.repeat(board[..., None], 3, axis=2)
    ref = proc(images=[img], return_tensors="pt")["pixel_values"]
    ours = ImagePrep.from_processor(proc)(
        torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    )
    assert float(ref.min()) >= -1 and float(ref.max()) <= 1
    assert float(ours.min()) >= -1 - 1e-6 and float(ours.max()) <= 1 + 1e-6
    assert float((ours - ref).abs().mean()) < 0.02


def test_crop_larger_than_the_image_pads_as_the_processor_does():
    from transformers import CLIPImageProcessor

    rng = np.random.default_rng(1)
    proc = CLIPImageProcessor(do_resize=False, crop_size={"height": 32, "width": 36})
    for h, w in ((20, 25), (40, 21), (32, 36)):
        img = _pixels(rng, h, w)
        ref = proc(images=[img], return_tensors="pt")["pixel_values"]
        x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
        torch.testing.assert_close(ImagePrep.from_processor(proc)(x), ref, atol=1e-5, rtol=0)


def test_longest_edge_sizes_and_unknown_sizes():
    import pytest

    from neuroalign._check import NeuroalignError

    prep = ImagePrep({"longest_edge": 32}, None, "bilinear", 1 / 255, (0.0,) * 3, (1.0,) * 3)
    assert prep.output_shape(48, 96) == (16, 32) and prep.output_shape(96, 48) == (32, 16)
    capped = ImagePrep(
        {"shortest_edge": 32, "longest_edge": 40}, None, "bilinear", 1 / 255, (0.0,) * 3, (1.0,) * 3
    )
    assert capped.output_shape(40, 40) == (32, 32) and capped.output_shape(40, 80) == (20, 40)
    odd = ImagePrep({"max_pixels": 1024}, None, "bilinear", 1 / 255, (0.0,) * 3, (1.0,) * 3)
    with pytest.raises(NeuroalignError, match=r"max_pixels.*shortest_edge"):
        odd.output_shape(8, 8)
