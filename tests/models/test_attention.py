"""Attention kernels ranked by measured speed, and the extractor under that order."""

from __future__ import annotations

import numpy as np
import torch
from tiny_models import make_gpt2, make_llama
from torch.nn.attention import SDPBackend

from neuroalign.models import extract
from neuroalign.models.attention import rank_backends
from neuroalign.models.store import extract_dataset


def test_kernels_that_do_not_take_the_input_are_left_out():
    # On the CPU only the flash kernel is fused; the math kernel always comes last.
    order = rank_backends(4, 2, 9, 8, dtype=torch.float32, device="cpu", repeats=2)
    assert order == [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]


def test_ranked_kernels_give_the_default_arrays(tokenizer, story_table, monkeypatch):
    model = make_llama()
    model.config._attn_implementation = "sdpa"
    kwargs = dict(units="resid,attn_out", context="words:4", pooling="mean", batch_size=4)
    default = extract_dataset(extract.Extractor(model, tokenizer, **kwargs), story_table)
    ranked: list = []
    rank = extract.Extractor._attention_order

    def record(self, replica, inputs):
        order = rank(self, replica, inputs)
        ranked.append(order)
        return order

    monkeypatch.setattr(extract, "_ranks_attention", lambda device: True)
    monkeypatch.setattr(extract.Extractor, "_attention_order", record)
    got = extract_dataset(extract.Extractor(model, tokenizer, **kwargs), story_table)
    assert ranked == [[SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]]  # once per run
    for name in ("resid", "attn_out"):
        np.testing.assert_allclose(got[name], default[name], atol=1e-5, err_msg=name)


def test_eager_attention_is_not_ranked(tokenizer, story_table, monkeypatch):
    model = make_gpt2(attn_implementation="eager")
    monkeypatch.setattr(extract, "_ranks_attention", lambda device: True)
    ex = extract.Extractor(model, tokenizer, context="words:2", batch_size=4)
    replica = ex._replicas()[0]
    inputs = {"input_ids": torch.zeros(3, 5, dtype=torch.long)}
    assert ex._attention_order(replica, inputs) == []


def test_a_shape_is_timed_once(monkeypatch):
    from neuroalign.models import attention

    calls = []
    real = attention._seconds
    monkeypatch.setattr(attention, "_seconds", lambda *a: calls.append(a) or real(*a))
    args = (3, 2, 7, 8)
    first = rank_backends(*args, dtype=torch.float32, device="cpu", repeats=1)
    n = len(calls)
    assert n > 0
    assert rank_backends(*args, dtype=torch.float32, device="cpu", repeats=1) == first
    assert len(calls) == n
    rank_backends(3, 2, 8, 8, dtype=torch.float32, device="cpu", repeats=1)
    assert len(calls) > n
