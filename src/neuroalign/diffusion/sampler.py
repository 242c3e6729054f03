"""The guided sampling loop over diffusers parts (UNet, VAE, scheduler).

One ``torch.Generator("cpu")`` per image draws its initial latent from its seed, and nothing
else draws random numbers (DDIM with eta 0, DPM-Solver++ and Euler without churn are
deterministic), so a batch equals its images made one at a time, guidance scale 0 gives the
unguided images bit for bit (the gradient pass is skipped, and it would draw nothing anyway),
and the unguided twin of a guided image comes from the same seed.

Per step: the main pass (with classifier-free guidance when ``cfg > 1``: unconditional and
conditional halves in one batch) gives the model output; with ``scale != 0`` the guidance pass
runs the UNet again on the latent with gradients on (BrainDiVE's ``cond_fn``; without CFG the
two passes are the same computation, so the guidance pass's output serves as the main one:
``fused``), takes the x0 estimate, blends, decodes (with ``guidance_decoder``, a cheaper decoder,
if given), scores with the encoder's objective and shifts the output
(:mod:`neuroalign.diffusion.guidance`). Then an ordinary ``scheduler.step``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from neuroalign._check import NeuroalignError, check_option
from neuroalign.diffusion.guidance import blend, guide_output, noise_level, predict_x0

__all__ = ["SCHEDULERS", "GuidedSampler", "initial_latents", "make_scheduler"]

logger = logging.getLogger(__name__)

#: Scheduler names of the settings and their diffusers classes.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "dpmpp": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
}


#: Steps whose signal level ``alpha_bar`` is below this run unguided (zero terminal SNR).
MIN_GUIDED_ALPHA_BAR = 1e-6


def make_scheduler(config: dict, name: str) -> Any:
    """A fresh scheduler of kind ``name`` from a saved scheduler's config (its betas and
    prediction type carry over); DPM-Solver++ is the multistep ``dpmsolver++`` algorithm.

    DDIM clips its x0 estimate to [-1, 1] unless told not to, which is wrong for latents: from a
    config without ``clip_sample`` (an Euler or DPM-Solver config), it does not clip.
    """
    import diffusers

    check_option("scheduler", name, tuple(SCHEDULERS))
    cls = getattr(diffusers, SCHEDULERS[name])
    extra = {"algorithm_type": "dpmsolver++"} if name == "dpmpp" else {}
    if name == "ddim":
        extra["clip_sample"] = bool(config.get("clip_sample", False))
    return cls.from_config({**config, **extra})


def initial_latents(
    seeds: Sequence[int], shape: tuple[int, int, int], device: Any = "cpu"
) -> torch.Tensor:
    """One standard normal latent per seed, each from its own CPU generator (float32)."""
    out = [
        torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(int(s)))
        for s in seeds
    ]
    return torch.cat(out).to(device)


@dataclass
class Batch:
    """The result of one sampled batch: latents and images (batch, 3, H, W) in [0, 1]."""

    latents: torch.Tensor
    images: torch.Tensor


class GuidedSampler:
    """Brain-guided (or unguided) sampling over a UNet, a VAE and a scheduler config.

    Parameters
    ----------
    unet, vae : diffusers models
    scheduler_config : dict
    scheduler : {"ddim", "dpmpp", "euler"}
    steps : int
    prompt_embeds : tensor of shape (1, n_tokens, dim)
        The prompt's text-encoder states (the conditional branch).
    negative_embeds : tensor, optional
        The empty prompt's states (the unconditional branch of classifier-free guidance).
    cfg : float
        Classifier-free guidance scale (off at 0 or 1).
    guidance_decoder : diffusers model, optional
        Decoder of the guidance pass (an ``AutoencoderTiny``); default ``vae``.
    fused : bool
        Without CFG, use the guidance pass's UNet output as the main output (one UNet
        forward per step instead of two; the same numbers).
    compile : bool
        ``torch.compile`` the UNet and the decoders.
    """

    def __init__(
        self,
        unet: Any,
        vae: Any,
        scheduler_config: dict,
        *,
        scheduler: str = "dpmpp",
        steps: int = 50,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor | None = None,
        cfg: float = 0.0,
        guidance_decoder: Any = None,
        fused: bool = True,
        compile: bool = False,
    ) -> None:
        self.unet, self.vae = unet, vae
        self.scheduler_config = dict(scheduler_config)
        self.scheduler_name = check_option("scheduler", scheduler, tuple(SCHEDULERS))
        self.steps = int(steps)
        self.cfg = float(cfg)
        if self.cfg > 1 and negative_embeds is None:
            raise NeuroalignError("classifier-free guidance (cfg > 1) needs negative_embeds.")
        self.prompt_embeds, self.negative_embeds = prompt_embeds, negative_embeds
        self.guidance_decoder = guidance_decoder
        self.fused = fused
        self.prediction_type = str(self.scheduler_config.get("prediction_type", "epsilon"))
        self._unet_call = unet
        # Compiled decoder stacks by decoder (the models themselves are left as they are).
        self._decoders: dict[int, Callable] = {}
        if compile:
            self._unet_call = torch.compile(unet)
            for dec in (vae, guidance_decoder):
                if dec is not None and id(dec) not in self._decoders:
                    self._decoders[id(dec)] = torch.compile(dec.decoder)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def latent_shape(self, resolution: int | None) -> tuple[int, int, int]:
        """(channels, height, width) of the latents of images of side ``resolution``."""
        scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        if resolution is None:
            side = int(self.unet.config.sample_size)
        else:
            if resolution % scale:
                raise NeuroalignError(
                    f"resolution {resolution}: must be a multiple of the VAE's scale {scale}."
                )
            side = resolution // scale
        return int(self.unet.config.in_channels), side, side

    # -- parts -----------------------------------------------------------------------------
    def _unet(self, z_in: torch.Tensor, t: Any, states: torch.Tensor) -> torch.Tensor:
        states = states.expand(z_in.shape[0], -1, -1)
        out = self._unet_call(
            z_in.to(self.dtype), t, encoder_hidden_states=states.to(self.dtype)
        ).sample
        return out.float()

    def decode(self, latents: torch.Tensor, decoder: Any = None) -> torch.Tensor:
        """Images (batch, 3, H, W) in [0, 1] of variance-preserving latents."""
        decoder = self.vae if decoder is None else decoder
        factor = float(getattr(decoder.config, "scaling_factor", 1.0) or 1.0)
        z = (latents / factor).to(next(decoder.parameters()).dtype)
        compiled = self._decoders.get(id(decoder))
        if compiled is None:
            image = decoder.decode(z).sample
        else:  # what AutoencoderKL.decode and AutoencoderTiny.decode run, untiled
            if getattr(decoder, "post_quant_conv", None) is not None:
                z = decoder.post_quant_conv(z)
            image = compiled(z)
        return (image.float() / 2 + 0.5).clamp(0, 1)

    def _main_output(self, z_in: torch.Tensor, t: Any) -> torch.Tensor:
        if self.cfg > 1:
            states = torch.cat(
                [
                    self.negative_embeds.expand(z_in.shape[0], -1, -1),
                    self.prompt_embeds.expand(z_in.shape[0], -1, -1),
                ]
            )
            both = self._unet(torch.cat([z_in, z_in]), t, states)
            uncond, cond = both.chunk(2)
            return uncond + self.cfg * (cond - uncond)
        return self._unet(z_in, t, self.prompt_embeds)

    def guidance(
        self,
        scheduler: Any,
        latents: torch.Tensor,
        t: Any,
        score: Callable[[torch.Tensor], torch.Tensor],
        scale: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BrainDiVE's gradient ``s * dS/dz`` at ``latents`` and the UNet output it used."""
        level = noise_level(scheduler, t)
        with torch.enable_grad():
            z = latents.detach().requires_grad_(True)
            z_in = scheduler.scale_model_input(z, t)
            out = self._unet(z_in, t, self.prompt_embeds)
            z_vp = z * level.input_scale
            x0, _ = predict_x0(z_vp, out, level.alpha_bar, self.prediction_type)
            image = self.decode(blend(x0, z_vp, level.alpha_bar), self.guidance_decoder)
            objective = score(image).sum() * float(scale)
            (grad,) = torch.autograd.grad(objective, z)
        if not bool(torch.isfinite(grad).all()):
            fix = "lower the scale or check the encoder's objective"
            if self.dtype != torch.float32:
                fix = f"run in float32 (diffusion.synthesize.<name>.dtype: float32) or {fix}"
            raise NeuroalignError(
                f"the guidance gradient at timestep {int(t)} is not finite (an overflow in "
                f"{self.dtype} or in the encoder); {fix}."
            )
        return grad.detach(), out.detach()

    # -- the loop --------------------------------------------------------------------------
    def sample(
        self,
        seeds: Sequence[int],
        *,
        score: Callable[[torch.Tensor], torch.Tensor] | None = None,
        scale: float = 0.0,
        resolution: int | None = None,
        latents: torch.Tensor | None = None,
    ) -> Batch:
        """Sample one batch: an image per seed, guided by ``score`` at ``scale``.

        Parameters
        ----------
        seeds : sequence of int
            One image per seed (its initial latent from its own generator).
        score : callable, optional
            Images (batch, 3, H, W) in [0, 1] -> objective values (batch,); needed when
            ``scale != 0``.
        scale : float
            Guidance scale s; 0 skips the gradient pass (the unguided sampler); a negative
            scale lowers the objective.
        resolution : int, optional
            Image side; default the UNet's sample size times the VAE's scale.
        latents : tensor, optional
            Initial standard normal latents instead of the seeds' (same batch size).

        Returns
        -------
        batch : Batch
        """
        if scale != 0 and score is None:
            raise NeuroalignError("guided sampling (scale != 0) needs a score function.")
        scheduler = make_scheduler(self.scheduler_config, self.scheduler_name)
        scheduler.set_timesteps(self.steps, device=self.device)
        if latents is None:
            latents = initial_latents(seeds, self.latent_shape(resolution), self.device)
        latents = latents.float() * float(scheduler.init_noise_sigma)
        fuse = self.fused and self.cfg <= 1
        with torch.no_grad():
            for t in scheduler.timesteps:
                z_in = scheduler.scale_model_input(latents, t)
                # At zero signal (the first step of a zero-terminal-SNR schedule) the x0
                # estimate holds nothing of the latent to guide and the shift would divide
                # by sqrt(alpha_bar) = 0: that step runs unguided.
                if scale != 0 and noise_level(scheduler, t).alpha_bar >= MIN_GUIDED_ALPHA_BAR:
                    grad, guided_out = self.guidance(scheduler, latents, t, score, scale)
                    out = guided_out if fuse else self._main_output(z_in, t)
                    out = guide_output(out, grad, noise_level(scheduler, t), self.prediction_type)
                else:
                    out = self._main_output(z_in, t)
                latents = scheduler.step(out, t, latents).prev_sample
            images = self.decode(latents)
        return Batch(latents=latents, images=images)
