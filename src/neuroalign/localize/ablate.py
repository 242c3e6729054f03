"""Lesion units of a model at every token position, through temporary forward hooks.

A mask of shape (n_layers, n_units) names units of one unit space (``resid``: the residual
stream after each block, as in the LLM-language-network paper; also ``attn_out``, ``mlp_out``,
``mlp_neuron`` and ``head_out``). Inside :func:`ablated`, the hooked activations are edited in
place as soon as a block computes them, so every later block, the final norm and any head see
the lesion. An empty mask registers no hook at all, so the model is untouched bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from neuroalign._check import NeuroalignError, check_option
from neuroalign.models import units as unit_spaces
from neuroalign.models.discover import Architecture, discover
from neuroalign.models.hooks import capture

MODES = ("zero", "mean")
ABLATABLE = ("resid", "attn_out", "mlp_out", "mlp_neuron", "head_out")


@contextlib.contextmanager
def ablated(
    model: torch.nn.Module,
    mask: np.ndarray,
    *,
    unit_space: str = "resid",
    mode: str = "zero",
    values: np.ndarray | None = None,
    layers: list[int] | None = None,
    arch: Architecture | None = None,
) -> Iterator[None]:
    """Zero (or set to a mean) the masked units while the block runs.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face transformer (base model or one with a head).
    mask : bool array of shape (n_layers, n_units)
        Units to lesion; row ``i`` belongs to block ``layers[i]``.
    unit_space : str, default="resid"
        One of :data:`ABLATABLE`.
    mode : {"zero", "mean"}, default="zero"
        ``mean`` replaces each unit by ``values`` (e.g. its mean over the negative condition).
    values : float array of shape (n_layers, n_units), optional
        Replacement values of ``mean`` ablation.
    layers : list of int, optional
        Block index of each mask row (default: all blocks in order).
    arch : Architecture, optional
        The model's discovered architecture (found again if not given).
    """
    check_option("unit_space", unit_space, ABLATABLE)
    check_option("mode", mode, MODES)
    arch = discover(model) if arch is None else arch
    layers = list(range(arch.n_layers)) if layers is None else list(layers)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[0] != len(layers):
        raise NeuroalignError(
            f"the ablation mask has {mask.shape[0]} layers but {len(layers)} blocks are named"
        )
    width = unit_spaces.n_units(arch, unit_space, 1)
    if mask.shape[1] != width:
        raise NeuroalignError(
            f"the ablation mask has {mask.shape[1]} units per layer but {unit_space} has {width}"
        )
    if mode == "mean" and (values is None or np.shape(values) != mask.shape):
        raise NeuroalignError("mean ablation needs values of the mask's shape")
    edits: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for row, layer in enumerate(layers):
        idx = np.flatnonzero(mask[row])
        if idx.size:
            fill = None if mode == "zero" else np.asarray(values)[row, idx]
            edits[unit_spaces.address(arch, unit_space, layer)] = (idx, fill)
    if not edits:
        yield
        return
    cache: dict[
        tuple[str, torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor | None]
    ] = {}

    def edit(address: str, tensor: torch.Tensor) -> None:
        key = (address, tensor.device, tensor.dtype)
        if key not in cache:
            idx, fill = edits[address]
            cache[key] = (
                torch.as_tensor(idx, device=tensor.device),
                None
                if fill is None
                else torch.as_tensor(fill, device=tensor.device, dtype=tensor.dtype),
            )
        index, value = cache[key]
        if value is None:
            tensor.index_fill_(-1, index, 0.0)
        else:
            tensor.index_copy_(-1, index, value.expand(*tensor.shape[:-1], -1).contiguous())

    with capture(model, list(edits), edit):
        yield
