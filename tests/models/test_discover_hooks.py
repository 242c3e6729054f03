"""Layer discovery from the module tree, and temporary hooks."""

from __future__ import annotations

import pytest
import torch
from tiny_models import make_bert, make_clip, make_gpt2, make_llama

from neuroalign._check import NeuroalignError
from neuroalign.models.discover import discover
from neuroalign.models.hooks import capture
from neuroalign.models.units import parse_layers, parse_units


@pytest.mark.parametrize(
    ("make", "tower", "expected"),
    [
        (make_gpt2, "text", ("h", 3, 32, 128, 4, 4, 8, "h.1.attn.c_proj", "h.1.mlp.c_proj")),
        (
            make_llama,
            "text",
            ("layers", 3, 32, 48, 4, 2, 8, "layers.1.self_attn.o_proj", "layers.1.mlp.down_proj"),
        ),
        (
            make_bert,
            "text",
            (
                "encoder.layer",
                2,
                32,
                48,
                4,
                4,
                8,
                "encoder.layer.1.attention.output.dense",
                "encoder.layer.1.output.dense",
            ),
        ),
        (
            make_clip,
            "vision",
            (
                "vision_model.encoder.layers",
                2,
                32,
                48,
                4,
                4,
                8,
                "vision_model.encoder.layers.1.self_attn.out_proj",
                "vision_model.encoder.layers.1.mlp.fc2",
            ),
        ),
    ],
)
def test_discover(make, tower, expected):
    arch = discover(make(), tower)
    got = (
        arch.stack,
        arch.n_layers,
        arch.hidden_size,
        arch.mlp_size,
        arch.n_heads,
        arch.n_kv_heads,
        arch.head_dim,
        arch.blocks[1].attn_proj,
        arch.blocks[1].mlp_proj,
    )
    assert got == expected


def test_missing_tower_is_an_error():
    with pytest.raises(NeuroalignError, match="no vision tower"):
        discover(make_gpt2(), "vision")


def test_unknown_module_lists_closest_names():
    with pytest.raises(NeuroalignError, match=r"Closest: .*h\.1\.mlp"):
        with capture(make_gpt2(), ["h.1.mpl:output"], lambda a, t: None):
            pass


def test_hooks_are_removed_even_after_an_error():
    model = make_gpt2()
    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, ["h.0:output", "h.0.mlp.c_proj:input"], lambda a, t: seen.append(a)):
            model(torch.tensor([[1, 2, 3]]))
            raise RuntimeError("boom")
    assert seen == ["h.0.mlp.c_proj:input", "h.0:output"]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_parse_units_and_layers():
    assert parse_units("resid, mlp_out,resid") == ("resid", "mlp_out")
    with pytest.raises(NeuroalignError, match="Did you mean 'mlp_out'"):
        parse_units("mlp_outt")
    assert parse_layers("all", 3) == [0, 1, 2]
    assert parse_layers([2, -3], 3) == [0, 2]
    with pytest.raises(NeuroalignError, match="out of range"):
        parse_layers("5", 3)
    with pytest.raises(NeuroalignError, match="comma-separated"):
        parse_layers("first", 3)


def test_position_offset_follows_the_position_embedding():
    from tiny_models import make_roberta

    from neuroalign.models.discover import position_offset

    assert position_offset(make_roberta()) == 2  # padding index 1, real tokens from 2
    assert position_offset(make_roberta(pad_token_id=0)) == 1
    for make in (make_gpt2, make_llama, make_bert, make_clip):
        assert position_offset(make()) == 0
