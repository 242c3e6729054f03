"""Where and in which precision a stage runs: one rule for every stage.

Device settings (``auto``, ``cpu``, ``cuda``, ``cuda:N``) and compute dtypes (``auto``,
``float32``, ``bfloat16``, ``float16``) mean the same in every stage that runs a model or a solver:

- ``auto``: every visible CUDA GPU, else the CPU;
- ``cpu``: the CPU;
- ``cuda``: every visible CUDA GPU (an error if there is none);
- ``cuda:N``: GPU N only (an error if it is not visible).

A stage that uses one device takes the first of the list. The dtype ``auto`` is bfloat16 on a
CUDA GPU that supports it and float32 everywhere else. Torch is imported only when a setting
is resolved, so importing this module costs nothing.
"""

from __future__ import annotations

import re
from typing import Any

from neuroalign._check import NeuroalignError

#: The device settings the schema accepts (its ``device`` pattern says the same).
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"
DTYPES = ("auto", "float32", "bfloat16", "float16")


def parse_device(spec: str, field: str = "device") -> tuple[str, int | None]:
    """Split a device setting into its kind and GPU index.

    Returns
    -------
    kind, index : str, int or None
        ``("auto", None)``, ``("cpu", None)``, ``("cuda", None)`` or ``("cuda", N)``.

    Raises
    ------
    NeuroalignError
        If ``spec`` is not one of the accepted forms.
    """
    if not isinstance(spec, str) or not re.match(DEVICE_PATTERN, spec):
        raise NeuroalignError(
            f"{field}: {spec!r} is not a device; use auto, cpu, cuda or cuda:N (N a GPU index)."
        )
    kind, _, index = spec.partition(":")
    return kind, int(index) if index else None


def devices_for(spec: str, n_gpus: int, field: str = "device") -> list[str]:
    """Return the devices a setting names, given how many CUDA GPUs are visible.

    The placement rule without torch: `resolve_devices` calls it with the visible GPU count.

    Raises
    ------
    NeuroalignError
        If the setting asks for a GPU that is not visible.
    """
    kind, index = parse_device(spec, field)
    if kind == "cpu" or (kind == "auto" and n_gpus == 0):
        return ["cpu"]
    if n_gpus == 0:
        raise NeuroalignError(f"{field}: {spec!r} needs a CUDA GPU and none is visible; use cpu.")
    if index is None:
        return [f"cuda:{i}" for i in range(n_gpus)]
    if index >= n_gpus:
        raise NeuroalignError(
            f"{field}: {spec!r} is not visible ({n_gpus} GPU(s): cuda:0 to cuda:{n_gpus - 1})."
        )
    return [f"cuda:{index}"]


def resolve_devices(spec: str = "auto", field: str = "device") -> list[str]:
    """Return the torch devices a setting names on this machine (see the module docstring)."""
    kind, _ = parse_device(spec, field)
    if kind == "cpu":
        return ["cpu"]
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return devices_for(spec, n_gpus, field)


def resolve_device(spec: str = "auto", field: str = "device") -> str:
    """Return the one device a single-device stage runs on: the first `resolve_devices` gives."""
    return resolve_devices(spec, field)[0]


def dtype_name(spec: str, device: str, bf16_supported: bool = True, field: str = "dtype") -> str:
    """Return the dtype name a setting means on ``device`` (the rule, without torch).

    ``auto`` is ``bfloat16`` on a CUDA device that supports it, else ``float32``.
    """
    if spec not in DTYPES:
        raise NeuroalignError(f"{field}: {spec!r} is not a dtype; use one of {', '.join(DTYPES)}.")
    if spec != "auto":
        return spec
    return "bfloat16" if str(device).startswith("cuda") and bf16_supported else "float32"


def resolve_dtype(spec: str, device: str, field: str = "dtype") -> Any:
    """Return the torch dtype a setting means on ``device`` (see `dtype_name`)."""
    import torch

    supported = True
    if spec == "auto" and str(device).startswith("cuda"):
        supported = torch.cuda.is_bf16_supported()
    return getattr(torch, dtype_name(spec, device, supported, field))


def is_oom(err: BaseException) -> bool:
    """Whether an error is a device running out of memory (CUDA or another backend)."""
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def free_cache(device: Any) -> None:
    """Give a CUDA device's cached blocks back after an out-of-memory error (no-op elsewhere)."""
    import torch

    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
