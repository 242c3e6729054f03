"""Stable-Diffusion-style parts: a tiny random pipeline built from configs, and the one loader.

A pipeline folder is what diffusers' ``save_pretrained`` writes (``model_index.json``,
``unet/``, ``vae/``, ``scheduler/``, ``text_encoder/``, ``tokenizer/``); a source is
``path:<dir>`` or ``hf:<id>[@revision]`` (e.g. ``hf:stabilityai/stable-diffusion-2-1-base``),
as for models. :func:`save_tiny_sd` writes the demo's tiny pipeline: the components of
diffusers' own Stable Diffusion tests (a two-block UNet, a two-block VAE, a five-layer CLIP text
encoder) and a CLIP tokenizer over a byte-level vocabulary written to files (every byte is a
token, no merges), so any prompt tokenizes without a download.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.models.sources import parse_source

logger = logging.getLogger(__name__)

__all__ = ["SDParts", "build_tiny_sd", "load_sd", "save_tiny_sd"]


def _byte_tokens() -> list[str]:
    """GPT-2's printable stand-in of every byte (the alphabet of CLIP's byte-level BPE)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 256))
    chars, n = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return [chr(c) for c in chars]


def _tiny_tokenizer(folder: Path, max_length: int = 16) -> Any:
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = _byte_tokens()
    vocab = tokens + [t + "</w>" for t in tokens] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        model_max_length=max_length,
        pad_token="<|endoftext|>",
    )


def build_tiny_sd(*, image_size: int = 32, seed: int = 0, workdir: str | Path | None = None) -> Any:
    """A tiny ``StableDiffusionPipeline`` with random weights (diffusers' test components).

    Parameters
    ----------
    image_size : int
        Pixels of the images; the VAE halves them once (the UNet's sample size is half).
    seed : int
        Seed of the weights.
    workdir : path, optional
        Where the tokenizer files are written (default: a temporary folder).

    Returns
    -------
    pipe : diffusers.StableDiffusionPipeline
        On the CPU in float32 (no safety checker).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    if image_size % 2:
        raise NeuroalignError(f"tiny_sd image_size {image_size}: must be even.")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=2,
            sample_size=image_size // 2,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=32,
        )
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(
            block_out_channels=[32, 64],
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2,
            latent_channels=4,
            sample_size=image_size,
        )
        torch.manual_seed(seed + 2)
        text = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=512,
                eos_token_id=513,
                pad_token_id=513,
                hidden_size=32,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=5,
                vocab_size=514,
                max_position_embeddings=16,
            )
        )
    finally:
        torch.random.set_rng_state(state)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _tiny_tokenizer(Path(workdir or tmp) / "tokenizer")
        pipe = StableDiffusionPipeline(
            unet=unet.eval(),
            vae=vae.eval(),
            text_encoder=text.eval(),
            tokenizer=tokenizer,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    return pipe


def save_tiny_sd(output: str | Path, *, image_size: int = 32, seed: int = 0) -> Path:
    """Build :func:`build_tiny_sd` and save it (``save_pretrained``) to ``output``, atomically.

    The folder is usable as the source ``path:<output>``.
    """
    from neuroalign._io import atomic_path

    output = Path(output)
    with tempfile.TemporaryDirectory() as work:
        pipe = build_tiny_sd(image_size=image_size, seed=seed, workdir=work)
        with atomic_path(output) as tmp:
            pipe.save_pretrained(tmp, safe_serialization=True)
    logger.info("tiny SD pipeline saved to %s", output)
    return output


@dataclass
class SDParts:
    """The parts of a Stable-Diffusion-style model the guided sampler runs.

    Attributes
    ----------
    unet : diffusers.UNet2DConditionModel
    vae : diffusers.AutoencoderKL
    scheduler_config : dict
        The saved scheduler's config (the sampler builds DDIM, DPM-Solver++ or Euler from it).
    text_encoder, tokenizer : transformers models, or None
        Absent parts mean prompts cannot be encoded (give ``prompt_embeds``).
    source : str
        Where they came from.
    """

    unet: Any
    vae: Any
    scheduler_config: dict
    text_encoder: Any = None
    tokenizer: Any = None
    source: str = ""


def _location(source: str) -> tuple[str, str | None]:
    parsed = parse_source(source)
    if parsed.scheme not in ("hf", "path"):
        raise NeuroalignError(
            f"pipeline source {source!r}: use hf:<id>[@revision] or path:<dir> (a folder saved "
            "with a diffusers pipeline's save_pretrained)"
        )
    if parsed.scheme == "path":
        folder = Path(parsed.location).expanduser().resolve()
        if not (folder / "unet").is_dir():
            raise NeuroalignError(
                f"pipeline source {source}: {folder} has no unet/ folder; point path: at a "
                "folder saved with save_pretrained (neuroalign init-sd writes one)"
            )
        return str(folder), None
    return parsed.location, parsed.revision


def load_sd(source: str, *, device: Any = "cpu", dtype: Any = None) -> SDParts:
    """Load the UNet, VAE, scheduler config, text encoder and tokenizer of a pipeline.

    Parameters
    ----------
    source : str
        ``path:<dir>`` or ``hf:<id>[@revision]``.
    device : str or torch.device
        Where the parts go.
    dtype : torch.dtype, optional
        Precision of the UNet, VAE and text encoder (default float32).

    Raises
    ------
    NeuroalignError
        If the source is malformed, has no UNet, or a part cannot be loaded.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    location, revision = _location(source)
    dtype = dtype or torch.float32
    kw = {"revision": revision} if revision else {}
    try:
        unet = UNet2DConditionModel.from_pretrained(
            location, subfolder="unet", torch_dtype=dtype, **kw
        )
        vae = AutoencoderKL.from_pretrained(location, subfolder="vae", torch_dtype=dtype, **kw)
        scheduler_config = dict(DDIMScheduler.load_config(location, subfolder="scheduler", **kw))
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NeuroalignError(f"pipeline source {source}: could not load ({first})") from err
    text_encoder = tokenizer = None
    try:
        from transformers import AutoTokenizer, CLIPTextModel

        text_encoder = CLIPTextModel.from_pretrained(
            location, subfolder="text_encoder", torch_dtype=dtype, **kw
        ).to(device)
        tokenizer = AutoTokenizer.from_pretrained(location, subfolder="tokenizer", **kw)
    except (OSError, ValueError) as err:
        logger.info("%s: no text encoder or tokenizer (%s)", source, str(err).splitlines()[0])
    return SDParts(
        unet=unet.eval().to(device).requires_grad_(False),
        vae=vae.eval().to(device).requires_grad_(False),
        scheduler_config=scheduler_config,
        text_encoder=None if text_encoder is None else text_encoder.eval(),
        tokenizer=tokenizer,
        source=source,
    )
