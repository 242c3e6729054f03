"""The GELU of an MLP computed in its first projection's matrix product.

In a GPT-2-style MLP (``proj(gelu_tanh(fc(x)))``) the activation is a separate kernel that reads
and writes the widest tensor of the block, four times the residual stream: about a tenth of
GPT-2's forward time on a GPU. cuBLASLt applies the tanh approximation of GELU in the epilogue of
the matrix product (``torch._addmm_activation``), on the float32 accumulator before rounding, so
that pass goes away.

:func:`fused_mlps` finds, in each block's MLP (the parent of its output projection), one linear
map with a bias and the MLP's width as output, and one parameter-free module that computes the
tanh GELU (checked on probe values, so any implementation of it counts); it then runs the map
with the activation in its product and the activation as the identity. The MLP's output is
checked against the original on random inputs before the change is kept, so an MLP whose data
flow differs (a gated MLP, an activation elsewhere) stays as it is.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F

from neuroalign.models.discover import Architecture, linear_shape

logger = logging.getLogger(__name__)


def _is_gelu_tanh(module: torch.nn.Module) -> bool:
    """Whether a parameter-free module computes the tanh approximation of GELU."""
    if any(True for _ in module.parameters()) or list(module.children()):
        return False
    x = torch.linspace(-6, 6, 97, dtype=torch.float64)
    try:
        with torch.no_grad():
            y = module(x)
    except Exception:  # not an elementwise activation
        return False
    expected = F.gelu(x, approximate="tanh")
    return isinstance(y, torch.Tensor) and y.shape == x.shape and torch.allclose(y, expected)


def _fused_forward(self: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``gelu_tanh(x @ W + b)`` in one product (GPT-2's ``Conv1D`` stores ``W`` as (in, out))."""
    mat2 = self.weight.t() if isinstance(self, torch.nn.Linear) else self.weight
    out = torch._addmm_activation(self.bias, x.reshape(-1, x.shape[-1]), mat2, use_gelu=True)
    return out.view(*x.shape[:-1], out.shape[-1])


def _identity(self: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x


def _parts(model: torch.nn.Module, arch: Architecture, block: str) -> tuple | None:
    """The MLP, its first projection and its activation in ``block``, if it has that form."""
    spec = next(b for b in arch.blocks if b.path == block)
    mlp_path = spec.mlp_proj.rpartition(".")[0]
    if not mlp_path.startswith(f"{block}."):
        return None
    mlp = model.get_submodule(mlp_path)
    proj = model.get_submodule(spec.mlp_proj)
    maps = [
        m
        for m in mlp.children()
        if m is not proj
        and (shape := linear_shape(m)) is not None
        and shape[1] == arch.mlp_size
        and getattr(m, "bias", None) is not None
    ]
    acts = [m for m in mlp.children() if _is_gelu_tanh(m)]
    if len(maps) != 1 or len(acts) != 1:
        return None
    return mlp, maps[0], acts[0]


def _install(fc: torch.nn.Module, act: torch.nn.Module) -> None:
    fc.forward = types.MethodType(_fused_forward, fc)
    act.forward = types.MethodType(_identity, act)


def _remove(fc: torch.nn.Module, act: torch.nn.Module) -> None:
    vars(fc).pop("forward", None)
    vars(act).pop("forward", None)


def _same_output(mlp: torch.nn.Module, fc: torch.nn.Module, act: torch.nn.Module) -> bool:
    """Install the fused pair and check the MLP's output against the original on random data."""
    weight = fc.weight
    n_in = linear_shape(fc)[0]
    probe = torch.randn(2, 3, n_in, generator=torch.Generator().manual_seed(0))
    x = probe.to(dtype=weight.dtype, device=weight.device)
    try:
        with torch.no_grad():
            expected = mlp(x)
            _install(fc, act)
            got = mlp(x)
    except Exception:  # an MLP whose forward takes other inputs
        _remove(fc, act)
        return False
    tol = 1e-4 if weight.dtype in (torch.float32, torch.float64) else 3e-2
    scale = float(expected.abs().max()) or 1.0
    if not torch.allclose(got, expected, rtol=0, atol=tol * scale):
        _remove(fc, act)
        return False
    return True


@contextlib.contextmanager
def fused_mlps(model: torch.nn.Module, arch: Architecture, blocks: Iterable[str]) -> Iterator[int]:
    """Compute the GELU of the MLPs of ``blocks`` in their first projection, inside the block.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    arch : Architecture
        Its block stack.
    blocks : iterable of str
        Paths of the blocks to change (blocks with hooks inside should not be among them).

    Yields
    ------
    n_fused : int
        How many MLPs run fused (0 for MLPs of another form).
    """
    installed = []
    try:
        for block in blocks:
            parts = _parts(model, arch, block)
            if parts is None or "forward" in vars(parts[1]):
                continue
            mlp, fc, act = parts
            if not installed and not _same_output(mlp, fc, act):
                logger.info("MLPs of %s keep their activation: the fused form differs", block)
                break
            _install(fc, act)
            installed.append((fc, act))
        yield len(installed)
    finally:
        for fc, act in installed:
            _remove(fc, act)
