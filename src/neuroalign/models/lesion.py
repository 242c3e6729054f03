"""Lesion units or attention heads of a model while a block of code runs.

:func:`lesioned` is the one context manager for ablations:

- **units**: a boolean mask of shape (n_layers, n_units) names units of one unit space
  (``resid``: the residual stream after each block, as in the LLM-language-network paper; also
  ``attn_out``, ``mlp_out``, ``mlp_neuron`` and ``head_out``, see :mod:`neuroalign.models.units`).
  The hooked activations are edited in place at every token position as soon as a block
  computes them, so every later block, the final norm and any head see the lesion.
- **heads**: (layer, query head) pairs. A head is removed on the query/output side: its slice of
  the input of the attention output projection (the concatenated per-query-head outputs) is
  zeroed or set to its mean. With grouped-query attention (fewer key/value heads than query
  heads) the shared key/value projections are never touched, so the other query heads of the
  group are unchanged.

The hooks live only inside the block and are removed in ``finally``. Nothing to lesion (an empty
mask, no heads) registers no hook at all, so the model is untouched bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from neuroalign._check import NeuroalignError, check_option
from neuroalign.models import units as unit_spaces
from neuroalign.models.discover import Architecture, discover
from neuroalign.models.hooks import capture

MODES = ("zero", "mean")
#: Unit spaces whose units can be lesioned.
LESIONABLE = ("resid", "attn_out", "mlp_out", "mlp_neuron", "head_out")

#: Per hook address: the unit indices to edit and their replacement values (None: zero).
_Edits = dict[str, tuple[np.ndarray, np.ndarray | None]]


def _unit_edits(
    arch: Architecture,
    mask: np.ndarray,
    unit_space: str,
    layers: list[int],
    means: np.ndarray | None,
) -> _Edits:
    check_option("unit_space", unit_space, LESIONABLE)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.shape[0] != len(layers):
        raise NeuroalignError(
            f"the lesion mask has shape {mask.shape} but {len(layers)} blocks are named; give "
            "one row per block (n_layers, n_units)"
        )
    width = unit_spaces.n_units(arch, unit_space, 1)
    if mask.shape[1] != width:
        raise NeuroalignError(
            f"the lesion mask has {mask.shape[1]} units per layer but {unit_space} has {width}"
        )
    if means is not None and np.shape(means) != mask.shape:
        raise NeuroalignError(
            f"mode 'mean' needs means (the replacement values) of the mask's shape {mask.shape}, "
            f"got {np.shape(means)}"
        )
    edits: _Edits = {}
    for row, layer in enumerate(layers):
        idx = np.flatnonzero(mask[row])
        if idx.size:
            fill = None if means is None else np.asarray(means)[row, idx]
            edits[unit_spaces.address(arch, unit_space, layer)] = (idx, fill)
    return edits


def _head_edits(
    arch: Architecture, heads: Iterable[tuple[int, int]], means: np.ndarray | None
) -> _Edits:
    width = arch.n_heads * arch.head_dim
    if means is not None:
        means = np.asarray(means)
        if means.shape in ((arch.n_layers, arch.n_heads, arch.head_dim), (arch.n_layers, width)):
            means = means.reshape(arch.n_layers, width)
        else:
            raise NeuroalignError(
                f"mode 'mean' of heads needs means (the replacement values) of shape "
                f"({arch.n_layers}, {arch.n_heads}, {arch.head_dim}) or ({arch.n_layers}, "
                f"{width}) (the head_out units of every block), got {means.shape}"
            )
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < arch.n_layers and 0 <= head < arch.n_heads):
            raise NeuroalignError(
                f"head ({layer}, {head}) does not exist: the model has {arch.n_layers} layers "
                f"of {arch.n_heads} heads"
            )
        by_layer.setdefault(int(layer), []).append(int(head))
    edits: _Edits = {}
    for layer, chosen in sorted(by_layer.items()):
        idx = np.concatenate(
            [np.arange(h * arch.head_dim, (h + 1) * arch.head_dim) for h in sorted(set(chosen))]
        )
        fill = None if means is None else means[layer, idx]
        edits[unit_spaces.address(arch, "head_out", layer)] = (idx, fill)
    return edits


def _merge(first: _Edits, second: _Edits) -> _Edits:
    """Both sets of edits; where they share an address, the union of their units."""
    out = dict(first)
    for address, (idx, fill) in second.items():
        if address not in out:
            out[address] = (idx, fill)
            continue
        old_idx, old_fill = out[address]
        keep = ~np.isin(idx, old_idx)
        fills = None if fill is None else np.concatenate([old_fill, fill[keep]])
        out[address] = (np.concatenate([old_idx, idx[keep]]), fills)
    return out


@contextlib.contextmanager
def lesioned(
    model: torch.nn.Module,
    *,
    units: np.ndarray | None = None,
    heads: Iterable[tuple[int, int]] = (),
    unit_space: str = "resid",
    layers: Iterable[int] | None = None,
    mode: str = "zero",
    means: np.ndarray | None = None,
    arch: Architecture | None = None,
) -> Iterator[None]:
    """Zero (or set to their means) units or attention heads while the block runs.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face transformer (base model or one with a head).
    units : bool array of shape (n_layers, n_units), optional
        Units of ``unit_space`` to lesion; row ``i`` belongs to block ``layers[i]``.
    heads : iterable of (int, int), optional
        (layer, query head) pairs to lesion, on the query/output side (GQA-safe, see the
        module docstring).
    unit_space : str, default="resid"
        Unit space of ``units``: one of :data:`LESIONABLE`.
    layers : iterable of int, optional
        Block index of each row of ``units`` (default: every block in order).
    mode : {"zero", "mean"}, default="zero"
        ``mean`` replaces each lesioned unit by its value in ``means`` (e.g. its mean over a
        control condition).
    means : float array, optional
        Replacement values of ``mean`` mode: of the shape of ``units``, or for ``heads`` of shape
        (n_layers, n_heads, head_dim) (or (n_layers, n_heads * head_dim), the ``head_out`` units
        of every block). Lesion units and heads in one call only with ``mode="zero"``.
    arch : Architecture, optional
        The model's discovered architecture (found again if not given).

    Raises
    ------
    NeuroalignError
        If the mask, heads or means do not fit the model.
    """
    check_option("mode", mode, MODES)
    heads = list(heads)
    if mode == "mean":
        if means is None:
            raise NeuroalignError(
                "mode 'mean' needs means: the replacement values of the lesioned units"
            )
        if units is not None and heads:
            raise NeuroalignError(
                "mode 'mean' lesions units or heads, not both in one call (their means differ); "
                "nest two lesioned() blocks"
            )
    elif means is not None:
        raise NeuroalignError("means are used by mode 'mean' only; drop them or set mode='mean'")
    arch = discover(model) if arch is None else arch
    edits: _Edits = {}
    if units is not None:
        rows = list(range(arch.n_layers)) if layers is None else [int(x) for x in layers]
        edits = _unit_edits(arch, units, unit_space, rows, means)
    if heads:
        edits = _merge(edits, _head_edits(arch, heads, means))
    if not edits:
        yield
        return
    cache: dict[tuple[str, torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor | None]]
    cache = {}

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
