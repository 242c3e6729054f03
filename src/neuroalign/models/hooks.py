"""Temporary forward hooks addressed by module path and site.

An address is a path from ``model.named_modules()`` plus a site, ``"h.3.mlp.c_proj:input"`` or
``"model.layers.5:output"`` (a colon, because BERT has child modules named ``output``); the site
``weights`` reads the attention weights an attention module returns under eager attention. Hooks
live only inside the :func:`capture` context manager, which removes them in ``finally``.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from neuroalign._check import NeuroalignError

SITES = ("input", "output", "weights")


class StopForward(Exception):
    """Raised by a hook to end a forward pass once every requested activation is captured."""


def parse_address(address: str) -> tuple[str, str]:
    """Split ``"path:site"`` into the module path and the site (``input`` or ``output``)."""
    path, sep, site = address.rpartition(":")
    if not sep or site not in SITES:
        raise NeuroalignError(
            f"hook address {address!r} must be '<module path>:<site>' with site one of "
            f"{', '.join(SITES)}"
        )
    return path, site


def _first_tensor(value: Any) -> torch.Tensor:
    """Return the hidden-state tensor of a module's input or output (tensor, tuple or dict)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    if isinstance(value, dict) and isinstance(value.get("hidden_states"), torch.Tensor):
        return value["hidden_states"]
    raise TypeError(f"no tensor found in a module's {type(value).__name__} value")


def _attention_weights(address: str, output: Any) -> torch.Tensor:
    """Return the (batch, head, query, key) weights from an attention module's output."""
    weights = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
    if not isinstance(weights, torch.Tensor):
        raise NeuroalignError(
            f"{address}: the attention module returned no weights; attention patterns need "
            "eager attention (load the model with attn_implementation='eager')"
        )
    return weights


def resolve_module(
    model: torch.nn.Module, path: str, modules: dict[str, torch.nn.Module] | None = None
) -> torch.nn.Module:
    """Return the submodule at ``path``; an unknown path raises and lists the closest names.

    ``modules`` is ``dict(model.named_modules())`` when the caller already has it.
    """
    modules = dict(model.named_modules()) if modules is None else modules
    if path not in modules:
        close = difflib.get_close_matches(path, list(modules), n=5, cutoff=0.5)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise NeuroalignError(f"no module {path!r} in {type(model).__name__}.{hint}")
    return modules[path]


@contextlib.contextmanager
def capture(
    model: torch.nn.Module,
    addresses: Iterable[str],
    callback: Callable[[str, torch.Tensor], None],
    *,
    stop_after: str | None = None,
) -> Iterator[None]:
    """Call ``callback(address, tensor)`` whenever a hooked module runs, inside the block.

    Parameters
    ----------
    model : torch.nn.Module
        The model to hook.
    addresses : iterable of str
        ``"<module path>:input"`` (the module's first positional input, or its
        ``hidden_states`` keyword), ``"<module path>:output"`` (its output, or the first
        element of a tuple output) or ``"<attention module path>:weights"``.
    callback : callable
        Receives the address and the tensor (not detached; call under ``torch.no_grad``).
    stop_after : str, optional
        An address among ``addresses``; after its callback runs, :class:`StopForward` is
        raised so the rest of the forward pass is skipped. The caller catches it.

    Raises
    ------
    NeuroalignError
        If an address is malformed or names no module.
    """
    parsed = [(a, *parse_address(a)) for a in dict.fromkeys(addresses)]
    named = dict(model.named_modules())
    modules = {path: resolve_module(model, path, named) for _, path, _ in parsed}
    handles = []

    def make_hook(address: str, site: str) -> Callable[..., None]:
        stop = address == stop_after

        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, *output: Any) -> None:
            if site == "input":
                value = _first_tensor(args[0] if args else kwargs.get("hidden_states"))
            elif site == "weights":
                value = _attention_weights(address, output[0])
            else:
                value = _first_tensor(output[0])
            callback(address, value)
            if stop:
                raise StopForward(address)

        return hook

    try:
        for address, path, site in parsed:
            hook = make_hook(address, site)
            if site == "input":
                handles.append(modules[path].register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(modules[path].register_forward_hook(hook, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
