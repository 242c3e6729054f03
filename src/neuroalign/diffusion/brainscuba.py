"""BrainSCUBA: voxel weight directions projected onto natural-image embeddings, then captioned.

BrainSCUBA (Luo et al., ICLR 2024) describes what a voxel prefers in words. Its encoder is linear
on an image-embedding space, so each voxel's weight row ``w`` is a direction in that space; the
direction is moved onto the manifold of natural-image embeddings and a captioner that reads
embeddings turns it into text:

1. ``w_hat = w / ||w||`` (unit-normalize each voxel's weight row).
2. Over a bank ``E`` of image embeddings (rows), with directions ``E_dir = E / ||E||`` and the
   norms kept: ``p = softmax(temperature * w_hat . E_dir^T)`` (temperature 150, as published).
3. ``projected = normalize(p . E_dir) * (p . ||E||)``: the softmax-weighted direction, with the
   softmax-weighted norm of the bank embeddings (so it has the norm captioners expect).

The softmax runs as a stream over chunks of the bank (a running maximum, as in online softmax),
so memory stays bounded by ``chunk_size`` rows whatever the bank's size; it runs in torch on any
device (CPU or CUDA). BrainSCUBA's unit is the voxel: each voxel's own direction is projected
and captioned, and an ROI is described by its voxels' captions, here by their most frequent
words (`top_words`). The ROI's row also carries the caption of one direction, the mean of its
voxels' *normalized* weight rows (`roi_directions`): every voxel counts the same, whatever its
weight norm, and directions that disagree cancel. Through the softmax, that caption is not an
aggregate of the voxels' captions; it is a summary the paper does not make.

The softmax's ``temperature`` multiplies the cosines (150, as BrainSCUBA's code and paper use
it): larger values put the weight on fewer bank images.

Captioners (`caption_embeddings` takes any callable from embeddings to strings):

- `PrefixCaptioner`: ClipCap-style prefix captioning. A small mapping network (linear, or the
  MLP of ClipCap's checkpoints) turns the embedding into ``prefix_length`` token embeddings of a
  causal language model, which continues them with beam search (``inputs_embeds`` +
  ``generate``).
- `NearestCaptioner`: for captioning models that read images only (BLIP, GIT, ViT-GPT2 ...), or
  none at all: the bank images nearest to the projected embedding (cosine) are captioned
  instead, by an image captioning model (`image_caption_fn`) or by the captions of the stimulus
  table (the demo's simulated images carry theirs).

`caption_voxels` is the stage: one encoder's ROIs -> ``captions/<dataset>/sub-<s>.parquet``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.devices import resolve_device
from neuroalign.settings import StageSettings

__all__ = [
    "METADATA_KEY",
    "BrainscubaSettings",
    "CaptionerSettings",
    "NearestCaptioner",
    "PrefixCaptioner",
    "Projection",
    "build_mapper",
    "caption_embeddings",
    "caption_voxels",
    "encoder_weights",
    "project_directions",
    "read_captions",
    "roi_directions",
    "top_words",
]

logger = logging.getLogger(__name__)

#: Parquet schema metadata key of the provenance.
METADATA_KEY = b"neuroalign"
_EPS = 1e-12


@dataclass(frozen=True, kw_only=True)
class CaptionerSettings(StageSettings):
    """How projected embeddings become text (``brainscuba.captioner``).

    Attributes
    ----------
    kind : {"table", "image", "prefix"}
        ``table``: the stimulus table's captions of the nearest bank images; ``image``: an
        image-captioning model captions the nearest bank images; ``prefix``: ClipCap-style
        prefix captioning with a causal LM.
    source : str or None
        The captioning model (``image``) or the causal LM (``prefix``).
    mapper : str or None
        ``prefix``: the mapping network's weights file (`build_mapper`).
    tokenizer : str or None
        ``prefix``: tokenizer folder or id; None: the LM's.
    prefix_length : int
        ``prefix``: prefix tokens.
    n_nearest : int
        ``table``, ``image``: nearest bank images whose captions are joined.
    num_beams, max_new_tokens : int
        Beam search.
    stop : str or None
        ``prefix``: the caption ends after the first occurrence of this text (ClipCap's
        checkpoints end a sentence with "." and never learned the end-of-text token); None:
        at end-of-text or ``max_new_tokens`` only.
    """

    SECTION: ClassVar[str] = "#/$defs/brainscuba/properties/captioner"

    kind: str = "table"
    source: str | None = None
    mapper: str | None = None
    tokenizer: str | None = None
    prefix_length: int = 10
    n_nearest: int = 1
    num_beams: int = 5
    max_new_tokens: int = 20
    stop: str | None = "."


@dataclass(frozen=True, kw_only=True)
class BrainscubaSettings(StageSettings):
    """How voxel captions are made (one entry of the config's ``diffusion.captions``).

    Attributes
    ----------
    encoder : str or None
        The ``diffusion.encoders`` entry described (routing: the workflow finds its file).
    stimset : str or None
        Stimulus set of the bank (routing); None: the encoder's.
    temperature : float
        Softmax temperature of the projection (BrainSCUBA: 150).
    chunk_size : int
        Bank embeddings per chunk of the streamed softmax.
    rois : tuple of str or None
        ROIs described (None: every ROI of the encoder).
    top_k : int
        Bank images kept per ROI (highest softmax weight).
    voxels : bool
        Also caption every voxel of the described ROIs (BrainSCUBA's unit): each ROI's row
        gets its voxels' ids and captions and their most frequent words.
    n_words : int
        Words kept per ROI in ``top_words``.
    captioner : CaptionerSettings
        How the projected embeddings become text.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    SECTION: ClassVar[str] = "#/$defs/brainscuba"

    encoder: str | None = None
    stimset: str | None = None
    temperature: float = 150.0
    chunk_size: int = 8192
    rois: tuple[str, ...] | None = None
    top_k: int = 8
    voxels: bool = True
    n_words: int = 10
    captioner: CaptionerSettings = field(default_factory=CaptionerSettings)
    device: str = "auto"


# ---------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class Projection:
    """Directions projected onto a bank of image embeddings.

    Attributes
    ----------
    projected : ndarray, shape (n_directions, n_features)
        ``normalize(p . E_dir) * (p . ||E||)``.
    norm : ndarray, shape (n_directions,)
        The softmax-weighted bank norm ``p . ||E||`` (the norm of ``projected``).
    top_index : ndarray of int, shape (n_directions, top_k)
        Bank rows with the highest softmax weight, best first.
    top_weight : ndarray, shape (n_directions, top_k)
        Their softmax weights.
    """

    projected: np.ndarray
    norm: np.ndarray
    top_index: np.ndarray
    top_weight: np.ndarray


def _normalize_rows(x):
    import torch

    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(_EPS)


def project_directions(
    directions: np.ndarray,
    bank: np.ndarray,
    *,
    temperature: float = 150.0,
    chunk_size: int = 8192,
    top_k: int = 0,
    device: str = "cpu",
) -> Projection:
    """BrainSCUBA's softmax projection of directions onto a bank of embeddings, chunked.

    Parameters
    ----------
    directions : array, shape (n_directions, n_features)
        Voxel weight rows (or ROI directions); each is unit-normalized first.
    bank : array, shape (n_bank, n_features)
        Image embeddings; their directions enter the softmax, their norms are kept.
    temperature : float
        Softmax temperature (multiplier of the cosines); 0 weights the bank uniformly.
    chunk_size : int
        Bank rows per chunk (memory is O(n_directions * chunk_size)).
    top_k : int
        Highest-weight bank rows to return per direction.
    device : str
        Torch device of the products (float64 on CPU, float32 on CUDA).

    Returns
    -------
    Projection
    """
    import torch

    directions = np.asarray(directions)
    bank = np.asarray(bank)
    if directions.ndim != 2 or bank.ndim != 2 or directions.shape[1] != bank.shape[1]:
        raise NeuroalignError(
            f"directions {directions.shape} and bank {bank.shape} must be 2-D with the same "
            "number of features."
        )
    if bank.shape[0] == 0:
        raise NeuroalignError("the embedding bank is empty.")
    if chunk_size < 1:
        raise NeuroalignError(f"chunk_size must be positive, got {chunk_size}.")
    dtype = torch.float64 if str(device) == "cpu" else torch.float32
    w = _normalize_rows(torch.as_tensor(directions, dtype=dtype, device=device))
    n, d = w.shape
    k = min(int(top_k), bank.shape[0])
    peak = torch.full((n,), -torch.inf, dtype=dtype, device=device)
    total = torch.zeros(n, dtype=dtype, device=device)
    acc_dir = torch.zeros((n, d), dtype=dtype, device=device)
    acc_norm = torch.zeros(n, dtype=dtype, device=device)
    top_logit = torch.empty((n, 0), dtype=dtype, device=device)
    top_row = torch.empty((n, 0), dtype=torch.long, device=device)
    for start in range(0, bank.shape[0], chunk_size):
        chunk = torch.as_tensor(bank[start : start + chunk_size], dtype=dtype, device=device)
        norms = torch.linalg.vector_norm(chunk, dim=1)
        e_dir = chunk / norms.clamp_min(_EPS)[:, None]
        logits = float(temperature) * (w @ e_dir.T)  # (n, chunk)
        new_peak = torch.maximum(peak, logits.max(dim=1).values)
        rescale = torch.exp(peak - new_peak)  # exp(-inf) = 0 on the first chunk
        p = torch.exp(logits - new_peak[:, None])
        total = total * rescale + p.sum(dim=1)
        acc_dir = acc_dir * rescale[:, None] + p @ e_dir
        acc_norm = acc_norm * rescale + p @ norms
        peak = new_peak
        if k:
            rows = torch.arange(start, start + chunk.shape[0], device=device).expand(n, -1)
            top_logit = torch.cat([top_logit, logits], dim=1)
            top_row = torch.cat([top_row, rows], dim=1)
            top_logit, pick = torch.topk(top_logit, min(k, top_logit.shape[1]), dim=1)
            top_row = torch.gather(top_row, 1, pick)
    mean_dir = acc_dir / total[:, None]
    norm = acc_norm / total
    projected = _normalize_rows(mean_dir) * norm[:, None]
    top_weight = torch.exp(top_logit - peak[:, None]) / total[:, None]
    return Projection(
        projected=projected.cpu().numpy(),
        norm=norm.cpu().numpy(),
        top_index=top_row.cpu().numpy(),
        top_weight=top_weight.cpu().numpy(),
    )


def roi_directions(weights: np.ndarray, masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each voxel set's direction: the mean of its voxels' unit-normalized weight rows.

    Parameters
    ----------
    weights : array, shape (n_voxels, n_features)
        Encoder weight rows (one per voxel) in the embedding space.
    masks : mapping of str to bool array, shape (n_voxels,)
        Voxel sets.

    Returns
    -------
    dict of str to ndarray, shape (n_features,)
        Voxel sets with at least one voxel.
    """
    weights = np.asarray(weights, np.float64)
    w_hat = weights / np.maximum(np.linalg.norm(weights, axis=1, keepdims=True), _EPS)
    out = {}
    for name, mask in masks.items():
        mask = np.asarray(mask, bool)
        if mask.shape != (weights.shape[0],):
            raise NeuroalignError(
                f"ROI {name!r}: mask of shape {mask.shape} over {weights.shape[0]} voxels."
            )
        if mask.any():
            out[name] = w_hat[mask].mean(axis=0)
    return out


def top_words(captions: Sequence[str], n_words: int = 10) -> list[tuple[str, int]]:
    """The most frequent words of a set of captions, with their counts, stop words left out.

    A word counts once per caption; ties keep the order of first use.

    Examples
    --------
    >>> top_words(["a red ball on grass", "the red car", "red and blue"], 2)
    [('red', 3), ('ball', 1)]
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    counts: dict[str, int] = {}
    for caption in captions:
        words = dict.fromkeys(re.findall(r"[a-z][a-z0-9'-]*", str(caption).lower()))
        for word in words:
            if word not in ENGLISH_STOP_WORDS and len(word) > 1:
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: first use breaks ties
    return ranked[: max(0, int(n_words))]


# ---------------------------------------------------------------------------- captioners

Captioner = Callable[[np.ndarray], Sequence[str]]


def caption_embeddings(embeddings: np.ndarray, captioner: Captioner) -> list[str]:
    """Captions of embeddings (rows) by an injected captioner, one string each.

    The captioner gets all rows in one call (the captioners here batch them); no rows give [].
    """
    embeddings = np.asarray(embeddings, np.float32)
    if embeddings.shape[:1] == (0,):
        return []
    embeddings = np.atleast_2d(embeddings)
    captions = [str(c).strip() for c in captioner(embeddings)]
    if len(captions) != embeddings.shape[0]:
        raise NeuroalignError(
            f"the captioner gave {len(captions)} captions for {embeddings.shape[0]} embeddings."
        )
    return captions


_LINEAR_KEY = re.compile(r"(?:^|\.)(\d+)\.weight$")


def build_mapper(state: Mapping[str, Any]) -> Any:
    """The mapping network of a prefix captioner from its weights.

    Accepts a single linear layer (keys ``weight``, ``bias``) or ClipCap's MLP (keys
    ``...model.0.weight``, ``...model.2.weight`` ...: linear layers with tanh between them; a
    whole ClipCap checkpoint works, its ``clip_project.`` keys are picked).
    """
    import torch

    state = {k: torch.as_tensor(v) for k, v in state.items()}
    if "weight" in state:
        layer = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        layer.load_state_dict({"weight": state["weight"], "bias": state["bias"]})
        return layer.eval()
    project = {k: v for k, v in state.items() if k.startswith("clip_project.")} or state
    linear = sorted(
        (int(m.group(1)), key) for key in project if (m := _LINEAR_KEY.search(key)) is not None
    )
    if not linear:
        raise NeuroalignError(
            "mapper weights: neither a linear layer (weight, bias) nor an MLP (<n>.weight keys)."
        )
    layers: list[Any] = []
    for i, (_, key) in enumerate(linear):
        weight = project[key]
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
        layer.load_state_dict({"weight": weight, "bias": project[key[: -len("weight")] + "bias"]})
        layers.append(layer)
        if i < len(linear) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers).eval()


class PrefixCaptioner:
    """ClipCap-style captioning: embedding -> prefix token embeddings -> causal LM beam search.

    Parameters
    ----------
    lm : transformers causal LM (``GPT2LMHeadModel``, ...)
        Continues the prefix; its input embedding size is the prefix tokens' size.
    tokenizer : tokenizer
        Decodes the generated ids (``decode(ids, skip_special_tokens=True)``).
    mapper : torch.nn.Module
        Maps an embedding (n_features) to ``prefix_length * hidden_size`` values.
    prefix_length : int
        Prefix tokens.
    num_beams, max_new_tokens : int
        Beam search (deterministic: no sampling).
    stop : str or None
        The caption ends after the first occurrence of this text: generation stops at a token
        that is this text (when one is) as at end-of-text, and the decoded caption is cut
        after it. None: end-of-text and ``max_new_tokens`` only.
    batch_size : int
        Embeddings per ``generate`` call. Beam search treats each row on its own and every
        prefix has ``prefix_length`` tokens (no padding), so the captions do not depend on it.
    """

    def __init__(
        self,
        lm: Any,
        tokenizer: Any,
        mapper: Any,
        *,
        prefix_length: int,
        num_beams: int = 5,
        max_new_tokens: int = 20,
        stop: str | None = ".",
        batch_size: int = 32,
    ) -> None:
        if int(batch_size) < 1:
            raise NeuroalignError(f"batch_size must be positive, got {batch_size}.")
        self.lm = lm.eval()
        self.tokenizer = tokenizer
        self.mapper = mapper.eval()
        self.prefix_length = int(prefix_length)
        self.num_beams = int(num_beams)
        self.max_new_tokens = int(max_new_tokens)
        self.stop = stop or None
        self.batch_size = int(batch_size)

    def _stop_ids(self, eos: Any) -> list[int] | None:
        """End-of-text and the stop token (when the stop text is one token)."""
        ids = [] if eos is None else list(eos) if isinstance(eos, (list, tuple)) else [eos]
        if self.stop is not None:
            token = self.tokenizer.encode(self.stop, add_special_tokens=False)
            if len(token) == 1:
                ids.append(int(token[0]))
        return list(dict.fromkeys(ids)) or None

    @staticmethod
    def _trim(ids: list[int], stops: list[int] | None) -> list[int]:
        """A row's ids up to and including its first end token (the pad after it dropped)."""
        end = next((i + 1 for i, t in enumerate(ids) if t in (stops or ())), len(ids))
        return ids[:end]

    def _cut(self, text: str) -> str:
        """The caption up to and including the first stop text."""
        if self.stop is None or self.stop not in text:
            return text.strip()
        return text[: text.index(self.stop) + len(self.stop)].strip()

    def __call__(self, embeddings: np.ndarray) -> list[str]:
        import torch

        param = next(self.lm.parameters())
        hidden = self.lm.get_input_embeddings().weight.shape[1]
        config = self.lm.config
        eos = getattr(config, "eos_token_id", None)
        pad = getattr(config, "pad_token_id", None)
        pad = (eos[0] if isinstance(eos, (list, tuple)) else eos) if pad is None else pad
        stops = self._stop_ids(eos)
        mapper_param = next(self.mapper.parameters())
        embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
        out: list[str] = []
        with torch.no_grad():
            for start in range(0, embeddings.shape[0], self.batch_size):
                x = torch.as_tensor(embeddings[start : start + self.batch_size])
                prefix = self.mapper(x.to(mapper_param.device, mapper_param.dtype))
                prefix = prefix.reshape(x.shape[0], self.prefix_length, hidden)
                prefix = prefix.to(param.device, param.dtype)
                # every prefix has prefix_length tokens: nothing to pad, every position attended
                mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=param.device)
                ids = self.lm.generate(
                    inputs_embeds=prefix,
                    attention_mask=mask,
                    num_beams=self.num_beams,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=stops,
                )
                # decoder-only generate with inputs_embeds returns the new tokens only; rows
                # that end before the longest are padded, so each is trimmed at its end token
                for row in ids.tolist():
                    text = self.tokenizer.decode(self._trim(row, stops), skip_special_tokens=True)
                    out.append(self._cut(text))
        return out


class NearestCaptioner:
    """Captions of the bank images nearest (cosine) to each embedding.

    For captioning models that read images only, and for banks whose images carry captions: the
    projected embedding lies near natural images, whose captions stand in for its own.

    Parameters
    ----------
    bank : array, shape (n_bank, n_features)
        Bank embeddings.
    caption_rows : callable
        Bank row indices (list of int) -> their captions (list of str), e.g. the stimulus
        table's captions or `image_caption_fn` of an image-captioning model. Each call passes
        it the distinct nearest rows of all embeddings at once, in order of first use.
    n_nearest : int
        Nearest images whose captions are joined with ``"; "`` (1: the nearest one only).
    """

    def __init__(
        self, bank: np.ndarray, caption_rows: Callable[[list[int]], Sequence[str]], n_nearest=1
    ):
        bank = np.asarray(bank, np.float64)
        self.bank_dir = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), _EPS)
        self.caption_rows = caption_rows
        self.n_nearest = int(n_nearest)
        self.last_rows: list[list[int]] = []

    def __call__(self, embeddings: np.ndarray) -> list[str]:
        e = np.atleast_2d(np.asarray(embeddings, np.float64))
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), _EPS)
        cos = e @ self.bank_dir.T
        rows = np.argsort(-cos, axis=1, kind="stable")[:, : self.n_nearest]
        self.last_rows = [[int(r) for r in row] for row in rows]
        distinct = list(dict.fromkeys(r for row in self.last_rows for r in row))
        texts = list(self.caption_rows(distinct))
        if len(texts) != len(distinct):
            raise NeuroalignError(
                f"caption_rows gave {len(texts)} captions for {len(distinct)} rows."
            )
        by_row = dict(zip(distinct, texts, strict=True))
        return ["; ".join(by_row[r] for r in row) for row in self.last_rows]


def image_caption_fn(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    *,
    num_beams: int = 5,
    max_new_tokens: int = 20,
    batch_size: int = 32,
) -> Callable[[list[int]], list[str]]:
    """Bank rows -> captions of their images by an image-captioning model (BLIP, GIT, ...).

    Parameters
    ----------
    model : transformers image-captioning model
        Captions with ``model.generate(pixel_values=...)`` and beam search.
    processor : processor
        ``processor(images=...)`` prepares the images; its ``batch_decode`` (or its
        tokenizer's) decodes the ids.
    images : sequence of path or PIL image
        The bank's images, in bank order.
    num_beams, max_new_tokens : int
        Beam search.
    batch_size : int
        Images per ``generate`` call (the images of one call are opened together). The
        processor gives every image the same size and beam search treats each row on its own,
        so the captions do not depend on it.

    Returns
    -------
    callable
        Bank row indices (list of int) -> their captions (list of str).
    """
    import torch
    from PIL import Image

    step = int(batch_size)
    if step < 1:
        raise NeuroalignError(f"batch_size must be positive, got {batch_size}.")
    decode = getattr(processor, "batch_decode", None) or processor.tokenizer.batch_decode

    def caption(rows: list[int]) -> list[str]:
        param = next(model.parameters())
        out: list[str] = []
        for start in range(0, len(rows), step):
            pics = []
            for r in rows[start : start + step]:
                img = images[r]
                pics.append(Image.open(img).convert("RGB") if isinstance(img, str | Path) else img)
            inputs = processor(images=pics, return_tensors="pt")
            pixels = inputs["pixel_values"].to(param.device, param.dtype)
            with torch.no_grad():
                ids = model.generate(
                    pixel_values=pixels, num_beams=num_beams, max_new_tokens=max_new_tokens
                )
            out.extend(t.strip() for t in decode(ids, skip_special_tokens=True))
        return out

    return caption


# ---------------------------------------------------------------------------- stage


def encoder_weights(path: str | Path) -> dict[str, Any]:
    """An encoder file's weight rows in the raw feature space, its ROI masks and attributes.

    The encoder predicts ``((x - mean) / scale) @ W + b``, so the voxel's direction in the
    embedding space is ``W / scale`` (per feature); without a scale, ``W`` itself.

    Returns
    -------
    dict with ``weights`` (n_voxels, n_units), ``rois`` (name -> bool mask), ``voxels`` (names
    or indices), ``attrs``.
    """
    from neuroalign.results import load_netcdf

    ds = load_netcdf(path, "encoder")
    names = [v for v in ("weights", "weight", "coef") if v in ds.data_vars]
    if not names:
        raise NeuroalignError(f"{path}: no weights variable (unit x voxel); is it an encoder?")
    da = ds[names[0]]
    unit_dim = next(d for d in da.dims if d != "voxel")
    w = np.asarray(da.transpose("voxel", unit_dim).values, np.float64)
    for scale_name in ("feature_scale", "scale", "x_scale"):
        if scale_name in ds.data_vars:
            scale = np.asarray(ds[scale_name].values, np.float64).reshape(-1)
            if scale.size == w.shape[1]:
                w = w / np.where(scale > 0, scale, 1.0)[None, :]
            break
    rois = {
        str(v)[4:]: np.asarray(ds[v].values, bool)
        for v in ds.data_vars
        if str(v).startswith("roi_")
    }
    voxels = ds["voxel"].values if "voxel" in ds.coords else np.arange(w.shape[0])
    return {"weights": w, "rois": rois, "voxels": voxels, "attrs": dict(ds.attrs)}


def _bank(path: str | Path, units: str, layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """The bank's features in the encoder's space; ``layer`` is the store's label or index."""
    from neuroalign.results import open_activations
    from neuroalign.vision.encode import read_image_features

    layers: str | tuple[int, ...] = "all"
    ds = open_activations(path)
    try:
        da = ds[units] if units in ds.data_vars else None
        if da is not None and "layer" in da.dims and layer not in (None, ""):
            labels = [str(x) for x in da["layer"].values]
            layers = (labels.index(str(layer)),) if str(layer) in labels else (int(layer),)
    finally:
        ds.close()
    features, image_ids = read_image_features(path, units, layers)
    if len(features) != 1:
        raise NeuroalignError(f"{path}: {units} has several layers; the encoder names none.")
    return next(iter(features.values())).astype(np.float64), image_ids


def _stimulus_table(stimuli: str | Path | None) -> tuple[pd.DataFrame | None, Path | None]:
    if stimuli is None:
        return None, None
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(stimuli)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{stimuli}: not a readable stimulus table ({err})") from err
    meta = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}") or b"{}")
    info = meta.get("info", {}) if isinstance(meta.get("info"), dict) else {}
    root = Path(meta.get("image_root") or info.get("image_root") or Path(stimuli).parent)
    table = arrow.to_pandas()
    if "image_id" not in table.columns:
        raise NeuroalignError(f"{stimuli}: a stimulus table with an image_id column is needed.")
    table["image_id"] = table["image_id"].astype(str)
    return table.set_index("image_id", drop=False), root


def _make_captioner(
    spec: CaptionerSettings, bank: np.ndarray, image_ids: np.ndarray, table, root, device: str
) -> tuple[Captioner, str]:
    kind = spec.kind
    n_nearest, beams, new_tokens = spec.n_nearest, spec.num_beams, spec.max_new_tokens
    if kind == "table":
        if table is None or "caption" not in table.columns:
            raise NeuroalignError(
                "captioner kind 'table' needs a stimulus table with a caption column (stimuli)."
            )
        captions = table["caption"].astype(str)

        def rows(idx: list[int]) -> list[str]:
            return [captions.get(str(image_ids[i]), "") for i in idx]

        how = "stimulus-table captions of the nearest images"
        return NearestCaptioner(bank, rows, n_nearest), how
    from neuroalign.models.sources import resolve_source

    source = spec.source
    if not source:
        raise NeuroalignError(f"captioner kind {kind!r} needs a source (hf:<id> or path:<dir>).")
    location = resolve_source(source).location
    if kind == "image":
        if table is None or "image" not in table.columns:
            raise NeuroalignError("captioner kind 'image' needs a stimulus table with images.")
        import transformers

        processor = transformers.AutoProcessor.from_pretrained(location)
        model = transformers.AutoModelForImageTextToText.from_pretrained(location).to(device)
        paths = []
        for i in image_ids:
            rel = Path(str(table.loc[str(i), "image"])) if str(i) in table.index else None
            paths.append(str(rel if rel is None or rel.is_absolute() else root / rel))
        fn = image_caption_fn(
            model.eval(), processor, paths, num_beams=beams, max_new_tokens=new_tokens
        )
        return NearestCaptioner(bank, fn, n_nearest), f"{source} on the nearest images"
    if kind == "prefix":
        import torch
        import transformers

        mapper_path = spec.mapper
        if not mapper_path:
            raise NeuroalignError("captioner kind 'prefix' needs mapper: the mapping weights file.")
        state = torch.load(mapper_path, map_location="cpu", weights_only=True)
        lm = transformers.AutoModelForCausalLM.from_pretrained(location).to(device)
        tokenizer = transformers.AutoTokenizer.from_pretrained(spec.tokenizer or location)
        captioner = PrefixCaptioner(
            lm,
            tokenizer,
            build_mapper(state).to(device),
            prefix_length=spec.prefix_length,
            num_beams=beams,
            max_new_tokens=new_tokens,
            stop=spec.stop,
        )
        return captioner, f"prefix captioning with {source}"
    raise NeuroalignError(f"captioner kind {kind!r}: use table, image or prefix.")


def caption_voxels(
    settings: BrainscubaSettings,
    *,
    encoder: str | Path,
    bank: str | Path,
    output: str | Path,
    stimuli: str | Path | None = None,
    captioner: Captioner | None = None,
) -> Path:
    """Caption each ROI of an encoder (BrainSCUBA) and keep its top bank images.

    Parameters
    ----------
    settings : BrainscubaSettings
    encoder : path
        An encoder file (``fit_encoder``): weights (unit x voxel), ``roi_<name>`` masks, attrs
        ``units`` and ``layer`` naming its feature space.
    bank : path
        An activation store of images in the encoder's unit space (e.g. ``embeds``).
    output : path
        The parquet file: one row per ROI (roi, n_voxels, caption, norm, top_image_ids,
        top_weights, top_images).
    stimuli : path, optional
        The bank's stimulus table (captions, image files).
    captioner : callable, optional
        Embeddings -> captions; default: built from ``settings.captioner``.

    Returns
    -------
    Path
    """
    device = resolve_device(settings.device)
    enc = encoder_weights(encoder)
    attrs = enc["attrs"]
    units = str(attrs.get("units", "embeds"))
    layer = attrs.get("layer")
    embeddings, image_ids = _bank(bank, units, layer)
    if embeddings.shape[1] != enc["weights"].shape[1]:
        raise NeuroalignError(
            f"{bank}: {embeddings.shape[1]} {units} units, but the encoder {encoder} has "
            f"{enc['weights'].shape[1]}; the bank must be in the encoder's unit space."
        )
    rois = enc["rois"]
    if settings.rois is not None:
        missing = sorted(set(settings.rois) - set(rois))
        if missing:
            raise NeuroalignError(f"{encoder}: no ROI {missing}; it has {sorted(rois)}.")
        rois = {r: rois[r] for r in settings.rois}
    if not rois:
        raise NeuroalignError(f"{encoder}: no roi_<name> masks to describe.")
    directions = roi_directions(enc["weights"], rois)
    names = list(directions)
    proj = project_directions(
        np.stack([directions[n] for n in names]),
        embeddings,
        temperature=settings.temperature,
        chunk_size=settings.chunk_size,
        top_k=settings.top_k,
        device=device,
    )
    table, root = _stimulus_table(stimuli)
    how = "injected captioner"
    if captioner is None:
        captioner, how = _make_captioner(
            settings.captioner, embeddings, image_ids, table, root, device
        )
    captions = caption_embeddings(proj.projected, captioner)
    per_voxel = {}
    if settings.voxels:
        per_voxel = _voxel_captions(enc, rois, names, embeddings, captioner, settings)
    rows = []
    for i, name in enumerate(names):
        top_ids = [str(image_ids[j]) for j in proj.top_index[i]]
        images = []
        if table is not None and "image" in table.columns:
            for j in top_ids:
                rel = Path(str(table.loc[j, "image"])) if j in table.index else None
                images.append("" if rel is None else str(rel if rel.is_absolute() else root / rel))
        rows.append(
            {
                "roi": name,
                "n_voxels": int(np.asarray(rois[name]).sum()),
                "caption": captions[i],
                "norm": float(proj.norm[i]),
                "top_image_ids": top_ids,
                "top_weights": [float(x) for x in proj.top_weight[i]],
                "top_images": images,
                **per_voxel.get(name, {}),
            }
        )
    frame = pd.DataFrame(rows)
    inputs = {"encoder": encoder, "bank": bank} | ({"stimuli": stimuli} if stimuli else {})
    meta = provenance(
        stage="caption_voxels",
        config=settings.to_dict(),
        inputs=inputs,
        captioner=how,
        units=units,
        model=str(attrs.get("model", "")),
        n_bank=int(embeddings.shape[0]),
        dataset=str(attrs.get("dataset", "")),
        simulated=str(str(attrs.get("dataset", "")).startswith("sim_")).lower(),
    )
    _write_parquet(frame, meta, Path(output))
    logger.info("captions of %d ROIs -> %s", len(rows), output)
    return Path(output)


def _voxel_captions(
    enc: Mapping[str, Any],
    rois: Mapping[str, np.ndarray],
    names: Sequence[str],
    bank: np.ndarray,
    captioner: Captioner,
    settings: BrainscubaSettings,
) -> dict[str, dict[str, Any]]:
    """Each described ROI's voxels projected and captioned (BrainSCUBA's unit), all voxels in
    one `caption_embeddings` call (the captioner batches them): ``voxel_ids`` (the encoder's
    voxel labels), ``voxel_captions`` and ``top_words`` ("word (count)") per ROI."""
    masks = {name: np.asarray(rois[name], bool) for name in names}
    voxels = np.flatnonzero(np.any(np.stack(list(masks.values())), axis=0))
    logger.info("captioning %d voxels of %d ROIs", len(voxels), len(names))
    proj = project_directions(
        np.asarray(enc["weights"])[voxels],
        bank,
        temperature=settings.temperature,
        chunk_size=settings.chunk_size,
        device=resolve_device(settings.device),
    )
    by_voxel = dict(
        zip(voxels.tolist(), caption_embeddings(proj.projected, captioner), strict=True)
    )
    out = {}
    labels = np.asarray(enc["voxels"])
    labels = labels.tolist() if labels.dtype.kind in "iu" else [str(v) for v in labels]
    for name in names:
        index = np.flatnonzero(masks[name]).tolist()
        texts = [by_voxel[v] for v in index]
        out[name] = {
            "voxel_ids": [labels[v] for v in index],
            "voxel_captions": texts,
            "top_words": [f"{w} ({c})" for w, c in top_words(texts, settings.n_words)],
        }
    return out


def _write_parquet(frame: pd.DataFrame, meta: Mapping[str, Any], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(arrow.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(dict(meta), sort_keys=True, default=str).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(arrow.replace_schema_metadata(schema_meta), tmp)


def read_captions(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A captions parquet and its provenance."""
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{path}: not a readable captions table ({err})") from err
    meta = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}") or b"{}")
    return arrow.to_pandas(), meta
