"""Patch embeddings computed as one matrix product.

A vision transformer embeds its image with a convolution whose stride equals its kernel (each
16 x 16 patch to one token). On a GPU, cuDNN runs it as a general convolution: for a ViT-B/16
tower at batch 1024 in bfloat16 it took 9 % of the tower's time, for about 2 % of its operations.
The same map is a product of the unfolded patches (a reshape, no overlap) with the kernel
viewed as a matrix, which runs at the matmul rate.

:func:`patch_matmuls` swaps that product in for each such convolution of a model, checked
against the convolution on a probe image first, and puts the convolutions back on exit.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


def is_patch_conv(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a 2-D convolution over non-overlapping patches (stride equal to
    the kernel, no padding, dilation or groups), whose output is a matrix product."""
    return (
        isinstance(module, torch.nn.Conv2d)
        and tuple(module.stride) == tuple(module.kernel_size)
        and module.padding in ((0, 0), "valid")
        and tuple(module.dilation) == (1, 1)
        and module.groups == 1
        and "forward" not in vars(module)
    )


def _patch_forward(self: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The convolution of non-overlapping patches as ``patches @ kernel.T``: (B, D, H/k, W/k),
    channels-last in memory (rows and columns beyond the last whole patch are dropped, as the
    convolution drops them)."""
    b, c, h, w = x.shape
    kh, kw = self.kernel_size
    nh, nw = h // kh, w // kw
    x = x[:, :, : nh * kh, : nw * kw]
    patches = x.reshape(b, c, nh, kh, nw, kw).permute(0, 2, 4, 1, 3, 5).reshape(-1, c * kh * kw)
    out = F.linear(patches, self.weight.reshape(self.out_channels, -1), self.bias)
    return out.view(b, nh, nw, self.out_channels).permute(0, 3, 1, 2)


def _same_output(conv: torch.nn.Conv2d) -> bool:
    kh, kw = conv.kernel_size
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(2, conv.in_channels, 2 * kh + 1, 3 * kw, generator=generator)
    x = probe.to(dtype=conv.weight.dtype, device=conv.weight.device)
    with torch.no_grad():
        expected = F.conv2d(x, conv.weight, conv.bias, conv.stride)
        got = _patch_forward(conv, x)
    tol = 1e-4 if conv.weight.dtype in (torch.float32, torch.float64) else 3e-2
    scale = float(expected.abs().max()) or 1.0
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=0, atol=tol * scale)


@contextlib.contextmanager
def patch_matmuls(model: torch.nn.Module) -> Iterator[int]:
    """Run each non-overlapping-patch convolution of ``model`` as a matrix product.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; convolutions of another form, and one whose product differs from the
        convolution on a probe image, keep their own forward.

    Yields
    ------
    n_swapped : int
        How many convolutions run as products.
    """
    swapped = []
    try:
        for name, module in model.named_modules():
            if not is_patch_conv(module):
                continue
            if not _same_output(module):
                logger.info("%s stays a convolution: its product form differs", name)
                continue
            module.forward = types.MethodType(_patch_forward, module)
            swapped.append(module)
        yield len(swapped)
    finally:
        for module in swapped:
            vars(module).pop("forward", None)
