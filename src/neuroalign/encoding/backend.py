"""The array seam between numpy callers and the torch engine (CPU or CUDA).

Every solver takes numpy arrays (or torch tensors), an explicit ``device`` and ``dtype``, and
returns numpy arrays on the CPU. Nothing here is global: a device or precision is always passed in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from neuroalign import devices
from neuroalign._check import check_option

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return the torch device a setting names, by the one rule of :mod:`neuroalign.devices`.

    Parameters
    ----------
    device : str, torch.device or None
        ``"cpu"``, ``"cuda"`` (the first visible GPU), ``"cuda:N"``, ``"auto"`` (the first
        visible GPU, else the CPU) or None (as ``"auto"``).

    Returns
    -------
    device : torch.device

    Raises
    ------
    NeuroalignError
        If the setting is no device, or names a GPU that is not visible.
    """
    return torch.device(devices.resolve_device("auto" if device is None else str(device)))


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Return the torch floating dtype named ``"float32"`` or ``"float64"`` (or given as such)."""
    if isinstance(dtype, torch.dtype):
        check_option("dtype", dtype, list(DTYPES.values()))
        return dtype
    return DTYPES[check_option("dtype", str(dtype), list(DTYPES))]


def as_tensor(x: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Return ``x`` as a tensor on ``device`` with ``dtype`` (no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    arr = np.asarray(x)
    if not arr.flags.writeable:  # torch cannot wrap read-only memory (memmaps, broadcasts)
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """Return a CPU numpy copy of ``x``."""
    return x.detach().to("cpu").numpy()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU); used only for timing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def matmul_precision(level: str) -> Iterator[None]:
    """Set torch's float32 matrix-product precision inside a ``with`` block, then restore it.

    Parameters
    ----------
    level : {"highest", "high", "medium"}
        ``"highest"`` is true float32; ``"high"`` allows TF32 tensor cores on NVIDIA GPUs
        (about 10 bits of mantissa in the products, much faster).
    """
    check_option("level", level, ("highest", "high", "medium"))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(level)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
