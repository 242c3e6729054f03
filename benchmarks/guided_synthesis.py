"""Benchmark: brain-guided synthesis, the BrainDiVE-style loop against ours, side by side.

Problem (the issue's anchor): an SD-2.1-base-sized UNet with random weights
(``UNet2DConditionModel`` with SD-2.1-base's config: block_out_channels (320, 640, 1280, 1280),
attention_head_dim (5, 10, 20, 20), cross_attention_dim 1024, linear projections; about 866M
parameters), SD's ``AutoencoderKL`` config, a ViT-B/16 CLIP vision tower with projection
(``neuroalign.models.random_init`` ``vit-b16``) whose 512-d ``image_embeds`` feed a random linear
read-out to 1,000 voxels (the ROI: the first 100), 512 px images, 50 DPM-Solver++ steps, fp16,
empty-prompt conditioning (a fixed (1, 77, 1024) tensor: the text encoder runs once per run in
any implementation), guidance scale 130, no CFG, no self-attention guidance.

* ``naive``: the BrainDiVE-style loop (``cond_fn`` of its pipeline): one image at a time; per
  step a no-grad UNet pass for the noise estimate, then a second UNet pass with gradients on
  for the x0 estimate, blend, full VAE decode, bilinear resize and CLIP normalization, encoder,
  ``eps - sqrt(1 - a) g``, scheduler step; eager.
* ``ours``: :class:`neuroalign.diffusion.sampler.GuidedSampler`, the same math batched
  (``--batch``), one UNet pass per step (without CFG the no-grad pass and the grad pass compute
  the same output: ``fused``), UNet and VAE decoder through ``torch.compile``.
* ``tiny``: ours with a random ``AutoencoderTiny`` (TAESD's config) decoding the guidance pass
  (the final images still go through the full VAE).
* ``agreement``: max |pixel difference| between naive and ours on the same seeds (identical
  math), and the Spearman rank correlation of the encoder's ROI score of the images the full
  VAE and the tiny decoder decode from the same latents (the final latents of ``ours``). With
  random weights the two decoders are unrelated; pass ``--pipeline`` and ``--tiny-decoder``
  with real weights (``hf:stabilityai/stable-diffusion-2-1-base``, ``hf:madebyollin/taesd``)
  for the ranking claim.

Reports seconds per image, ratios to naive and the agreement in JSON. ``--smoke`` runs tiny
shapes on the CPU in seconds (a check that the script works, not a measurement).

Usage::

    python benchmarks/guided_synthesis.py --out guided_synthesis.json
    python benchmarks/guided_synthesis.py --smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from neuroalign.diffusion.encoder import ImageEncoder, ImagePrep
from neuroalign.diffusion.sampler import GuidedSampler, initial_latents, make_scheduler
from neuroalign.models.random_init import build_model

SD21_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
)
SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    latent_channels=4,
    sample_size=512,
    scaling_factor=0.18215,
)
SD_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    prediction_type="epsilon",
    set_alpha_to_one=False,
    clip_sample=False,
    steps_offset=1,
)
TINY_UNET = dict(
    sample_size=16,
    block_out_channels=(32, 64),
    layers_per_block=2,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
)
TINY_VAE = dict(
    block_out_channels=(32, 64),
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    latent_channels=4,
    sample_size=32,
)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build(args, device, dtype):
    """UNet, VAE, scheduler config, tiny decoder, encoder, objective, prompt states."""
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

    torch.manual_seed(0)
    if args.pipeline:
        from neuroalign.diffusion.sd import load_sd

        parts = load_sd(args.pipeline, device=device, dtype=dtype)
        unet, vae, sched_config = parts.unet, parts.vae, parts.scheduler_config
    else:
        unet = UNet2DConditionModel(**(TINY_UNET if args.smoke else SD21_UNET))
        vae = AutoencoderKL(**(TINY_VAE if args.smoke else SD_VAE))
        sched_config = dict(SD_SCHEDULER)
    unet = unet.to(device, dtype).eval().requires_grad_(False)
    vae = vae.to(device, dtype).eval().requires_grad_(False)
    if args.tiny_decoder:
        tiny = AutoencoderTiny.from_pretrained(args.tiny_decoder.removeprefix("hf:"))
    elif args.smoke:
        tiny = AutoencoderTiny(
            encoder_block_out_channels=(16, 16),
            decoder_block_out_channels=(16, 16),
            num_encoder_blocks=(1, 1),
            num_decoder_blocks=(1, 1),
        )
    else:
        tiny = AutoencoderTiny()
    tiny = tiny.to(device, dtype).eval().requires_grad_(False)
    tower, processor = build_model("clip-vision-tiny" if args.smoke else "vit-b16", seed=0)
    tower = tower.to(device, dtype)
    n_units = tower.config.projection_dim
    gen = torch.Generator().manual_seed(1)
    n_vox = 1000
    encoder = ImageEncoder(
        tower,
        ImagePrep.from_processor(processor),
        units="embeds",
        layer=-1,
        pooling="mean",
        weight=torch.randn(n_units, n_vox, generator=gen) / n_units**0.5,
        intercept=torch.zeros(n_vox),
        mean=torch.zeros(n_units),
        scale=torch.ones(n_units),
        rois={"roi": torch.arange(n_vox) < 100},
        name="vit-b16",
    ).to(device)
    roi = encoder.rois["roi"].to(device)

    def score(images):
        return encoder(images)[:, roi].mean(1)

    dim = unet.config.cross_attention_dim
    states = torch.randn(1, 77 if not args.smoke else 8, dim, generator=gen).to(device)
    return unet, vae, sched_config, tiny, score, states


def naive_image(unet, vae, sched_config, score, states, seed, args, device):
    """BrainDiVE's loop for one image: a no-grad UNet pass, then its cond_fn (second pass with
    gradients), eps - sqrt(1 - a) g, scheduler step; eager."""
    scheduler = make_scheduler(sched_config, args.scheduler)
    scheduler.set_timesteps(args.steps, device=device)
    dtype = next(unet.parameters()).dtype
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    side = unet.config.sample_size if args.resolution is None else args.resolution // vae_scale
    z = initial_latents([seed], (4, side, side), device) * scheduler.init_noise_sigma
    factor = vae.config.scaling_factor
    for t in scheduler.timesteps:
        with torch.no_grad():
            eps = unet(z.to(dtype), t, encoder_hidden_states=states.to(dtype)).sample.float()
        a = float(scheduler.alphas_cumprod[int(t)])
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            eps_g = unet(zg.to(dtype), t, encoder_hidden_states=states.to(dtype)).sample.float()
            x0 = (zg - (1 - a) ** 0.5 * eps_g) / a**0.5
            fac = (1 - a) ** 0.5
            mix = fac * x0 + (1 - fac) * zg
            img = (vae.decode((mix / factor).to(dtype)).sample.float() / 2 + 0.5).clamp(0, 1)
            loss = -args.scale * score(img).sum()
            grad = -torch.autograd.grad(loss, zg)[0]
        eps = eps - (1 - a) ** 0.5 * grad
        with torch.no_grad():
            z = scheduler.step(eps, t, z).prev_sample
    with torch.no_grad():
        return (vae.decode((z / factor).to(dtype)).sample.float() / 2 + 0.5).clamp(0, 1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def progress(message: str) -> None:
    """One line on stderr as each part finishes."""
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--scheduler", default="dpmpp")
    parser.add_argument("--scale", type=float, default=130.0)
    parser.add_argument("--batch", type=int, default=None, help="images per batch (ours)")
    parser.add_argument("--n-naive", type=int, default=None, help="images timed for naive")
    parser.add_argument("--n-ours", type=int, default=None, help="images timed for ours")
    parser.add_argument("--n-rank", type=int, default=None, help="latents for the Spearman")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--dtype", default=None, help="float16, bfloat16 or float32")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--channels-last", action="store_true", help="also time ours with channels-last models"
    )
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset of ours,tiny,ours_channels_last,tiny_channels_last "
        "(default: ours,tiny, and the channels-last pair with --channels-last)",
    )
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="after timing naive as BrainDiVE runs it, let cuDNN time its convolution "
        "algorithms for each shape (torch.backends.cudnn.benchmark); naive is timed again "
        "with it as naive_cudnn_benchmark",
    )
    parser.add_argument("--pipeline", default=None, help="real weights: path:<dir> or hf:<id>")
    parser.add_argument("--tiny-decoder", default=None, help="real AutoencoderTiny: hf:<id>")
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args()
    smoke = args.smoke
    args.steps = args.steps or (3 if smoke else 50)
    args.batch = args.batch or (2 if smoke else 4)
    args.n_naive = args.n_naive or 2
    args.n_ours = args.n_ours or (4 if smoke else 16)
    args.n_rank = args.n_rank or (4 if smoke else 32)
    device = "cpu" if smoke or not torch.cuda.is_available() else "cuda"
    dtype = getattr(torch, args.dtype or ("float32" if smoke else "float16"))
    compile_ = not (args.no_compile or smoke)
    unet, vae, sched_config, tiny, score, states = build(args, device, dtype)
    progress("models built")
    n_params = sum(p.numel() for p in unet.parameters())

    # naive: batch 1, eager, two UNet passes per step.
    seeds = list(range(args.n_naive))
    naive_image(unet, vae, sched_config, score, states, 10_000, args, device)  # warm-up
    sync()
    start = time.perf_counter()
    naive_images = [naive_image(unet, vae, sched_config, score, states, s, args, device)
                    for s in seeds]  # fmt: skip
    sync()
    naive_s = (time.perf_counter() - start) / len(seeds)
    progress(f"naive: {naive_s:.2f} s per image")
    extra_naive = {}
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
        naive_image(unet, vae, sched_config, score, states, 10_000, args, device)
        sync()
        start = time.perf_counter()
        for s in seeds:
            naive_image(unet, vae, sched_config, score, states, s, args, device)
        sync()
        extra_naive["naive_cudnn_benchmark"] = (time.perf_counter() - start) / len(seeds)
        progress(f"naive, cudnn.benchmark: {extra_naive['naive_cudnn_benchmark']:.2f} s per image")

    def sampler(decoder=None, compile=False):
        return GuidedSampler(
            unet,
            vae,
            sched_config,
            scheduler=args.scheduler,
            steps=args.steps,
            prompt_embeds=states,
            guidance_decoder=decoder,
            compile=compile,
        )

    results = {}
    ours_batches = {}
    known = {
        "ours": (None, False),
        "tiny": (tiny, False),
        "ours_channels_last": (None, True),
        "tiny_channels_last": (tiny, True),
    }
    names = ["ours", "tiny"] + (["ours_channels_last", "tiny_channels_last"] * args.channels_last)
    if args.variants:
        names = args.variants.split(",")
        unknown = sorted(set(names) - set(known))
        if unknown:
            parser.error(f"--variants: unknown {unknown}; choose from {sorted(known)}")
    # Contiguous variants first: the channels-last ones convert the models in place.
    names = sorted(names, key=lambda n: known[n][1])
    variants = [(n, *known[n]) for n in names]
    converted = False
    for name, decoder, channels_last in variants:
        if channels_last and not converted:  # same math, the layout tensor cores prefer
            converted = True
            for model in (unet, vae, tiny):
                model.to(memory_format=torch.channels_last)
            torch._dynamo.reset()  # graphs compiled for the other weight layout
        s = sampler(decoder, compile_)
        run_seeds = list(range(args.n_ours))
        s.sample(
            list(range(10_000, 10_000 + args.batch)),
            score=score,
            scale=args.scale,
            resolution=args.resolution,
        )  # fmt: skip  (warm-up / compilation)
        sync()
        start = time.perf_counter()
        batches = [
            s.sample(run_seeds[i : i + args.batch], score=score, scale=args.scale,
                     resolution=args.resolution)
            for i in range(0, len(run_seeds), args.batch)
        ]  # fmt: skip
        sync()
        results[name] = (time.perf_counter() - start) / len(run_seeds)
        progress(f"{name}: {results[name]:.2f} s per image")
        ours_batches[name] = batches
    # Agreement with naive on the same seeds (eager, same math).
    eager = sampler(None, False).sample(seeds, score=score, scale=args.scale,
                                        resolution=args.resolution)  # fmt: skip
    diff = float((eager.images - torch.cat(naive_images)).abs().max())
    # Ranking: the ROI score of full-VAE and tiny decodes of the same latents.
    probe = sampler(None, False)
    latents = torch.cat([b.latents for b in next(iter(ours_batches.values()))])
    rank_gen = torch.Generator().manual_seed(7)
    extra = max(0, args.n_rank - len(latents))
    if extra:  # more latents: noised versions of the final ones at a mid-level
        noise = torch.randn((extra, *latents.shape[1:]), generator=rank_gen).to(latents)
        latents = torch.cat([latents, latents[torch.arange(extra) % len(latents)] + 0.5 * noise])
    full_scores, tiny_scores = [], []
    with torch.no_grad():
        for i in range(0, len(latents), args.batch):
            chunk = latents[i : i + args.batch]
            full_scores.append(score(probe.decode(chunk)).float().cpu())
            tiny_scores.append(score(probe.decode(chunk, tiny)).float().cpu())
    rho = spearman(torch.cat(full_scores).numpy(), torch.cat(tiny_scores).numpy())
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "unet_params": n_params,
        "steps": args.steps,
        "scheduler": args.scheduler,
        "batch": args.batch,
        "compiled": compile_,
        "resolution": args.resolution
        or unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1),
        "cudnn_benchmark": bool(args.cudnn_benchmark),
        "s_per_image": {"naive": naive_s, **extra_naive, **results},
        "speedup": {name: naive_s / t for name, t in results.items()},
        "max_abs_diff_naive_vs_ours": diff,
        "finite": bool(
            all(torch.isfinite(b.images).all() for bs in ours_batches.values() for b in bs)
        ),
        "spearman_full_vs_tiny": rho,
        "n_rank": len(latents),
        "random_weights": args.pipeline is None,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
