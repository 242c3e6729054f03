"""The one batched forward loop: out-of-memory halving, padding, results as one at a time."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from tiny_models import make_gpt2, make_llama

from neuroalign._check import NeuroalignError
from neuroalign.models.batches import (
    BatchSize,
    input_device,
    is_oom,
    iter_batches,
    pad_sequences,
    run_batches,
)


def _fits(limit, calls):
    """A fake forward that runs out of memory on batches larger than ``limit``."""

    def step(batch):
        calls.append(len(batch))
        if len(batch) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [10 * int(i) for i in batch]

    return step


def test_out_of_memory_halves_the_batch_and_keeps_the_size(caplog):
    calls = []
    size = BatchSize(8)
    with caplog.at_level(logging.WARNING, logger="neuroalign.models.batches"):
        out = list(iter_batches(np.arange(11), _fits(2, calls), batch_size=size))
    assert [b.tolist() for b, _ in out] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10]]
    assert [r for _, rs in out for r in rs] == [10 * i for i in range(11)]
    assert calls == [8, 4, 2, 2, 2, 2, 2, 1] and size.size == 2
    assert "out of memory" in caplog.text
    # A second loop that shares the size starts at what fitted.
    calls.clear()
    list(iter_batches(np.arange(4), _fits(2, calls), batch_size=size))
    assert calls == [2, 2]


def test_one_input_too_large_is_one_clear_error():
    with pytest.raises(NeuroalignError, match="does not fit in cuda:0 memory") as err:
        list(iter_batches(list(range(3)), _fits(0, []), batch_size=4, device="cuda:0"))
    assert "\n" not in str(err.value)
    with pytest.raises(NeuroalignError, match="input 7 is too long"):
        list(
            iter_batches(
                [7], _fits(0, []), batch_size=1, too_large=lambda b: f"input {b[0]} is too long"
            )
        )


def test_other_errors_are_not_swallowed():
    def broken(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(iter_batches([1, 2], broken, batch_size=2))
    assert is_oom(RuntimeError("CUDA error: out of memory")) and not is_oom(ValueError("x"))


def test_steps_run_only_when_asked_for():
    calls = []
    batches = iter_batches(np.arange(6), _fits(10, calls), batch_size=2)
    next(batches)
    assert calls == [2]


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_side(side):
    ids, mask = pad_sequences([[5, 6, 7], [8]], pad_id=0, side=side)
    if side == "right":
        assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    else:
        assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequences([[1]], side="middle")


def _last_logits(model):
    def forward(batch):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        last = batch.attention_mask.sum(1) - 1
        return logits[torch.arange(len(last)), last].numpy()

    return forward


@pytest.mark.parametrize("make", [make_gpt2, make_llama])
def test_batched_results_equal_one_at_a_time(make):
    from transformers import AutoModelForCausalLM

    base = make()
    model = AutoModelForCausalLM.from_config(base.config).eval()
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 1000, size=n)) for n in (5, 2, 9, 1, 7, 3, 4)]
    device = input_device(model)
    one = [r for _, r in run_batches(seqs, _last_logits(model), batch_size=1, device=device)]
    got = np.concatenate(
        [r for _, r in run_batches(seqs, _last_logits(model), batch_size=3, device=device)]
    )
    np.testing.assert_allclose(got, np.concatenate(one), atol=1e-5)
    # Running out of memory on the way changes nothing either.
    real = _last_logits(model)
    sizes = []

    def small_memory(batch):
        sizes.append(len(batch.index))
        if len(batch.index) > 2:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return real(batch)

    pieces = list(run_batches(seqs, small_memory, batch_size=4, device=device))
    np.testing.assert_array_equal(np.concatenate([i for i, _ in pieces]), np.arange(len(seqs)))
    np.testing.assert_allclose(np.concatenate([r for _, r in pieces]), got, atol=1e-5)
    assert sizes[0] == 4 and max(sizes[1:]) == 2


def test_fixed_length_tokens_and_no_grad():
    tokens = np.arange(12).reshape(4, 3)
    seen = []

    def forward(batch):
        seen.append((batch.index.tolist(), batch.input_ids.tolist(), torch.is_grad_enabled()))
        assert bool(batch.attention_mask.all()) and batch.input_ids.dtype == torch.long
        return len(batch.index)

    assert [n for _, n in run_batches(tokens, forward, batch_size=3, device="cpu")] == [3, 1]
    assert seen[1] == ([3], [[9, 10, 11]], False)
