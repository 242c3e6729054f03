"""Regional compilation: each transformer block's forward through ``torch.compile``.

Compiling block by block (rather than the whole model) keeps one compiled graph for all the
blocks of a stack, leaves the hooks that sit on a block itself (the residual stream, the stop
after the last requested block) in eager Python around the compiled code, and fuses the
elementwise kernels inside the block (norms, activations, residual adds, rotary embeddings),
which are most of the time that is not matrix products. A block with a hook on one of its inner
modules (``attn_out``, ``mlp_neuron``, ``head_out``, attention weights) stays eager, so every
hook fires exactly as without compilation.

The compiled function is made once per block class and backend and bound to each block, so
installing it for every chunk of a run costs nothing, and every block of a stack shares its
graphs (the block's weights are inputs of the graph, not constants in it).
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterable, Iterator

import torch

from neuroalign.models.discover import Architecture
from neuroalign.models.hooks import parse_address


def compilable_blocks(arch: Architecture, addresses: Iterable[str]) -> list[str]:
    """Module paths of the blocks that no hook address reaches inside.

    Parameters
    ----------
    arch : Architecture
        The model's block stack.
    addresses : iterable of str
        Hook addresses (``"<module path>:<site>"``).

    Returns
    -------
    paths : list of str
        Blocks whose forward may be compiled, in stack order.
    """
    paths = [parse_address(a)[0] for a in addresses]
    return [
        block.path
        for block in arch.blocks
        if not any(p.startswith(f"{block.path}.") for p in paths)
    ]


@functools.cache
def compiled_forward(forward: Callable, backend: str) -> Callable:
    """``torch.compile`` of a block class's (unbound) ``forward``, made once per backend."""
    return torch.compile(forward, backend=backend, dynamic=None)


@contextlib.contextmanager
def compiled_blocks(
    model: torch.nn.Module, paths: Iterable[str], backend: str = "inductor"
) -> Iterator[int]:
    """Run the blocks at ``paths`` through ``torch.compile`` inside the block.

    The compiled forward is set on each block instance and removed in ``finally``, so the model
    is unchanged afterwards (compiled graphs stay cached for the next use).

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    paths : iterable of str
        Block module paths (:func:`compilable_blocks`).
    backend : str, default="inductor"
        The ``torch.compile`` backend.

    Yields
    ------
    n_compiled : int
        How many blocks run compiled.
    """
    installed = []
    try:
        for path in paths:
            block = model.get_submodule(path)
            if "forward" in vars(block):
                continue  # already compiled by an enclosing context
            block.forward = types.MethodType(compiled_forward(type(block).forward, backend), block)
            installed.append(block)
        yield len(installed)
    finally:
        for block in installed:
            del block.forward
