"""unCLIP-style diffusers pipelines: loading one from a source, generating from image embeddings.

A pipeline is *unCLIP-style* when its ``__call__`` takes ``image_embeds`` (pre-computed CLIP image
embeddings that condition the UNet), as diffusers' ``StableUnCLIPImg2ImgPipeline`` does. Sources
are written as for models: ``hf:<id>[@revision]`` or ``path:<dir>`` (a folder saved with
``save_pretrained``, holding ``model_index.json``).

:func:`build_tiny_unclip` makes a tiny pipeline with random weights from configs (the components
of diffusers' own unCLIP tests): the offline demo's generator and the tests' fixture.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.devices import resolve_device, resolve_dtype
from neuroalign.models.random_init import build_model
from neuroalign.models.sources import parse_source

logger = logging.getLogger(__name__)

__all__ = [
    "TINY_TOKENS",
    "build_tiny_unclip",
    "embed_images",
    "generate",
    "load_pipeline",
    "save_tiny_unclip",
]

#: The toy byte-pair vocabulary of the tiny pipeline's tokenizer (transformers' CLIP tokenizer
#: tests use the same one): enough to tokenize the empty prompt and short words.
TINY_TOKENS = (
    "l o w e r s t i d n lo l</w> w</w> r</w> t</w> low</w> er</w> lowest</w> newer</w> wider "
    "<unk> <|startoftext|> <|endoftext|>"
).split()
_TINY_MERGES = ("#version: 0.2", "l o", "lo w</w>", "e r</w>")


def _tiny_tokenizer(folder: Path, max_length: int = 16):
    """A CLIP tokenizer over :data:`TINY_TOKENS`, its files written to ``folder``."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.json"
    merges = folder / "merges.txt"
    vocab.write_text(json.dumps({t: i for i, t in enumerate(TINY_TOKENS)}))
    merges.write_text("\n".join(_TINY_MERGES) + "\n")
    return CLIPTokenizer(str(vocab), str(merges), model_max_length=max_length)


def build_tiny_unclip(
    *,
    image_encoder: str | Path | None = None,
    encoder_config: str = "clip-vision-tiny",
    image_size: int = 32,
    seed: int = 0,
    workdir: str | Path | None = None,
):
    """Build a tiny ``StableUnCLIPImg2ImgPipeline`` with random weights from configs (no hub).

    The components follow diffusers' unCLIP tests: a CLIP vision tower with projection (the
    demo's ``tiny_clip``), a
    ``StableUnCLIPImageNormalizer``, a ``DDPMScheduler`` (``squaredcos_cap_v2``) that noises the
    image embeddings, a UNet conditioned on them through ``class_embed_type="projection"``
    (input twice the projection width: the embedding and its noise-level embedding), a DDIM
    scheduler with ``v_prediction``, a one-block VAE (images are the latents' size), and a tiny
    CLIP text encoder with a toy tokenizer written to files.

    Parameters
    ----------
    image_encoder : path, optional
        A folder holding a saved ``CLIPVisionModelWithProjection`` with its image processor
        (``neuroalign init-model`` writes one): the pipeline's image encoder, so that the
        pipeline's embedding space is that model's ``image_embeds``.
    encoder_config : str
        Without ``image_encoder``: the named config of :mod:`neuroalign.models.random_init` that
        builds a random image encoder (seeded with ``seed``).
    image_size : int
        Output image size (pixels); the UNet's sample size.
    seed : int
        Seed of the random weights.
    workdir : path, optional
        Where the tokenizer files are written (default: a temporary folder).

    Returns
    -------
    pipe : diffusers.StableUnCLIPImg2ImgPipeline
        On the CPU, in float32, with the progress bar off.
    """
    import tempfile

    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    if image_encoder is not None:
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        folder = Path(image_encoder)
        try:
            encoder = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
            processor = CLIPImageProcessor.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise NeuroalignError(
                f"image encoder {folder}: not a saved CLIPVisionModelWithProjection with its "
                f"image processor ({err})"
            ) from err
    else:
        encoder, processor = build_model(encoder_config, seed=seed)
    embed_dim = int(encoder.config.projection_dim)
    hidden = 32
    torch.manual_seed(seed + 1)
    unet = UNet2DConditionModel(
        sample_size=image_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        attention_head_dim=(2, 4),
        class_embed_type="projection",
        projection_class_embeddings_input_dim=2 * embed_dim,
        cross_attention_dim=hidden,
        layers_per_block=1,
        upcast_attention=True,
        use_linear_projection=True,
    )
    torch.manual_seed(seed + 2)
    vae = AutoencoderKL(block_out_channels=(32,), norm_num_groups=32, latent_channels=4)
    tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tiny-unclip-"))
    tokenizer = _tiny_tokenizer(tmp / "tokenizer")
    bos, eos = len(TINY_TOKENS) - 2, len(TINY_TOKENS) - 1
    torch.manual_seed(seed + 3)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=eos,
            hidden_size=hidden,
            projection_dim=hidden,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(TINY_TOKENS),
            max_position_embeddings=tokenizer.model_max_length,
        )
    ).eval()
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=processor,
        image_encoder=encoder,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=embed_dim),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=unet.eval(),
        scheduler=DDIMScheduler(
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            prediction_type="v_prediction",
            set_alpha_to_one=False,
            steps_offset=1,
        ),
        vae=vae.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_unclip(output: str | Path, **kwargs: Any) -> Path:
    """Build :func:`build_tiny_unclip` and save it with ``save_pretrained``, atomically.

    The folder is usable as the source ``path:<output>``. Keyword arguments go to
    :func:`build_tiny_unclip`.
    """
    import tempfile

    from neuroalign._io import atomic_path

    output = Path(output)
    with tempfile.TemporaryDirectory() as work:
        pipe = build_tiny_unclip(workdir=work, **kwargs)
        with atomic_path(output) as tmp:
            pipe.save_pretrained(tmp, safe_serialization=True)
    logger.info("tiny unCLIP pipeline saved to %s", output)
    return output


def load_pipeline(source: str, *, device: str = "auto", dtype: str = "auto"):
    """Load an unCLIP-style diffusers pipeline from ``hf:<id>[@revision]`` or ``path:<dir>``.

    Parameters
    ----------
    source : str
        Where the pipeline comes from.
    device, dtype : str
        Placement and precision (the rules of :mod:`neuroalign.devices`).

    Raises
    ------
    NeuroalignError
        If the source is malformed, the folder holds no pipeline, loading fails, or the pipeline
        does not take ``image_embeds``.
    """
    from diffusers import DiffusionPipeline

    parsed = parse_source(source)
    if parsed.scheme not in ("hf", "path"):
        raise NeuroalignError(
            f"pipeline source {source!r}: use hf:<id>[@revision] or path:<dir> (a folder saved "
            "with save_pretrained)"
        )
    location = parsed.location
    if parsed.scheme == "path":
        folder = Path(location).expanduser().resolve()
        if not (folder / "model_index.json").is_file():
            raise NeuroalignError(
                f"pipeline source {source}: {folder} has no model_index.json; point path: at a "
                "folder saved with a diffusers pipeline's save_pretrained"
            )
        location = str(folder)
    resolved = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, resolved)
    try:
        pipe = DiffusionPipeline.from_pretrained(
            location, revision=parsed.revision, torch_dtype=torch_dtype
        )
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NeuroalignError(f"pipeline source {source}: could not load ({first})") from err
    if "image_embeds" not in inspect.signature(pipe.__call__).parameters:
        raise NeuroalignError(
            f"pipeline source {source}: {type(pipe).__name__} takes no image_embeds; use an "
            "unCLIP pipeline (StableUnCLIPImg2ImgPipeline)"
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(resolved)


def generate(
    pipe,
    embeds: np.ndarray,
    seeds: Sequence[int],
    *,
    steps: int = 20,
    guidance_scale: float = 1.0,
    noise_level: int = 0,
    prompt: str = "",
    batch_size: int = 8,
) -> np.ndarray:
    """Generate one image per (embedding, seed) row; a batch equals one-at-a-time generation.

    Each row gets its own ``torch.Generator("cpu").manual_seed(seed)``, passed to the pipeline
    as a list, so a row's image depends on its embedding and seed only, not on its batch.

    Parameters
    ----------
    pipe : unCLIP-style pipeline
        A pipeline taking ``image_embeds`` (see :func:`load_pipeline`).
    embeds : array, shape (n, d)
        Image embeddings, one per image to generate.
    seeds : sequence of int, length n
        The seed of each row.
    steps, guidance_scale, noise_level, prompt
        Passed to the pipeline (``num_inference_steps``, ...).
    batch_size : int
        Rows per pipeline call.

    Returns
    -------
    images : array, shape (n, height, width, 3), float32 in [0, 1]
    """
    import torch

    embeds = np.asarray(embeds, dtype=np.float32)
    if embeds.ndim != 2 or len(embeds) != len(seeds):
        raise NeuroalignError(
            f"generate: embeddings of shape {embeds.shape} need one seed per row "
            f"({len(seeds)} seeds given)"
        )
    # The device the pipeline runs on (the CPU under model offloading is not it).
    device = getattr(pipe, "_execution_device", pipe.device)
    dtype = pipe.unet.dtype
    out = []
    for start in range(0, len(embeds), max(1, int(batch_size))):
        rows = slice(start, start + max(1, int(batch_size)))
        chunk = torch.as_tensor(embeds[rows], device=device, dtype=dtype)
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds[rows]]
        with torch.no_grad():
            result = pipe(
                image_embeds=chunk,
                prompt=[prompt] * len(chunk),
                noise_level=int(noise_level),
                num_inference_steps=int(steps),
                guidance_scale=float(guidance_scale),
                generator=generators,
                output_type="np",
            )
        out.append(np.asarray(result.images, dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.float32)


def embed_images(pipe) -> Callable[[np.ndarray], np.ndarray]:
    """The pipeline's own image embedder: images (n, h, w, 3) in [0, 1] -> ``image_embeds``."""
    import torch

    def embed(images: np.ndarray) -> np.ndarray:
        pixels = pipe.feature_extractor(
            images=list(np.asarray(images)), return_tensors="pt", do_rescale=False
        ).pixel_values
        encoder = pipe.image_encoder
        pixels = pixels.to(device=encoder.device, dtype=encoder.dtype)
        with torch.no_grad():
            return encoder(pixels).image_embeds.float().cpu().numpy()

    return embed
