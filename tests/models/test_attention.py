"""Attention kernels ranked by measured cost, and the extractor under that order."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import make_bert, make_gpt2, make_llama
from torch.nn.attention import SDPBackend

from neuroalign._check import NeuroalignError
from neuroalign.models import attention, extract
from neuroalign.models.attention import rank_backends
from neuroalign.models.random_init import build_model
from neuroalign.models.store import extract_dataset


def test_kernels_that_do_not_take_the_input_come_after_the_timed_ones():
    # On the CPU only the flash kernel is fused; the others stay enabled behind it (for
    # batches of another problem), the math kernel last.
    order = rank_backends(4, 2, 9, 8, dtype=torch.float32, device="cpu", repeats=2)
    assert order == [
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.MATH,
    ]


def test_ranked_kernels_give_the_default_arrays(tokenizer, story_table, monkeypatch):
    model = make_llama()
    model.config._attn_implementation = "sdpa"
    kwargs = dict(units="resid,attn_out", context="words:4", pooling="mean", batch_size=4)
    default = extract_dataset(extract.Extractor(model, tokenizer, **kwargs), story_table)
    ranked: list = []
    rank = extract.Extractor._attention_order

    def record(self, replica, inputs, problem):
        order = rank(self, replica, inputs, problem)
        ranked.append(order)
        return order

    monkeypatch.setattr(extract, "_ranks_attention", lambda device: True)
    monkeypatch.setattr(extract.Extractor, "_attention_order", record)
    got = extract_dataset(extract.Extractor(model, tokenizer, **kwargs), story_table)
    assert len(ranked) == 1 and ranked[0][0] == SDPBackend.FLASH_ATTENTION  # once per run
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


@pytest.mark.parametrize("problem", ["causal", "masked", "full"])
def test_every_problem_is_ranked(problem):
    order = rank_backends(4, 2, 11, 8, dtype=torch.float32, device="cpu", problem=problem)
    assert order[-1] == SDPBackend.MATH and SDPBackend.FLASH_ATTENTION in order


def test_unknown_problem_and_share_out_of_range_are_refused():
    with pytest.raises(NeuroalignError, match="problem"):
        rank_backends(4, 2, 9, 8, dtype=torch.float32, device="cpu", problem="sliding")
    with pytest.raises(NeuroalignError, match="new_shapes"):
        rank_backends(4, 2, 9, 8, dtype=torch.float32, device="cpu", new_shapes=1.5)


@pytest.fixture
def fake_kernels(monkeypatch):
    """Every kernel "runs", timed by a table: warm run times (length 13) and first-call times
    on a new length, per kernel. Returns the (kernel, length, repeats) of every timing."""
    current = []
    warm = {"FLASH_ATTENTION": 1.0, "EFFICIENT_ATTENTION": 2.0, "CUDNN_ATTENTION": 0.5}
    first = {"FLASH_ATTENTION": 1.0, "EFFICIENT_ATTENTION": 2.0, "CUDNN_ATTENTION": 100.0}
    timed = []

    @contextlib.contextmanager
    def kernel(backend):
        current.append(backend.name)
        yield

    def inputs(batch, n_heads, seq_len, head_dim, dtype, device, problem):
        def run():
            return None

        run.length = seq_len
        return run

    def seconds(run, repeats, device):
        timed.append((current[-1], run.length, repeats))
        return (warm if run.length == 13 else first)[current[-1]]

    monkeypatch.setattr(attention, "sdpa_kernel", kernel)
    monkeypatch.setattr(attention, "_inputs", inputs)
    monkeypatch.setattr(attention, "_seconds", seconds)
    monkeypatch.setattr(attention, "_timed", set())
    attention._ranked.cache_clear()
    yield timed
    attention._ranked.cache_clear()


def test_set_up_on_new_shapes_counts_by_its_share(fake_kernels):
    f, e, c = (
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.CUDNN_ATTENTION,
    )
    args = dict(dtype=torch.float32, device="cpu", problem="masked", repeats=3)
    # One shape for the whole run: the warm time alone ranks (cuDNN 0.5 first).
    assert rank_backends(5, 2, 13, 8, **args) == [c, f, e, SDPBackend.MATH]
    # A new shape every batch: cuDNN pays its 99.5 of set-up each time and goes last.
    assert rank_backends(5, 2, 13, 8, new_shapes=1.0, **args) == [f, e, c, SDPBackend.MATH]
    # One batch in 400 new: 0.5 + 99.5 / 400 = 0.75, still the cheapest.
    assert rank_backends(5, 2, 13, 8, new_shapes=0.0025, **args) == [c, f, e, SDPBackend.MATH]
    # One in 100: 0.5 + 0.995, between flash (1.0) and memory-efficient (2.0).
    assert rank_backends(5, 2, 13, 8, new_shapes=0.01, **args) == [f, c, e, SDPBackend.MATH]
    # Set-up is timed once a kernel on a length no kernel was timed on before (14, then 15).
    fresh = [length for _, length, _ in fake_kernels if length != 13]
    assert fresh == [14] * 3 + [15] * 3 + [16] * 3


def test_the_extractor_ranks_the_problem_it_runs(tokenizer, sentence_table, monkeypatch):
    asked = []

    def rank(*args, **kwargs):
        asked.append(kwargs)
        return [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]

    monkeypatch.setattr(extract, "_ranks_attention", lambda device: True)
    monkeypatch.setattr(extract, "rank_backends", rank)
    bert = make_bert(attn_implementation="sdpa")
    ex = extract.Extractor(bert, tokenizer, context="sentence", pooling="mean", batch_size=2)
    extract_dataset(ex, sentence_table)
    # Sentences of mixed length, padded: the masked problem, in new shapes.
    lengths = np.sort([len(tokenizer(t)["input_ids"]) for t in sentence_table["text"]])[::-1]
    assert asked[-1]["problem"] == "masked"
    assert asked[-1]["new_shapes"] == extract.new_shape_share(lengths, 2)
    assert asked[-1]["new_shapes"] > 0.5

    gpt2 = make_gpt2(attn_implementation="sdpa")
    ex = extract.Extractor(gpt2, tokenizer, context="words:2", batch_size=4)
    table = pd.DataFrame({"text": ["one two three four five six seven"]})
    extract_dataset(ex, table.assign(item=0))
    assert asked[-1]["problem"] == "causal"

    clip, processor = build_model("clip-vision-tiny", seed=0)
    clip.config._attn_implementation = "sdpa"
    images = [np.full((40, 48, 3), i * 20, dtype=np.uint8) for i in range(6)]
    ex = extract.Extractor(clip, processor, tower="vision", batch_size=2)
    extract_dataset(ex, pd.DataFrame({"item": range(6)}), images=images)
    # Images come in one shape: set-up is paid once, by the first of three batches.
    assert asked[-1]["problem"] == "full"
    assert asked[-1]["new_shapes"] == pytest.approx(1 / 3)
