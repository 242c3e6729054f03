"""The fused attention kernels in order of their measured speed on an input shape.

``scaled_dot_product_attention`` picks among its fused kernels (flash, memory-efficient, cuDNN)
by a fixed priority. For the short windows of word-level extraction (tens of tokens, thousands
of windows per batch) the first in that order is not always the fastest: on an H200, for windows
of 33 tokens, the cuDNN kernel it chose took 2.5 times as long as the memory-efficient one.
:func:`rank_backends` times each kernel that accepts the shape on random inputs and orders them,
fastest first; the extractor runs the model under that order (the kernels differ in rounding
only). The math kernel comes last, as the fallback. A shape is timed once per process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention

FUSED = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION)


def _seconds(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of ``repeats`` calls of ``run`` (device events on CUDA)."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) / 1e3)
        else:
            begin = time.perf_counter()
            run()
            times.append(time.perf_counter() - begin)
    return float(sorted(times)[len(times) // 2])


def rank_backends(
    batch: int,
    n_heads: int,
    seq_len: int,
    head_dim: int,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    repeats: int = 5,
) -> list[SDPBackend]:
    """Fused attention kernels that take causal attention of this shape, fastest first.

    Parameters
    ----------
    batch, n_heads, seq_len, head_dim : int
        Shape of the queries, keys and values, (batch, n_heads, seq_len, head_dim).
    dtype : torch.dtype
        The model's dtype.
    device : torch.device or str
        Where to time the kernels.
    repeats : int, default=5
        Timed calls per kernel (after one untimed call); the median counts.

    Returns
    -------
    order : list of SDPBackend
        The fused kernels that ran, fastest first, then ``SDPBackend.MATH``. Timed on the
        first call for a shape, dtype and device; later calls return the same order.
    """
    return list(_ranked(batch, n_heads, seq_len, head_dim, dtype, torch.device(device), repeats))


@functools.lru_cache(maxsize=64)
def _ranked(
    batch: int,
    n_heads: int,
    seq_len: int,
    head_dim: int,
    dtype: torch.dtype,
    device: torch.device,
    repeats: int,
) -> tuple[SDPBackend, ...]:
    shape = (batch, n_heads, seq_len, head_dim)
    q, k, v = (torch.randn(shape, dtype=dtype, device=device) for _ in range(3))
    times = {}
    with torch.inference_mode():
        for backend in FUSED:

            def run() -> torch.Tensor:
                return scaled_dot_product_attention(q, k, v, is_causal=True)

            try:
                with sdpa_kernel(backend):
                    run()  # raises if this kernel does not take the input
                    times[backend] = _seconds(run, repeats, device)
            except RuntimeError:
                continue
    return (*sorted(times, key=times.__getitem__), SDPBackend.MATH)
