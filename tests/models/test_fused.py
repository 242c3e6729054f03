"""GPT-2-style MLPs with the GELU computed in their first projection's product."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import make_gpt2, make_llama
from transformers import activations

from neuroalign.models import fused
from neuroalign.models.discover import discover
from neuroalign.models.extract import Extractor
from neuroalign.models.fused import fused_mlps
from neuroalign.models.store import extract_dataset


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (activations.NewGELUActivation(), True),
        (activations.FastGELUActivation(), True),
        (torch.nn.GELU(approximate="tanh"), True),
        (activations.GELUActivation(), False),  # the exact (erf) GELU
        (torch.nn.SiLU(), False),
        (torch.nn.Dropout(0.1).eval(), False),
    ],
)
def test_tanh_gelu_is_recognized_by_its_values(module, expected):
    assert fused._is_gelu_tanh(module) is expected


def _mlp_outputs(model, x):
    with torch.no_grad():
        return [block.mlp(x) for block in model.h]


def test_gpt2_mlps_fuse_and_give_the_same_output():
    model = make_gpt2()
    x = torch.randn(2, 5, 32)
    before = _mlp_outputs(model, x)
    paths = [b.path for b in discover(model).blocks]
    with fused_mlps(model, discover(model), paths) as n:
        assert n == 3
        assert "forward" in vars(model.h[1].mlp.c_fc)
        during = _mlp_outputs(model, x)
    assert not any("forward" in vars(m) for m in model.modules())
    for a, b in zip(before, during, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [make_llama, lambda: make_gpt2(activation_function="gelu")],
    ids=["gated-silu", "erf-gelu"],
)
def test_other_mlps_are_left_alone(make):
    model = make()
    arch = discover(model)
    with fused_mlps(model, arch, [b.path for b in arch.blocks]) as n:
        assert n == 0
        assert not any("forward" in vars(m) for m in model.modules())


def test_a_different_data_flow_is_caught_by_the_output_check():
    model = make_gpt2()
    for block in model.h:
        mlp = block.mlp
        # The activation does not take the projection's output as it is.
        mlp.forward = lambda x, mlp=mlp: mlp.c_proj(mlp.act(mlp.c_fc(x) + 1.0))
    arch = discover(model)
    with fused_mlps(model, arch, [b.path for b in arch.blocks]) as n:
        assert n == 0
        assert "forward" not in vars(model.h[0].mlp.c_fc)


def test_compiled_runs_reuse_their_graphs(tokenizer, story_table):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = make_gpt2()
    kwargs = dict(units="resid", context="words:3", batch_size=4, compile="eager")
    first = extract_dataset(Extractor(model, tokenizer, **kwargs), story_table)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    again = extract_dataset(Extractor(model, tokenizer, **kwargs), story_table)
    assert counters["stats"]["unique_graphs"] == graphs
    np.testing.assert_array_equal(again["resid"], first["resid"])
