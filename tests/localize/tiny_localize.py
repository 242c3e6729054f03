"""A tiny random GPT-2 with a language-modelling head, built from a config."""

from __future__ import annotations


def make_gpt2(**extra):
    """A 2-block GPT-2 of width 16 with the MiniLM vocabulary size (random weights)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    kwargs = dict(n_layer=2, n_embd=16, n_head=2, vocab_size=30522, n_positions=64)
    kwargs.update(bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(**{**kwargs, **extra})).eval()
