"""Discover a transformer's layers, heads and widths from its module tree and config.

Nothing here knows a model by name. The blocks are the longest list of identical modules that
contain an attention module; inside a block, the attention output projection is the last linear
map of the attention subtree that writes the model width, and the MLP output projection is the
last linear map outside it that reads a different width and writes the model width. This holds
for GPT-2, GPT-NeoX, Llama-style, BERT and CLIP blocks alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from neuroalign._check import NeuroalignError, check_option

TOWERS = ("text", "vision")


@dataclass(frozen=True)
class Block:
    """Module paths of one transformer block.

    Attributes
    ----------
    index : int
        Position of the block in the stack.
    path : str
        Module path of the block (``"h.3"``, ``"model.layers.3"``).
    attn : str
        Module path of the attention module.
    attn_proj : str
        Module path of the attention output projection (its input is the concatenated heads).
    mlp_proj : str
        Module path of the MLP output projection (its input is the post-activation neurons).
    """

    index: int
    path: str
    attn: str
    attn_proj: str
    mlp_proj: str


@dataclass(frozen=True)
class Architecture:
    """What extraction needs to know about a model's block stack.

    Attributes
    ----------
    tower : {"text", "vision"}
        Which stack of a multimodal model this describes.
    stack : str
        Module path of the list of blocks.
    blocks : list of Block
        The blocks, in order.
    hidden_size : int
        Width of the residual stream.
    mlp_size : int
        Number of post-activation MLP neurons.
    n_heads : int
        Number of query heads.
    n_kv_heads : int
        Number of key/value heads (fewer than ``n_heads`` with grouped-query attention).
    head_dim : int
        Width of each head's output (``attn_proj`` input width / ``n_heads``).
    projection : str or None
        Module path of a vision tower's image projection (CLIP's ``visual_projection``: the
        pooled output into the shared embedding space), if it has one.
    projection_size : int or None
        Width of the projected embedding.
    """

    tower: str
    stack: str
    blocks: list[Block] = field(repr=False)
    hidden_size: int
    mlp_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    projection: str | None = None
    projection_size: int | None = None

    @property
    def n_layers(self) -> int:
        """Number of blocks."""
        return len(self.blocks)


def linear_shape(module: torch.nn.Module) -> tuple[int, int] | None:
    """Return (in_features, out_features) of a linear map, or None for other modules.

    Handles ``torch.nn.Linear`` and GPT-2-style ``Conv1D`` (a weight of shape (in, out)).
    """
    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    weight = getattr(module, "weight", None)
    n_out = getattr(module, "nf", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 2 and n_out == weight.shape[1]:
        return int(weight.shape[0]), int(weight.shape[1])
    return None


def _is_attention_name(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1].lower()
    return "attn" in leaf or "attention" in leaf


def _attention_root(block: torch.nn.Module) -> str | None:
    """Return the shallowest submodule path of ``block`` that is named like attention."""
    names = [n for n, _ in block.named_modules() if n and _is_attention_name(n)]
    names = [n for n in names if "cross" not in n.lower()]
    return min(names, key=lambda n: n.count("."), default=None)


def _stacks(model: torch.nn.Module) -> list[tuple[str, torch.nn.ModuleList]]:
    """Return ModuleLists of at least one identical block that holds an attention module."""
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) == 0:
            continue
        kinds = {type(child) for child in module}
        if len(kinds) == 1 and _attention_root(module[0]) is not None:
            found.append((name, module))
    return found


def _pick_stack(model: torch.nn.Module, tower: str) -> tuple[str, torch.nn.ModuleList]:
    stacks = _stacks(model)
    if not stacks:
        raise NeuroalignError(
            f"{type(model).__name__}: no stack of transformer blocks found (a ModuleList of "
            "identical modules with an attention submodule)"
        )
    vision = [s for s in stacks if "vision" in s[0].lower() or "visual" in s[0].lower()]
    if not vision and getattr(model, "main_input_name", None) == "pixel_values":
        # A vision model alone (ViT, DINOv2, SigLIP's tower): its one stack reads images.
        vision = stacks
    text = [s for s in stacks if s not in vision]
    chosen = vision if tower == "vision" else text
    if not chosen:
        raise NeuroalignError(
            f"{type(model).__name__} has no {tower} tower; its block stacks are "
            f"{', '.join(n for n, _ in stacks)}"
        )
    return max(chosen, key=lambda s: len(s[1]))


def _image_projection(
    model: torch.nn.Module, stack: str, hidden: int
) -> tuple[str | None, int | None]:
    """The linear map outside the blocks that projects a vision tower's pooled output (in
    width ``hidden``) into an image embedding: named like a projection of the image side."""
    for name, module in model.named_modules():
        shape = linear_shape(module)
        leaf = name.rsplit(".", 1)[-1].lower()
        if shape is None or name.startswith(f"{stack}.") or "proj" not in leaf:
            continue
        if not any(k in leaf for k in ("visual", "vision", "image")):
            continue
        if shape[0] == hidden:
            return name, shape[1]
    return None, None


def _config_for(model: torch.nn.Module, tower: str) -> Any:
    config = model.config
    sub = getattr(config, f"{tower}_config", None)
    if sub is not None:
        return sub
    if tower == "text" and hasattr(config, "get_text_config"):
        return config.get_text_config()
    return config


def _head_counts(config: Any, attn: torch.nn.Module) -> tuple[int | None, int | None]:
    n_heads = getattr(config, "num_attention_heads", None)
    for name in ("num_heads", "num_attention_heads", "n_head"):
        n_heads = n_heads or getattr(attn, name, None)
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    return n_heads, n_kv


def discover(model: torch.nn.Module, tower: str = "text") -> Architecture:
    """Describe a model's block stack: block paths, projections, widths and heads.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face model (base model, model with a head, or multimodal model).
    tower : {"text", "vision"}, default="text"
        The stack to describe in a multimodal model (CLIP, LLaVA-style); ignored by single
        stack models when "text".

    Returns
    -------
    arch : Architecture
        The discovered structure.

    Raises
    ------
    NeuroalignError
        If no block stack, attention module or projection can be found.
    """
    check_option("tower", tower, TOWERS)
    stack_name, stack = _pick_stack(model, tower)
    first = stack[0]
    attn_name = _attention_root(first)
    attn = first.get_submodule(attn_name)
    attn_linears = [(n, linear_shape(m)) for n, m in attn.named_modules()]
    attn_linears = [(n, s) for n, s in attn_linears if s is not None]
    if not attn_linears:
        raise NeuroalignError(f"{stack_name}.0.{attn_name}: no linear maps in the attention module")
    hidden = attn_linears[-1][1][1]
    outs = [(n, s) for n, s in attn_linears if s[1] == hidden]
    attn_proj, (attn_in, _) = outs[-1]
    attn_prefix = f"{attn_name}."
    mlp = [
        (n, linear_shape(m))
        for n, m in first.named_modules()
        if n != attn_name and not n.startswith(attn_prefix) and linear_shape(m) is not None
    ]
    mlp = [(n, s) for n, s in mlp if s[1] == hidden and s[0] != hidden]
    if not mlp:
        raise NeuroalignError(f"{stack_name}.0: no MLP output projection found")
    mlp_proj, (mlp_size, _) = mlp[-1]
    config = _config_for(model, tower)
    n_heads, n_kv = _head_counts(config, attn)
    if not n_heads or attn_in % n_heads:
        raise NeuroalignError(
            f"{stack_name}.0.{attn_name}: cannot split the {attn_in} projection inputs into "
            f"{n_heads} heads; the config needs num_attention_heads"
        )
    blocks = [
        Block(
            index=i,
            path=f"{stack_name}.{i}",
            attn=f"{stack_name}.{i}.{attn_name}",
            attn_proj=f"{stack_name}.{i}.{attn_name}.{attn_proj}",
            mlp_proj=f"{stack_name}.{i}.{mlp_proj}",
        )
        for i in range(len(stack))
    ]
    projection, projection_size = (
        _image_projection(model, stack_name, hidden) if tower == "vision" else (None, None)
    )
    return Architecture(
        projection=projection,
        projection_size=projection_size,
        tower=tower,
        stack=stack_name,
        blocks=blocks,
        hidden_size=hidden,
        mlp_size=mlp_size,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=attn_in // n_heads,
    )


def position_offset(model: torch.nn.Module) -> int:
    """The first position id of the model's own numbering of a sequence.

    Models whose position embedding has a padding index (RoBERTa and its kin) number the real
    tokens from ``padding_idx + 1``; the others from 0.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    offset : int
        What to add to 0-based position ids.
    """
    for name, module in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Embedding) and "position" in last:
            if module.padding_idx is not None:
                return int(module.padding_idx) + 1
    return 0
