"""The guided sampler: planted red/blue ROIs, scale 0 identity, monotone scale, x0 oracle,
batches equal singles, contrast objective."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from _prompts import prompt_states, rois_np

from neuroalign.diffusion.guidance import NoiseLevel, guide_output, predict_x0
from neuroalign.diffusion.objectives import build_objective, objectives_for
from neuroalign.diffusion.sampler import GuidedSampler, make_scheduler

SEEDS = list(range(8))
STEPS = 5
SCALE = 2e4


def _sampler(parts, scheduler, prediction_type="epsilon"):
    config = {**parts.scheduler_config, "prediction_type": prediction_type}
    return GuidedSampler(
        parts.unet,
        parts.vae,
        config,
        scheduler=scheduler,
        steps=STEPS,
        prompt_embeds=prompt_states(parts),
    )


def _objectives(encoder):
    return {o.name: o for o in objectives_for(None, {}, rois_np(encoder), 20)}


@pytest.fixture(scope="module")
def unguided(tiny_sd):
    _, parts = tiny_sd
    return {s: _sampler(parts, s).sample(SEEDS).images for s in ("ddim", "dpmpp", "euler")}


@pytest.mark.parametrize("scheduler", ["ddim", "dpmpp", "euler"])
def test_guidance_raises_its_roi(tiny_sd, colour_encoder, unguided, scheduler):
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)
    base = colour_encoder(unguided[scheduler])
    for target, other in (("red", "blue"), ("blue", "red")):
        images = (
            _sampler(parts, scheduler)
            .sample(SEEDS, score=lambda im, t=target: obj[t](colour_encoder(im)), scale=SCALE)
            .images
        )
        assert torch.isfinite(images).all()
        pred = colour_encoder(images)
        d_target = obj[target](pred) - obj[target](base)
        d_other = obj[other](pred) - obj[other](base)
        assert (d_target > 0).sum() >= 7
        assert d_target.mean() > 0
        assert d_target.mean() > d_other.mean()


def test_scale_zero_is_bit_identical(tiny_sd, colour_encoder, unguided):
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["red"]
    images = (
        _sampler(parts, "dpmpp")
        .sample(SEEDS, score=lambda im: obj(colour_encoder(im)), scale=0.0)
        .images
    )
    assert torch.equal(images, unguided["dpmpp"])


def test_activation_does_not_fall_with_scale(tiny_sd, colour_encoder, unguided):
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["red"]
    base = obj(colour_encoder(unguided["ddim"])).mean()
    means = [0.0]
    for scale in (SCALE / 2, SCALE):
        images = (
            _sampler(parts, "ddim")
            .sample(SEEDS, score=lambda im: obj(colour_encoder(im)), scale=scale)
            .images
        )
        means.append(float(obj(colour_encoder(images)).mean() - base))
    assert means[1] > 0
    assert all(b >= a - 1e-4 for a, b in itertools.pairwise(means))


def test_contrast_raises_a_minus_b(tiny_sd, colour_encoder, unguided):
    _, parts = tiny_sd
    contrast = build_objective(
        "red_vs_blue", {"contrast": ["red", "blue"], "lambda": 1.0}, rois_np(colour_encoder), 20
    )
    images = (
        _sampler(parts, "ddim")
        .sample(SEEDS, score=lambda im: contrast(colour_encoder(im)), scale=SCALE)
        .images
    )
    delta = contrast(colour_encoder(images)) - contrast(colour_encoder(unguided["ddim"]))
    assert (delta > 0).sum() >= 7


@pytest.mark.parametrize("scheduler", ["dpmpp", "euler"])
def test_batch_equals_singles(tiny_sd, colour_encoder, scheduler):
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["blue"]
    sampler = _sampler(parts, scheduler)
    seeds = [3, 11, 12, 40]

    def score(im):
        return obj(colour_encoder(im))

    batch = sampler.sample(seeds, score=score, scale=SCALE).images
    singles = torch.cat([sampler.sample([s], score=score, scale=SCALE).images for s in seeds])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_oracle_predictor_gives_exact_x0(tiny_sd, prediction_type):
    _, parts = tiny_sd
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 8, 8, generator=gen)
    eps = torch.randn(2, 4, 8, 8, generator=gen)
    sched = make_scheduler({**parts.scheduler_config, "prediction_type": prediction_type}, "ddim")
    for t in (999, 500, 20):
        a = float(sched.alphas_cumprod[t])
        z = a**0.5 * x0 + (1 - a) ** 0.5 * eps
        oracle = eps if prediction_type == "epsilon" else a**0.5 * eps - (1 - a) ** 0.5 * x0
        est, eps_hat = predict_x0(z, oracle, a, prediction_type)
        torch.testing.assert_close(est, x0, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(eps_hat, eps, atol=1e-5, rtol=1e-5)
        # The guided v moves the implied noise by -sqrt(1 - a) g, as for epsilon.
        g = torch.randn_like(z)
        level = NoiseLevel(a, (1 - a) ** 0.5, 1.0)
        _, moved = predict_x0(
            z, guide_output(oracle, g, level, prediction_type), a, prediction_type
        )
        torch.testing.assert_close(moved, eps - (1 - a) ** 0.5 * g, atol=1e-4, rtol=1e-4)


def test_v_prediction_sampler_runs_guided(tiny_sd, colour_encoder):
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["red"]
    sampler = _sampler(parts, "dpmpp", "v_prediction")
    base = obj(colour_encoder(sampler.sample(SEEDS[:4]).images))
    images = sampler.sample(SEEDS[:4], score=lambda im: obj(colour_encoder(im)), scale=SCALE)
    assert (obj(colour_encoder(images.images)) > base).sum() >= 3


def test_objective_errors_name_the_problem(colour_encoder):
    rois = rois_np(colour_encoder)
    with pytest.raises(Exception, match=r"unknown ROI 'rd'.*Did you mean 'red'"):
        build_objective("x", {"roi": "rd"}, rois, 20)
    with pytest.raises(Exception, match=r"voxel id 25 is out of range.*20 voxels"):
        build_objective("x", {"voxels": [1, 25]}, rois, 20)
    w = build_objective("x", {"voxels": [1, 1, 4], "weights": [1, 2, 3]}, rois, 20).weights
    assert w[1] == 3 and w[4] == 3 and np.isclose(w.sum(), 6)


def test_cfg_and_tiny_guidance_decoder(tiny_sd, colour_encoder):
    from diffusers import AutoencoderTiny

    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["red"]
    torch.manual_seed(0)
    tiny = AutoencoderTiny(
        encoder_block_out_channels=(16, 16),
        decoder_block_out_channels=(16, 16),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
    ).eval()
    states = prompt_states(parts)
    sampler = GuidedSampler(
        parts.unet,
        parts.vae,
        parts.scheduler_config,
        scheduler="ddim",
        steps=3,
        prompt_embeds=states,
        negative_embeds=torch.zeros_like(states),
        cfg=3.0,
        guidance_decoder=tiny,
    )

    def score(im):
        return obj(colour_encoder(im))

    seeds = [1, 2]
    batch = sampler.sample(seeds, score=score, scale=SCALE).images
    assert batch.shape == (2, 3, 32, 32) and torch.isfinite(batch).all()
    singles = torch.cat([sampler.sample([s], score=score, scale=SCALE).images for s in seeds])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)
    # CFG changes the images; the unguided CFG images differ from the guided ones.
    assert not torch.equal(batch, sampler.sample(seeds).images)


def test_zero_terminal_snr_schedule_runs_guided(tiny_sd, colour_encoder):
    # Rescaled betas put alpha_bar = 0 at the first trailing step: that step runs unguided.
    _, parts = tiny_sd
    obj = _objectives(colour_encoder)["red"]
    config = {
        **parts.scheduler_config,
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": True,
        "timestep_spacing": "trailing",
    }
    sampler = GuidedSampler(
        parts.unet,
        parts.vae,
        config,
        scheduler="ddim",
        steps=STEPS,
        prompt_embeds=prompt_states(parts),
    )
    scheduler = make_scheduler(config, "ddim")
    scheduler.set_timesteps(STEPS)
    assert float(scheduler.alphas_cumprod[int(scheduler.timesteps[0])]) == 0.0
    base = obj(colour_encoder(sampler.sample(SEEDS[:4]).images))
    images = sampler.sample(SEEDS[:4], score=lambda im: obj(colour_encoder(im)), scale=SCALE)
    assert torch.isfinite(images.images).all()
    assert (obj(colour_encoder(images.images)) > base).sum() >= 3


def test_a_gradient_that_is_not_finite_stops_with_the_fix(tiny_sd):
    _, parts = tiny_sd
    sampler = _sampler(parts, "ddim")
    with pytest.raises(Exception, match=r"not finite.*lower the scale"):
        sampler.sample(SEEDS[:2], score=lambda im: im.mean((1, 2, 3)) / 0.0, scale=1.0)


def test_ddim_does_not_clip_latents_unless_its_config_says_so(tiny_sd):
    _, parts = tiny_sd
    config = {k: v for k, v in parts.scheduler_config.items() if k != "clip_sample"}
    assert make_scheduler(config, "ddim").config.clip_sample is False
    assert make_scheduler({**config, "clip_sample": True}, "ddim").config.clip_sample is True
