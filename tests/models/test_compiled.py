"""Regional compilation gives the arrays of the eager run and leaves the model as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import make_gpt2, make_llama

from neuroalign.models.compiled import compilable_blocks, compiled_blocks
from neuroalign.models.discover import discover
from neuroalign.models.extract import Extractor
from neuroalign.models.store import extract_dataset


def test_blocks_with_inner_hooks_stay_eager():
    arch = discover(make_llama())
    addresses = [
        "layers.0:output",
        "layers.1.mlp.down_proj:input",
        "layers.2:output",
    ]
    assert compilable_blocks(arch, addresses) == ["layers.0", "layers.2"]


def test_compiled_forward_is_removed_afterwards():
    model = make_gpt2()
    with compiled_blocks(model, ["h.0", "h.1"], backend="eager") as n:
        assert n == 2
        assert "forward" in vars(model.h[0])
    assert "forward" not in vars(model.h[0]) and "forward" not in vars(model.h[1])


@pytest.mark.parametrize(
    ("make", "backend"),
    [(make_gpt2, "inductor"), (make_gpt2, "eager"), (make_llama, "eager")],
    ids=["gpt2-inductor", "gpt2", "llama"],
)
def test_compiled_equals_eager(make, backend, tokenizer, story_table):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = make()
    # resid reaches no inner module (blocks compile); mlp_neuron hooks inside every block
    # (blocks stay eager): both must give the eager arrays.
    for units in ("resid,embed", "resid,mlp_neuron"):
        kwargs = dict(units=units, context="words:3", pooling="mean", batch_size=4)
        eager = extract_dataset(Extractor(model, tokenizer, **kwargs), story_table)
        compiled = extract_dataset(
            Extractor(model, tokenizer, compile=backend, **kwargs), story_table
        )
        for name in units.split(","):
            np.testing.assert_allclose(compiled[name], eager[name], atol=1e-5, err_msg=name)
    assert counters["stats"]["unique_graphs"] >= 1  # the blocks did run compiled
    assert not any("forward" in vars(m) for m in model.modules())


def test_blocks_share_one_compiled_function_made_once():
    model = make_gpt2()
    with compiled_blocks(model, ["h.0", "h.1"], backend="eager"):
        compiled = model.h[0].forward.__func__
        assert model.h[1].forward.__func__ is compiled
        assert model.h[1].forward.__self__ is model.h[1]
    with compiled_blocks(model, ["h.2"], backend="eager"):
        assert model.h[2].forward.__func__ is compiled  # not compiled again per chunk
