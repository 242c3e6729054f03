"""Attention patterns under SDPA: the requested rows' weights equal eager attention's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import make_bert, make_gpt2, make_llama, make_mistral

from neuroalign.models.attention_rows import ROWS, QueryRows, query_rows, rows_attention
from neuroalign.models.extract import Extractor
from neuroalign.models.store import extract_dataset

MODELS = {
    "gpt2": make_gpt2,
    "llama-gqa": make_llama,
    "bert": make_bert,
    "mistral-window-3": lambda **kw: make_mistral(3, **kw),
}


def _patterns(make, impl, tokenizer, table, **kwargs):
    model = make(attn_implementation=impl)
    kwargs = {"units": "attn_pattern,head_out", "n_lags": 5, **kwargs}
    ex = Extractor(model, tokenizer, **kwargs)
    ds = extract_dataset(ex, table)
    return ds, model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sentences_under_sdpa_equal_eager(name, tokenizer, sentence_table):
    kwargs = dict(context="sentence", pooling="last", batch_size=3)
    eager, _ = _patterns(MODELS[name], "eager", tokenizer, sentence_table, **kwargs)
    fused, model = _patterns(MODELS[name], "sdpa", tokenizer, sentence_table, **kwargs)
    for space in ("attn_pattern", "head_out"):
        np.testing.assert_allclose(fused[space], eager[space], atol=1e-6, err_msg=space)
    assert float(np.abs(eager["attn_pattern"]).max()) > 0.05  # the weights are not all zero
    # The run leaves the model as it was loaded.
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("name", ["gpt2", "llama-gqa"])
def test_word_windows_with_several_items_a_row_equal_eager(name, tokenizer, story_table):
    # Stride 3: three items (words) end in each window, so one row serves three query rows.
    kwargs = dict(context="words:4:3", batch_size=4)
    eager, _ = _patterns(MODELS[name], "eager", tokenizer, story_table, **kwargs)
    fused, _ = _patterns(MODELS[name], "sdpa", tokenizer, story_table, **kwargs)
    np.testing.assert_allclose(fused["attn_pattern"], eager["attn_pattern"], atol=1e-6)


def test_rows_of_a_padded_batch_equal_the_full_softmax():
    torch.manual_seed(0)
    batch, heads, kv_heads, seq, dim = 3, 4, 2, 7, 8
    q = torch.randn(batch, heads, seq, dim)
    k = torch.randn(batch, kv_heads, seq, dim)
    keep = torch.ones(batch, seq, dtype=torch.bool)
    keep[1, 5:] = False
    mask = keep[:, None, None, :] & torch.ones(seq, seq, dtype=torch.bool).tril()
    full_k = k.repeat_interleave(heads // kv_heads, dim=1)
    scores = (q @ full_k.transpose(-1, -2)) * 0.3
    full = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    flat = np.array([0 * seq + 6, 1 * seq + 4, 1 * seq + 2, 2 * seq + 3, 2 * seq + 6, 2 * seq + 0])
    rows = QueryRows.from_flat(flat, batch, seq)
    module = torch.nn.Module()
    from neuroalign.models.attention_rows import row_weights

    got = row_weights(module, q, k, mask, rows, scaling=0.3)
    b, t = np.divmod(flat, seq)
    torch.testing.assert_close(got, full[b, :, t], atol=1e-6, rtol=0)
    # No mask: causal as SDPA runs it (the module's is_causal), or full attention.
    module.is_causal = True
    causal = torch.softmax(scores.masked_fill(~torch.ones(seq, seq).tril().bool(), -torch.inf), -1)
    torch.testing.assert_close(row_weights(module, q, k, None, rows, scaling=0.3), causal[b, :, t])
    module.is_causal = False
    torch.testing.assert_close(
        row_weights(module, q, k, None, rows, scaling=0.3), torch.softmax(scores, -1)[b, :, t]
    )


def test_only_requested_modules_compute_weights():
    model = make_gpt2(attn_implementation="sdpa")
    ids = torch.randint(0, 100, (2, 6))
    rows = QueryRows.from_flat(np.array([5, 11]), 2, 6)
    weights = {}
    hooks = [
        block.attn.register_forward_hook(lambda m, a, out, i=i: weights.update({i: out[1]}))
        for i, block in enumerate(model.h)
    ]
    with rows_attention(model) as on, query_rows([model.h[1].attn], rows), torch.no_grad():
        assert on and model.config._attn_implementation == ROWS
        model(input_ids=ids)
    for hook in hooks:
        hook.remove()
    assert weights[0] is None and weights[2] is None
    assert weights[1].shape == (2, 4, 6)
    assert not hasattr(model.h[1].attn, "_neuroalign_query_rows")
    assert model.config._attn_implementation == "sdpa"
    eager = make_gpt2(attn_implementation="eager")
    with rows_attention(eager) as on:
        assert not on and eager.config._attn_implementation == "eager"


def test_story_patterns_across_maskless_batches(tokenizer, story_table):
    # Causal models run unpadded and right-padded batches without a mask: rows follow.
    stories = pd.concat([story_table, story_table.assign(story="c")], ignore_index=True)
    kwargs = dict(context="words:6", batch_size=5)
    eager, _ = _patterns(make_gpt2, "eager", tokenizer, stories, **kwargs)
    fused, _ = _patterns(make_gpt2, "sdpa", tokenizer, stories, **kwargs)
    np.testing.assert_allclose(fused["attn_pattern"], eager["attn_pattern"], atol=1e-6)


def test_compiled_blocks_between_the_read_ones(tokenizer, story_table):
    # Block 1 has no hook inside and runs compiled; its attention asks for no rows.
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    kwargs = dict(units="attn_pattern,resid", layers="0,2", context="words:3", batch_size=4)
    eager, _ = _patterns(make_gpt2, "eager", tokenizer, story_table, **kwargs)
    fused, _ = _patterns(make_gpt2, "sdpa", tokenizer, story_table, compile="eager", **kwargs)
    assert counters["stats"]["unique_graphs"] >= 1
    for space in ("attn_pattern", "resid"):
        np.testing.assert_allclose(fused[space], eager[space], atol=1e-6, err_msg=space)


def test_causal_rows_with_more_keys_align_as_sdpa_does():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from neuroalign.models.attention_rows import row_weights

    torch.manual_seed(1)
    q, k, v = torch.randn(1, 2, 2, 4), torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    module = torch.nn.Module()
    module.is_causal = True
    rows = QueryRows.from_flat(np.array([0, 1]), 1, 2)
    w = row_weights(module, q, k, None, rows, scaling=0.5)
    out, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.5)
    # The weights give SDPA's output: query i sees keys 0..i.
    torch.testing.assert_close(torch.einsum("nhk,hkd->nhd", w, v[0]), out[0])  # (query, head, dim)
    assert float(w[0, :, 1:].abs().max()) == 0.0


def test_vision_tower_patterns_under_sdpa_equal_eager():
    from neuroalign.models.random_init import build_model

    images = [
        np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8) for i in range(5)
    ]
    table = pd.DataFrame({"item": range(5)})
    got = {}
    for impl in ("eager", "sdpa"):
        model, processor = build_model("clip-vision-tiny", seed=0)
        model.set_attn_implementation(impl)
        ex = Extractor(
            model, processor, tower="vision", units="attn_pattern", n_lags=3, batch_size=2
        )
        got[impl] = extract_dataset(ex, table, images=images)["attn_pattern"].values
    np.testing.assert_allclose(got["sdpa"], got["eager"], atol=1e-6)


def test_maskless_switch_keeps_rows_in_sub_configs():
    from transformers import LlavaConfig

    from neuroalign.models.attention_rows import ROWS_MASKLESS
    from neuroalign.models.maskless import maskless

    config = LlavaConfig()
    configs = [config, config.text_config, config.vision_config]
    for c in configs:
        c._attn_implementation = ROWS
    with maskless(configs):
        assert [c._attn_implementation for c in configs] == [ROWS_MASKLESS] * 3
    assert [c._attn_implementation for c in configs] == [ROWS] * 3
