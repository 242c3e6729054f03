"""The synthesis stage: brain-guided images per objective and seed, with their unguided twins.

Writes ``<output>/<objective>/guided/<seed>.png``, ``<output>/<objective>/unguided/<seed>.png``
(the unguided images are the same for every objective and are made once, then copied) and
``<output>/manifest.parquet``: one row per image with ``roi`` (the objective's name), ``seed``,
``condition`` (guided or unguided), ``image`` (path relative to the output folder), ``scale``,
``objective`` (its description), ``steps``, ``scheduler`` and ``score`` (the guiding encoder's
objective on the saved PNG, read back as pixels in [0, 1]). The settings, the seed table and the
library versions are in the parquet's provenance. The folder is written beside its place and
renamed into it, so it is complete or absent.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.diffusion.objectives import Objective, objectives_for
from neuroalign.diffusion.sampler import GuidedSampler
from neuroalign.diffusion.settings import SynthesizeSettings

__all__ = ["encode_prompt", "png_bytes", "synthesize", "synthesize_images"]

logger = logging.getLogger(__name__)


def png_bytes(image: torch.Tensor) -> bytes:
    """PNG bytes of an image (3, H, W) in [0, 1] (rounded to uint8; no time stamp)."""
    from PIL import Image

    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_scores(
    pngs: Sequence[bytes], guide: Any, objective: Any, batch_size: int, device: Any
) -> np.ndarray:
    """The objective of the guide's predictions for each PNG, as saved, ``batch_size`` at a
    time (a run of 1,000 seeds at 512 px would not fit in one pass)."""
    scores = []
    for start in range(0, len(pngs), batch_size):
        pixels = torch.stack([_read_png(p) for p in pngs[start : start + batch_size]])
        with torch.no_grad():
            scores.append(objective(guide(pixels.to(device))).float().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def _read_png(data: bytes) -> torch.Tensor:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img.convert("RGB"), np.float32) / 255
    return torch.from_numpy(arr).permute(2, 0, 1)


def encode_prompt(parts, prompt: str, device) -> torch.Tensor:
    """The text encoder's last hidden states of ``prompt``, shape (1, n_tokens, dim)."""
    if parts.text_encoder is None or parts.tokenizer is None:
        raise NeuroalignError(
            f"pipeline {parts.source}: no text encoder and tokenizer to encode the prompt; "
            "save them with the pipeline."
        )
    tok = parts.tokenizer
    ids = tok(
        [prompt],
        padding="max_length",
        max_length=tok.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)
    with torch.no_grad():
        return parts.text_encoder(ids).last_hidden_state.float()


def synthesize_images(
    sampler: GuidedSampler,
    encoder: torch.nn.Module,
    objective: Objective | None,
    seeds: list[int],
    *,
    scale: float,
    batch_size: int,
    resolution: int | None = None,
) -> torch.Tensor:
    """Images (n_seeds, 3, H, W) in [0, 1], in batches; ``objective`` None or scale 0: unguided."""
    out = []
    guided = objective is not None and scale != 0

    def score(images: torch.Tensor) -> torch.Tensor:
        return objective(encoder(images))

    for start in range(0, len(seeds), batch_size):
        batch = sampler.sample(
            seeds[start : start + batch_size],
            score=score if guided else None,
            scale=scale if guided else 0.0,
            resolution=resolution,
        )
        out.append(batch.images.cpu())
    return torch.cat(out)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "diffusers", "transformers", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = ""
    return out


def synthesize(
    settings: SynthesizeSettings,
    *,
    encoder: str | Path,
    pipeline: str | None = None,
    output: str | Path,
) -> Path:
    """Make the guided and unguided images of every objective and seed of one subject.

    Parameters
    ----------
    settings : SynthesizeSettings
        One ``diffusion.synthesize`` entry.
    encoder : str or Path
        The guiding encoder file (`neuroalign.diffusion.encoder.fit_encoder`); the same
        encoder scores the images (``score``).
    pipeline : str, optional
        The diffusers model source (``path:<dir>`` or ``hf:<id>``); default
        ``settings.pipeline``.
    output : str or Path
        The folder to write (``results/diffusion/synth/<name>/sub-<s>/``).

    Returns
    -------
    output : Path

    Examples
    --------
    >>> settings = SynthesizeSettings.from_config(
    ...     {"dataset": "sim_vision", "encoder": "sim_vision", "steps": 4, "seeds": {"n": 4}})
    >>> synthesize(settings, encoder="results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc",
    ...            output="results/diffusion/synth/sim_vision/sub-01")  # doctest: +SKIP
    """
    from neuroalign.devices import resolve_device, resolve_dtype
    from neuroalign.diffusion.encoder import load_encoder
    from neuroalign.diffusion.sd import load_sd

    output = Path(output)
    source = pipeline or settings.pipeline
    device = resolve_device(settings.device, field="diffusion.synthesize.device")
    dtype = resolve_dtype(settings.dtype, device, field="diffusion.synthesize.dtype")
    guide = load_encoder(encoder, device=device, dtype=dtype)
    parts = load_sd(source, device=device, dtype=dtype)
    decoder = None
    if settings.guidance_decoder:
        decoder = _load_tiny_decoder(settings.guidance_decoder, device, dtype)
    if settings.channels_last:
        for model in (parts.unet, parts.vae, decoder):
            if model is not None:
                model.to(memory_format=torch.channels_last)
    rois = {k: v.cpu().numpy() for k, v in guide.rois.items()}
    objectives = objectives_for(settings.rois, settings.objectives, rois, guide.n_voxels)
    embeds = encode_prompt(parts, settings.prompt, device)
    negative = encode_prompt(parts, "", device) if settings.cfg > 1 else None
    sampler = GuidedSampler(
        parts.unet,
        parts.vae,
        parts.scheduler_config,
        scheduler=settings.scheduler,
        steps=settings.steps,
        prompt_embeds=embeds,
        negative_embeds=negative,
        cfg=settings.cfg,
        guidance_decoder=decoder,
        compile=settings.compile,
    )
    seeds = settings.seeds.seeds
    rows = []
    kw = {"batch_size": settings.batch_size, "resolution": settings.resolution}
    with atomic_path(output) as tmp:
        tmp.mkdir(parents=True)
        unguided: list[bytes] = []
        if settings.unguided:
            images = synthesize_images(sampler, guide, None, seeds, scale=0.0, **kw)
            unguided = [png_bytes(im) for im in images]
        for objective in objectives:
            logger.info(
                "objective %s (%s): %d seeds", objective.name, objective.description, len(seeds)
            )
            images = synthesize_images(sampler, guide, objective, seeds, scale=settings.scale, **kw)
            sets = [("guided", [png_bytes(im) for im in images], settings.scale)]
            if settings.unguided:
                sets.append(("unguided", unguided, 0.0))
            for condition, pngs, scale in sets:
                folder = tmp / objective.name / condition
                folder.mkdir(parents=True)
                scores = _png_scores(pngs, guide, objective, settings.batch_size, device)
                for seed, png, value in zip(seeds, pngs, scores, strict=True):
                    (folder / f"{seed}.png").write_bytes(png)
                    rows.append(
                        {
                            "roi": objective.name,
                            "seed": int(seed),
                            "condition": condition,
                            "image": f"{objective.name}/{condition}/{seed}.png",
                            "scale": float(scale),
                            "objective": objective.description,
                            "steps": settings.steps,
                            "scheduler": settings.scheduler,
                            "score": float(value),
                        }
                    )
        _write_manifest(pd.DataFrame(rows), tmp / "manifest.parquet", settings, encoder, source)
    logger.info("wrote %d images to %s", len(rows), output)
    return output


def _write_manifest(table: pd.DataFrame, path: Path, settings, encoder, source: str) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = provenance(
        stage="synthesize",
        config=settings.to_dict(),
        seed=settings.seeds.base,
        inputs={"encoder": encoder},
        pipeline=source,
        seed_table=json.dumps(settings.seeds.seeds),
        versions=json.dumps(_versions()),
        simulated=str(settings.dataset).startswith("sim_"),
    )
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), b"neuroalign": json.dumps(meta).encode()}
    )
    pq.write_table(arrow, path)


def _load_tiny_decoder(source: str, device, dtype):
    from diffusers import AutoencoderTiny

    from neuroalign.models.sources import parse_source

    parsed = parse_source(source)
    location = parsed.location
    kw = {"revision": parsed.revision} if parsed.revision else {}
    try:
        model = AutoencoderTiny.from_pretrained(location, torch_dtype=dtype, **kw)
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NeuroalignError(f"guidance_decoder {source}: could not load ({first})") from err
    return model.eval().to(device).requires_grad_(False)
