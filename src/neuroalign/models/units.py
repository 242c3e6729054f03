"""Unit spaces: which activation of which block each space reads, and its unit coordinates.

=============  ====================================================  ====================
space          activation                                            units
=============  ====================================================  ====================
resid          output of each block (the residual stream after it)   hidden_size
embed          input of the first block (embeddings; no layer dim)   hidden_size
attn_out       output of the attention output projection             hidden_size
mlp_out        output of the MLP output projection                   hidden_size
mlp_neuron     input of the MLP output projection (post-activation)  mlp_size
head_out       input of the attention output projection, per head    n_heads * head_dim
attn_pattern   attention weights of the item's last token by lag     n_heads * n_lags
embeds         a vision tower's pooled output through its image      projection_dim
               projection (CLIP ``image_embeds``; no layer dim)
=============  ====================================================  ====================

``embeds`` is the image embedding the model itself returns (``get_image_features``, or the
``image_embeds`` of ``CLIPVisionModelWithProjection``): the item's own pooled output, so the
extraction's ``pooling`` does not apply to it; only towers with an image projection have it.

``head_out`` is each head's slice of the projection input, so with grouped-query attention it
still has one slice per query head, and ``attn_out = W_o @ concat(head_out) + b_o``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuroalign._check import NeuroalignError, check_option
from neuroalign.models.discover import Architecture
from neuroalign.settings import select_layers

UNIT_SPACES = (
    "resid",
    "embed",
    "attn_out",
    "mlp_out",
    "mlp_neuron",
    "head_out",
    "attn_pattern",
    "embeds",
)
#: Spaces with one vector per item and no layer dim.
UNLAYERED = ("embed", "embeds")


def parse_units(units: str | Sequence[str]) -> tuple[str, ...]:
    """Parse ``"resid,mlp_out"`` (or a list) into unit space names, checked and deduplicated."""
    names = [u.strip() for u in units.split(",")] if isinstance(units, str) else list(units)
    names = [u for u in names if u]
    if not names:
        raise NeuroalignError(f"no unit spaces given; choose from {', '.join(UNIT_SPACES)}")
    for name in names:
        try:
            check_option("units", name, UNIT_SPACES)
        except ValueError as err:
            raise NeuroalignError(str(err)) from None
    return tuple(dict.fromkeys(names))


def parse_layers(layers: str | Sequence[int], n_layers: int) -> list[int]:
    """Parse ``"all"``, a list of ints (or ``"0,3,-1"``) into sorted block indices.

    Negative indices count from the end, as in Python, by the one rule of
    :func:`neuroalign.settings.select_layers`; out-of-range indices raise.

    Examples
    --------
    >>> parse_layers([0, -1], 12)
    [0, 11]
    """
    if isinstance(layers, str) and layers.strip() != "all":
        try:
            layers = [int(x) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise NeuroalignError(
                f"layers {layers!r} must be 'all' or a list of integers (e.g. [0, 3, -1])"
                " (or the comma-separated form 0,3,-1)"
            ) from None
    out = select_layers(layers.strip() if isinstance(layers, str) else layers, n_layers)
    if not out:
        raise NeuroalignError("no layers given; use 'all' or a list such as [0, 3, 5]")
    return sorted(out)


def address(arch: Architecture, space: str, layer: int) -> str:
    """Return the hook address that ``space`` reads in block ``layer``."""
    block = arch.blocks[layer]
    if space == "embeds":
        return f"{_projection(arch)}:output"
    table = {
        "resid": f"{block.path}:output",
        "embed": f"{arch.blocks[0].path}:input",
        "attn_out": f"{block.attn_proj}:output",
        "mlp_out": f"{block.mlp_proj}:output",
        "mlp_neuron": f"{block.mlp_proj}:input",
        "head_out": f"{block.attn_proj}:input",
        "attn_pattern": f"{block.attn}:weights",
    }
    return table[check_option("unit space", space, UNIT_SPACES)]


def _projection(arch: Architecture) -> str:
    if arch.projection is None:
        raise NeuroalignError(
            f"unit space embeds needs a vision tower with an image projection (CLIP's "
            f"visual_projection); this {arch.tower} tower ({arch.stack}) has none"
        )
    return arch.projection


def n_units(arch: Architecture, space: str, n_lags: int) -> int:
    """Return the number of units of ``space``."""
    if space == "embeds":
        _projection(arch)
        return int(arch.projection_size)
    sizes = {
        "resid": arch.hidden_size,
        "embed": arch.hidden_size,
        "attn_out": arch.hidden_size,
        "mlp_out": arch.hidden_size,
        "mlp_neuron": arch.mlp_size,
        "head_out": arch.n_heads * arch.head_dim,
        "attn_pattern": arch.n_heads * n_lags,
    }
    return sizes[check_option("unit space", space, UNIT_SPACES)]


def unit_coords(arch: Architecture, space: str, n_lags: int) -> dict[str, np.ndarray]:
    """Return extra coordinates along the unit dim (``head`` and ``head_dim`` or ``lag``)."""
    if space == "head_out":
        return {
            "head": np.repeat(np.arange(arch.n_heads), arch.head_dim),
            "head_dim": np.tile(np.arange(arch.head_dim), arch.n_heads),
        }
    if space == "attn_pattern":
        return {
            "head": np.repeat(np.arange(arch.n_heads), n_lags),
            "lag": np.tile(np.arange(n_lags), arch.n_heads),
        }
    return {}
