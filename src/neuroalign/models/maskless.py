"""Causal models run without an attention mask where none is needed.

In a causal model a token attends to itself and the tokens before it, so padding after the real
tokens (right padding) changes none of their activations, and an unpadded batch needs no mask
either. transformers still builds the mask from the inputs, and its mask code reads values on
the device (is the padding mask all ones? are the position ids one sequence per row?), which
makes the host wait for the GPU once or more per batch, so it cannot queue the next batch's
work ahead.

transformers builds no mask for an attention implementation that has no mask function
registered (as for external attention backends). :data:`NAME` is registered as such an
implementation: it is transformers' own SDPA attention, so each attention module applies its own
causality (``is_causal``) and the kernels are the same. :func:`longest_maskless` says which
batches may run under it; :func:`maskless` switches the model's configs to it for one forward
(a model under :data:`~neuroalign.models.attention_rows.ROWS` to its maskless counterpart).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from neuroalign.models.attention_rows import ROWS, ROWS_MASKLESS, SDPA_LIKE
from neuroalign.models.discover import Architecture

#: The attention implementation registered with transformers.
NAME = "neuroalign_maskless_sdpa"
#: The maskless counterpart of each implementation that has one.
_MASKLESS = {"sdpa": NAME, ROWS: ROWS_MASKLESS}


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register(NAME, _attention)


def model_configs(model: torch.nn.Module) -> list[Any]:
    """The configs of the model and its submodules, parents first (what :func:`maskless`
    switches)."""
    found: dict[int, Any] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            found.setdefault(id(config), config)
    return list(found.values())


def is_causal(model: torch.nn.Module, arch: Architecture) -> bool:
    """Whether every attention module of the stack is causal (``is_causal`` set and true)."""
    flags = []
    for block in arch.blocks:
        attn = model.get_submodule(block.attn)
        for module in attn.modules():
            flag = getattr(module, "is_causal", None)
            if isinstance(flag, bool):
                flags.append(flag)
    return bool(flags) and all(flags)


def longest_maskless(model: torch.nn.Module, arch: Architecture) -> int | None:
    """The longest batch (tokens per row) that may run without a mask, if any.

    A causal stack under SDPA attention may, for batches without left padding; a sliding or
    chunked attention window (``sliding_window``, ``attention_chunk_size`` in a config) needs
    the mask for batches longer than the window.

    Returns
    -------
    n_tokens : int or None
        None if the model needs its mask (not causal, or not SDPA attention).
    """
    configs = model_configs(model)
    if not configs or any(c._attn_implementation not in SDPA_LIKE for c in configs):
        return None
    if not is_causal(model, arch):
        return None
    windows = [
        window
        for config in configs
        for name in ("sliding_window", "attention_chunk_size")
        if isinstance(window := getattr(config, name, None), int)
    ]
    return min(windows, default=sys.maxsize)


@contextlib.contextmanager
def maskless(configs: list[Any]) -> Iterator[None]:
    """Run the attention of the model whose :func:`model_configs` are ``configs`` as
    :data:`NAME` (or, under the rows implementation, its maskless counterpart) inside the block
    (configs restored after)."""
    saved = [c._attn_implementation for c in configs]
    # Decided before any is set: a parent config's setter also sets its sub-configs.
    targets = [_MASKLESS.get(value, NAME) for value in saved]
    try:
        for config, target in zip(configs, targets, strict=True):
            config._attn_implementation = target
        yield
    finally:
        for config, value in zip(configs, saved, strict=True):
            config._attn_implementation = value
