"""Mean pooling as a batched matrix product equals gathering and summing the tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign.models.pooling import PoolPlan, pool_tokens


def _plan(seq_len=9):
    # Row 0: two items (tokens 0-2, 3-6); row 1: one (2-8); row 2: three (0, 1-4, 5-5).
    rows = np.arange(6)
    batch = np.array([0, 0, 1, 2, 2, 2])
    lo = np.array([0, 3, 2, 0, 1, 5])
    hi = np.array([3, 7, 9, 1, 5, 6])
    return PoolPlan.from_spans(rows, batch, lo, hi, seq_len), batch, lo, hi


def _truth(hidden, batch, lo, hi):
    h = hidden.double()
    return torch.stack([h[b, a:z].mean(0) for b, a, z in zip(batch, lo, hi, strict=True)])


def test_runs_of_tokens_are_found():
    plan, _, lo, hi = _plan()
    slot, got_lo, got_hi, n_slots = plan.spans()
    assert n_slots == 3 and slot.tolist() == [0, 1, 3, 6, 7, 8]
    assert got_lo.tolist() == lo.tolist() and got_hi.tolist() == hi.tolist()
    # Tokens that skip a position are not one run: no spans, the gathering path.
    scattered = PoolPlan.from_positions(
        np.arange(2), np.array([0, 1]), [np.array([0, 2]), np.array([1, 2])], 4
    )
    assert scattered.spans() is None and "span_slot" not in scattered.to("cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_product_equals_the_mean_of_each_run(dtype):
    plan, batch, lo, hi = _plan()
    hidden = torch.randn(3, 9, 16, generator=torch.Generator().manual_seed(0)).to(dtype)
    index = plan.to("cpu")
    assert "span_slot" in index
    got = pool_tokens(hidden, index, "mean")
    gathered = pool_tokens(hidden, {k: v for k, v in index.items() if "span" not in k}, "mean")
    truth = _truth(hidden, batch, lo, hi)
    assert got.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 2 * 2**-8  # two bfloat16 roundings at most
    torch.testing.assert_close(got.double(), truth, atol=tol, rtol=tol)
    torch.testing.assert_close(gathered.double(), truth, atol=tol, rtol=tol)


def test_float16_sums_beyond_its_range_stay_finite():
    plan, *_ = _plan(seq_len=9)
    hidden = torch.full((3, 9, 4), 30000.0, dtype=torch.float16)  # a sum of 7 is past 65504
    got = pool_tokens(hidden, plan.to("cpu"), "mean")
    assert torch.isfinite(got).all() and (got == 30000.0).all()


def test_the_product_carries_gradients():
    plan, *_ = _plan()
    hidden = torch.randn(3, 9, 4, dtype=torch.float32, requires_grad=True)
    pool_tokens(hidden, plan.to("cpu"), "mean").sum().backward()
    # Each token's gradient is 1 / the tokens of its item; padding gets none.
    assert hidden.grad[0, 0, 0] == pytest.approx(1 / 3) and hidden.grad[0, 8, 0] == 0
