"""Models with random weights, built from a named config or a config file and saved to a folder.

A random model needs no download: the offline demo's vision model (``models.tiny_clip``) and the
benchmarks' ViT-B/16-sized tower are built here, saved with ``save_pretrained`` together with an
image processor sized to them, and then read like any snapshot through ``path:<dir>``
(:func:`neuroalign.models.sources.load_model`). From Python::

    from neuroalign.models.random_init import init_model

    init_model("clip-vision-tiny", "results/models/tiny_clip", seed=0)

which is what ``neuroalign init-model --config clip-vision-tiny --seed 0 --output DIR`` and the
workflow's ``init_model`` rule run.

A spec (named, or a JSON file) is a mapping::

    {"architecture": "CLIPVisionModelWithProjection",   # a transformers model class
     "config": {"hidden_size": 32, ...},                # its config class's arguments
     "processor": {"class": "CLIPImageProcessor", "size": {"shortest_edge": 32}, ...}}

``processor`` is optional (a model without one is saved alone); a language model gives
``"tokenizer": "bytes"`` instead, a byte-level tokenizer without merges (:func:`byte_tokenizer`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError, suggest

logger = logging.getLogger(__name__)

__all__ = ["NAMED_CONFIGS", "build_model", "byte_tokenizer", "init_model", "load_spec"]


def _clip_processor(size: int) -> dict[str, Any]:
    return {
        "class": "CLIPImageProcessor",
        "size": {"shortest_edge": size},
        "crop_size": {"height": size, "width": size},
    }


def _vit_processor(cls: str, size: int) -> dict[str, Any]:
    return {"class": cls, "size": {"height": size, "width": size}}


#: Named specs: tiny towers for the demo and the tests, a ViT-B/16-sized one for benchmarks.
NAMED_CONFIGS: dict[str, dict[str, Any]] = {
    # The demo's vision model: 4 blocks of width 32, 64x64 images in 8x8 patches (64 patches).
    "clip-vision-tiny": {
        "architecture": "CLIPVisionModelWithProjection",
        "config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "projection_dim": 32,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "image_size": 64,
            "patch_size": 8,
        },
        "processor": _clip_processor(64),
    },
    # CLIP ViT-B/16's vision tower (86M parameters), 224x224 images.
    "vit-b16": {
        "architecture": "CLIPVisionModelWithProjection",
        "config": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "projection_dim": 512,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 16,
        },
        "processor": _clip_processor(224),
    },
    "siglip-vision-tiny": {
        "architecture": "SiglipVisionModel",
        "config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        "processor": _vit_processor("SiglipImageProcessor", 32),
    },
    # A 2-block GPT-2 with random weights over bytes (257 tokens: the 256 byte-level BPE symbols
    # and <|endoftext|>, no merges): a causal LM whose tokens reproduce any text exactly.
    "gpt2-tiny": {
        "architecture": "GPT2LMHeadModel",
        "config": {
            "n_layer": 2,
            "n_embd": 32,
            "n_head": 4,
            "n_positions": 256,
            "vocab_size": 257,
            "bos_token_id": 256,
            "eos_token_id": 256,
        },
        "tokenizer": "bytes",
    },
    "dinov2-tiny": {
        "architecture": "Dinov2Model",
        "config": {
            "hidden_size": 32,
            "mlp_ratio": 2,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        "processor": {
            "class": "BitImageProcessor",
            "size": {"shortest_edge": 32},
            "crop_size": {"height": 32, "width": 32},
        },
    },
}


def byte_tokenizer() -> Any:
    """A byte-level BPE tokenizer without merges: one token per UTF-8 byte, ``<|endoftext|>`` 256.

    Every text round-trips exactly (GPT-2's byte-to-symbol map, ``add_prefix_space`` off).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet(), key=lambda c: (ord(c) > 255, ord(c)))
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab["<|endoftext|>"] = len(vocab)
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.post_processor = processors.ByteLevel(trim_offsets=True)
    raw.add_special_tokens(["<|endoftext|>"])
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=eos, eos_token=eos, pad_token=eos, model_max_length=256
    )


def load_spec(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Return the spec a name, a JSON file or a mapping gives.

    Parameters
    ----------
    config : str, Path or mapping
        A key of :data:`NAMED_CONFIGS`, the path of a JSON spec file, or a spec.

    Raises
    ------
    NeuroalignError
        If the name is unknown, the file unreadable, or the spec lacks ``architecture``.
    """
    if isinstance(config, Mapping):
        spec = copy.deepcopy(dict(config))
    elif str(config) in NAMED_CONFIGS:
        spec = copy.deepcopy(NAMED_CONFIGS[str(config)])
    elif str(config).endswith(".json") or Path(config).is_file():
        path = Path(config)
        try:
            spec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise NeuroalignError(f"model spec {path}: not a readable JSON file ({err})") from None
    else:
        raise NeuroalignError(
            f"unknown model config {str(config)!r}; name one of {', '.join(NAMED_CONFIGS)} or "
            f"a JSON spec file{suggest(str(config), NAMED_CONFIGS)}"
        )
    if not isinstance(spec, dict) or "architecture" not in spec:
        raise NeuroalignError(
            f"model spec {config}: needs 'architecture' (a transformers model class) and "
            "'config' (its config's arguments)"
        )
    return spec


def _transformers_class(name: str, what: str) -> Any:
    import transformers

    cls = getattr(transformers, str(name), None)
    if cls is None:
        raise NeuroalignError(f"model spec: {what} {name!r} is not a transformers class")
    return cls


def build_model(config: str | Path | Mapping[str, Any], *, seed: int = 0) -> tuple[Any, Any | None]:
    """Build a model with random weights (seeded) and its processor.

    Parameters
    ----------
    config : str, Path or mapping
        A named config, a JSON spec file or a spec (see :func:`load_spec`).
    seed : int, default=0
        Seed of the weights' initialization; the same seed gives the same weights.

    Returns
    -------
    model : transformers.PreTrainedModel
        The model in eval mode, float32, on the CPU.
    processor : image processor, tokenizer or None
        The spec's processor (``"tokenizer": "bytes"``: :func:`byte_tokenizer`).
    """
    import torch

    spec = load_spec(config)
    model_cls = _transformers_class(spec["architecture"], "architecture")
    model_config = model_cls.config_class(**spec.get("config", {}))
    model_config.architectures = [model_cls.__name__]
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        model = model_cls(model_config).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    processor = None
    if spec.get("tokenizer") == "bytes":
        processor = byte_tokenizer()
    elif spec.get("tokenizer"):
        raise NeuroalignError(f"model spec: tokenizer {spec['tokenizer']!r} is not 'bytes'")
    if spec.get("processor"):
        kwargs = dict(spec["processor"])
        processor = _transformers_class(kwargs.pop("class"), "processor class")(**kwargs)
    return model, processor


def init_model(
    config: str | Path | Mapping[str, Any], output: str | Path, *, seed: int = 0
) -> Path:
    """Build a random model (:func:`build_model`) and save it with its processor to ``output``.

    The folder is written next to its final place and renamed into it, so a folder at
    ``output`` is always complete. It holds ``config.json``, ``model.safetensors``, the
    processor's files and ``init.json`` (the spec and the seed).

    Parameters
    ----------
    config : str, Path or mapping
        A named config, a JSON spec file or a spec.
    output : str or Path
        The folder to write (replaced if it exists).
    seed : int, default=0
        Seed of the weights.

    Returns
    -------
    output : Path
        The folder, usable as the model source ``path:<output>``.
    """
    spec = load_spec(config)
    model, processor = build_model(spec, seed=seed)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        model.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)
        name = str(config) if not isinstance(config, Mapping) else None
        info = {"config": name, "spec": spec, "seed": int(seed)}
        (tmp / "init.json").write_text(json.dumps(info, indent=2) + "\n")
        if output.exists():
            old = output.with_name(f".{output.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(output, old)
            os.replace(tmp, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "saved %s (%d parameters, seed %d) to %s", spec["architecture"], n_params, seed, output
    )
    return output
