"""When compiling the blocks pays: the break-even point measured on GPUs.

``torch.compile`` costs a fixed warm-up per model and process (5.6 to 8.6 s on an H200 for
GPT-2 small, GPT-2 XL and a Llama-style 1.2B model, one compiled pass over every input shape
included) and saves a share of every forward pass after it. From the rates in
``docs/benchmarks.md`` (eager against compiled, 20,000 words of 33-token windows), the savings
repay the warm-up after about 15 M tokens for GPT-2 small (124 M parameters), 3.6 M for GPT-2
XL (1.5 B) and 5.8 M for the Llama-style model (1.2 B): in forward work (2 x parameters x
tokens) 3.7e15, 1.1e16 and 1.4e16 floating-point operations. ``compile: auto`` compiles past
:data:`BREAK_EVEN_FLOPS`, the largest of the three, so it compiles only where each of the three
models would have gained; CPUs never compile (inductor's CPU kernels were not measured to pay).
"""

from __future__ import annotations

import torch

#: Forward work (2 x parameters x tokens) past which compiling pays on a GPU.
BREAK_EVEN_FLOPS = 1.4e16


def forward_work(n_params: int, n_tokens: float) -> float:
    """Floating-point operations of a forward pass over ``n_tokens`` (2 per parameter)."""
    return 2.0 * float(n_params) * float(n_tokens)


def should_compile(n_params: int, n_tokens: float, device: str | torch.device) -> bool:
    """Whether a run of ``n_tokens`` through a model of ``n_params`` repays compilation.

    Parameters
    ----------
    n_params : int
        Parameters of the model.
    n_tokens : float
        Tokens the run feeds through it (an estimate is enough).
    device : str or torch.device
        Where it runs; only CUDA devices compile.

    Returns
    -------
    bool
        True when the forward work reaches :data:`BREAK_EVEN_FLOPS` on a CUDA device.
    """
    if torch.device(device).type != "cuda":
        return False
    return forward_work(n_params, n_tokens) >= BREAK_EVEN_FLOPS
