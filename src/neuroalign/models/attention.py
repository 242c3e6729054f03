"""The fused attention kernels in order of their measured cost on an input shape.

``scaled_dot_product_attention`` picks among its fused kernels (flash, memory-efficient, cuDNN)
by a fixed priority. For the short windows of word-level extraction (tens of tokens, thousands
of windows per batch) the first in that order is not always the fastest: on an H200, for windows
of 33 tokens, the cuDNN kernel it chose took 2.5 times as long as the memory-efficient one.
:func:`rank_backends` times each kernel that accepts the problem (causal, padding-masked or
full attention) on random inputs and orders them, cheapest first; the extractor runs the model
under that order (the kernels differ in rounding only). The math kernel comes last, as the
fallback. A problem is timed once per process.

A kernel's cost counts its set-up on a new shape as well as its run. The cuDNN kernel builds an
execution plan for each shape it has not seen; length-sorted batches of mixed-length text come
in a new shape almost every batch, and on an H100 those plans made BERT's first pass over 20,000
sentences 5.27 s against 1.33 s for the second (``docs/benchmarks.md``). The caller says what
share of its batches come in a new shape; that share of the set-up time is added to each run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention

from neuroalign._check import check_option, check_range

FUSED = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION)
#: What the kernels are timed on: causal attention without a mask, attention under a padding
#: mask (bidirectional encoders, padded prompts), or full attention (vision towers).
PROBLEMS = ("causal", "masked", "full")

#: Shapes this process has timed a kernel on (a set-up is timed on a shape not among them).
_timed: set[tuple[int, ...]] = set()


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
    problem: str = "causal",
    new_shapes: float = 0.0,
    repeats: int = 5,
) -> list[SDPBackend]:
    """Fused attention kernels that take this attention problem, cheapest first.

    Parameters
    ----------
    batch, n_heads, seq_len, head_dim : int
        Shape of the queries, keys and values, (batch, n_heads, seq_len, head_dim).
    dtype : torch.dtype
        The model's dtype.
    device : torch.device or str
        Where to time the kernels.
    problem : {"causal", "masked", "full"}, default="causal"
        ``causal``: causal attention without a mask (``is_causal``); ``masked``: a boolean
        padding mask, broadcast over queries as Hugging Face models pass it; ``full``: every
        query attends to every key, without a mask.
    new_shapes : float, default=0.0
        Share of the run's batches that come in a shape not seen before (0 to 1). Each
        kernel's set-up on a new shape (its first call there, less a run) is timed once, and
        this share of it is added to its run time.
    repeats : int, default=5
        Timed calls per kernel (after one untimed call); the median counts.

    Returns
    -------
    order : list of SDPBackend
        The fused kernels that ran, cheapest first, then those that refused the problem, then
        ``SDPBackend.MATH``. Timed on the
        first call for a problem, shape, dtype and device; later calls return the same order.
    """
    check_option("problem", problem, PROBLEMS)
    share = float(check_range("new_shapes", new_shapes, 0.0, 1.0))
    device = torch.device(device)
    return list(_ranked(batch, n_heads, seq_len, head_dim, dtype, device, problem, share, repeats))


def _inputs(
    batch: int,
    n_heads: int,
    seq_len: int,
    head_dim: int,
    dtype: torch.dtype,
    device: torch.device,
    problem: str,
) -> Callable[[], torch.Tensor]:
    """One attention call of the problem on random inputs of this shape."""
    shape = (batch, n_heads, seq_len, head_dim)
    q, k, v = (torch.randn(shape, dtype=dtype, device=device) for _ in range(3))
    mask = None
    if problem == "masked":
        # Every other row padded by a quarter of its length (at least one key stays).
        keep = torch.ones(batch, seq_len, dtype=torch.bool, device=device)
        keep[1::2, max(1, seq_len - seq_len // 4) :] = False
        mask = keep[:, None, None, :].expand(batch, 1, seq_len, seq_len)

    def run() -> torch.Tensor:
        return scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=problem == "causal")

    return run


def _fresh_length(batch: int, n_heads: int, seq_len: int, head_dim: int) -> int:
    """The shortest length above ``seq_len`` that no kernel has been timed on here."""
    length = seq_len + 1
    while (batch, n_heads, length, head_dim) in _timed:
        length += 1
    return length


@functools.lru_cache(maxsize=64)
def _ranked(
    batch: int,
    n_heads: int,
    seq_len: int,
    head_dim: int,
    dtype: torch.dtype,
    device: torch.device,
    problem: str,
    share: float,
    repeats: int,
) -> tuple[SDPBackend, ...]:
    run = _inputs(batch, n_heads, seq_len, head_dim, dtype, device, problem)
    fresh = None
    if share > 0:
        length = _fresh_length(batch, n_heads, seq_len, head_dim)
        fresh = _inputs(batch, n_heads, length, head_dim, dtype, device, problem)
        _timed.add((batch, n_heads, length, head_dim))
    _timed.add((batch, n_heads, seq_len, head_dim))
    costs = {}
    with torch.inference_mode():
        for backend in FUSED:
            try:
                with sdpa_kernel(backend):
                    run()  # raises if this kernel does not take the input
                    warm = _seconds(run, repeats, device)
                    cost = warm
                    if fresh is not None:
                        cost += share * max(0.0, _seconds(fresh, 1, device) - warm)
            except RuntimeError:
                continue
            costs[backend] = cost
    # Kernels that refused this problem (flash under a mask) stay enabled, after the timed
    # ones, for later batches of another problem (an unpadded batch without a mask).
    untimed = [b for b in FUSED if b not in costs]
    return (*sorted(costs, key=costs.__getitem__), *untimed, SDPBackend.MATH)
