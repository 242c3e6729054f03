"""Lesions of units and heads: exact head removal, GQA safety, the model restored on exit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import make_gpt2, make_llama

from neuroalign._check import NeuroalignError
from neuroalign.models.discover import discover
from neuroalign.models.hooks import capture
from neuroalign.models.lesion import lesioned

IDS = torch.randint(1, 1000, (2, 9), generator=torch.Generator().manual_seed(0))


def _hidden(model):
    with torch.no_grad():
        return model(input_ids=IDS).last_hidden_state


def _project(proj, x):
    """The output projection applied by hand (Linear, or GPT-2's Conv1D of weight (in, out))."""
    weight = proj.weight if isinstance(proj, torch.nn.Linear) else proj.weight.T
    out = x @ weight.T
    return out if proj.bias is None else out + proj.bias


def _grab(model, addresses):
    got = {}

    def keep(address, tensor):
        got[address] = tensor.detach().clone()

    with torch.no_grad(), capture(model, addresses, keep):
        model(input_ids=IDS)
    return got


@pytest.mark.parametrize("make", [make_gpt2, make_llama])
@pytest.mark.parametrize(("layer", "head"), [(0, 1), (2, 3)])
def test_zeroing_a_head_equals_zeroing_its_slice_by_hand(make, layer, head):
    model = make()
    arch = discover(model)
    block = arch.blocks[layer]
    proj = model.get_submodule(block.attn_proj)
    at = slice(head * arch.head_dim, (head + 1) * arch.head_dim)
    intact = _grab(model, [f"{block.attn_proj}:input"])[f"{block.attn_proj}:input"]
    by_hand = intact.clone()
    by_hand[..., at] = 0
    with lesioned(model, heads=[(layer, head)]):
        out = _grab(model, [f"{block.attn_proj}:output"])[f"{block.attn_proj}:output"]
    with torch.no_grad():
        torch.testing.assert_close(out, _project(proj, by_hand), rtol=1e-5, atol=1e-6)

    # The whole model with the lesion equals the model with the slice zeroed by a hook of ours.
    def zero_slice(module, args):
        x = args[0].clone()
        x[..., at] = 0
        return (x, *args[1:])

    handle = proj.register_forward_pre_hook(zero_slice)
    try:
        expected = _hidden(model)
    finally:
        handle.remove()
    with lesioned(model, heads=[(layer, head)], arch=arch):
        torch.testing.assert_close(_hidden(model), expected, rtol=0, atol=0)


def test_gqa_lesion_leaves_the_other_heads_of_the_group_unchanged():
    model = make_llama()  # 4 query heads, 2 key/value heads: heads 0 and 1 share a group
    arch = discover(model)
    assert (arch.n_heads, arch.n_kv_heads) == (4, 2)
    attn = arch.blocks[1].attn
    addresses = [
        f"{arch.blocks[1].attn_proj}:input",
        f"{attn}.k_proj:output",
        f"{attn}.v_proj:output",
    ]
    intact = _grab(model, addresses)
    with lesioned(model, heads=[(1, 0)], arch=arch):
        hit = _grab(model, addresses)
    d = arch.head_dim
    heads_in, heads_out = intact[addresses[0]], hit[addresses[0]]
    assert (heads_out[..., :d] == 0).all()
    torch.testing.assert_close(heads_out[..., d:], heads_in[..., d:], rtol=0, atol=0)
    for address in addresses[1:]:  # the shared key/value projections are not touched
        torch.testing.assert_close(hit[address], intact[address], rtol=0, atol=0)


@pytest.mark.parametrize("make", [make_gpt2, make_llama])
def test_model_is_restored_exactly(make):
    model = make()
    arch = discover(model)
    before = _hidden(model)
    units = np.zeros((arch.n_layers, arch.hidden_size), bool)
    units[0, 3] = True
    with lesioned(model, units=units, heads=[(1, 2), (2, 0)], arch=arch):
        assert not torch.equal(_hidden(model), before)
    torch.testing.assert_close(_hidden(model), before, rtol=0, atol=0)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(RuntimeError), lesioned(model, heads=[(0, 0)], arch=arch):
        raise RuntimeError("inside the block")
    torch.testing.assert_close(_hidden(model), before, rtol=0, atol=0)


def test_nothing_to_lesion_registers_no_hook():
    model = make_gpt2()
    with lesioned(model, units=np.zeros((3, 32), bool)):
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with lesioned(model, heads=[]):
        assert all(not m._forward_pre_hooks for m in model.modules())


def test_mean_lesion_of_heads_and_units():
    model = make_llama()
    arch = discover(model)
    means = np.random.default_rng(0).normal(size=(arch.n_layers, arch.n_heads, arch.head_dim))
    address = f"{arch.blocks[2].attn_proj}:input"
    with lesioned(model, heads=[(2, 1)], mode="mean", means=means, arch=arch):
        got = _grab(model, [address])[address]
    d = arch.head_dim
    expected = torch.as_tensor(means[2, 1], dtype=got.dtype).expand(*got.shape[:-1], d)
    torch.testing.assert_close(got[..., d : 2 * d], expected)
    units = np.zeros((1, arch.mlp_size), bool)
    units[0, [1, 5]] = True
    values = np.full(units.shape, 0.5)
    address = f"{arch.blocks[1].mlp_proj}:input"
    with lesioned(
        model, units=units, unit_space="mlp_neuron", layers=[1], mode="mean", means=values
    ):
        got = _grab(model, [address])[address]
    assert torch.allclose(got[..., [1, 5]], torch.tensor(0.5))


def test_units_and_heads_at_the_same_site_combine():
    model = make_gpt2()
    arch = discover(model)
    units = np.zeros((1, arch.n_heads * arch.head_dim), bool)
    units[0, 0] = True  # head 0's first unit; head 3 by heads
    address = f"{arch.blocks[0].attn_proj}:input"
    with lesioned(model, units=units, unit_space="head_out", layers=[0], heads=[(0, 3)]):
        got = _grab(model, [address])[address]
    assert (got[..., 0] == 0).all() and (got[..., 3 * arch.head_dim :] == 0).all()
    assert (got[..., 1 : arch.head_dim] != 0).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heads": [(3, 0)]}, "does not exist"),
        ({"heads": [(0, 4)]}, "does not exist"),
        ({"heads": [(0, 0)], "mode": "mean"}, "needs means"),
        ({"heads": [(0, 0)], "mode": "mean", "means": np.zeros((3, 5))}, "shape"),
        ({"heads": [(0, 0)], "means": np.zeros((3, 32))}, "mode 'mean' only"),
        ({"units": np.zeros((3, 31), bool)}, "units per layer"),
        ({"units": np.zeros((2, 32), bool)}, "blocks are named"),
        (
            {
                "units": np.ones((3, 32), bool),
                "heads": [(0, 0)],
                "mode": "mean",
                "means": np.zeros((3, 32)),
            },
            "not both",
        ),
    ],
)
def test_bad_lesions_are_one_line_errors(kwargs, message):
    model = make_gpt2()
    with pytest.raises(NeuroalignError, match=message) as err, lesioned(model, **kwargs):
        pass
    assert "\n" not in str(err.value)
