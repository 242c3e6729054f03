"""Lesion localized units at every token position (through :mod:`neuroalign.models.lesion`).

A mask of shape (n_layers, n_units) names units of one unit space (``resid``: the residual
stream after each block, as in the LLM-language-network paper; also ``attn_out``, ``mlp_out``,
``mlp_neuron`` and ``head_out``). Inside :func:`ablated`, the model runs with those units zeroed
(or set to their negative-condition means); an empty mask leaves the model untouched bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from neuroalign.models.discover import Architecture
from neuroalign.models.lesion import LESIONABLE, MODES, lesioned

__all__ = ["ABLATABLE", "MODES", "ablated"]

ABLATABLE = LESIONABLE


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
    with lesioned(
        model,
        units=mask,
        unit_space=unit_space,
        layers=layers,
        mode=mode,
        means=values if mode == "mean" else None,
        arch=arch,
    ):
        yield
