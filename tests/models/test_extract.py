"""The extraction engine against the models' own outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import make_bert, make_clip, make_gpt2, make_llama, make_roberta

from neuroalign._check import NeuroalignError
from neuroalign.models import extract
from neuroalign.models.extract import Chunk, Extractor
from neuroalign.models.store import extract_dataset

MAKERS = {"gpt2": make_gpt2, "llama": make_llama, "bert": make_bert, "roberta": make_roberta}


def _final_norm(model):
    """The norm applied after the last block (None for post-norm models such as BERT)."""
    for name in ("ln_f", "norm"):
        if hasattr(model, name):
            return getattr(model, name)
    return None


@pytest.mark.parametrize("arch", sorted(MAKERS))
def test_resid_equals_hidden_states(arch, tokenizer, sentence_table):
    model = MAKERS[arch]()
    ex = Extractor(model, tokenizer, units="resid,embed", context="sentence", pooling="last")
    ds = extract_dataset(ex, sentence_table)
    n_layers = ex.arch.n_layers
    for i, text in enumerate(sentence_table["text"]):
        enc = tokenizer(text, return_tensors="pt", return_token_type_ids=False)
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        # The last token of the text is the one before [SEP].
        last = int(enc["input_ids"].shape[1]) - 2
        np.testing.assert_allclose(ds["embed"][i], hidden[0][0, last], atol=1e-5)
        for layer in range(n_layers):
            expected = hidden[layer + 1][0, last]
            got = torch.as_tensor(ds["resid"].values[i, layer])
            if layer == n_layers - 1 and _final_norm(model) is not None:
                with torch.no_grad():
                    got = _final_norm(model)(got)
            np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "roberta"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_equals_one_at_a_time(arch, side, minilm_dir, story_table):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_dir, padding_side=side)
    model = MAKERS[arch]()
    units = "resid,attn_out,mlp_out,head_out,mlp_neuron"
    kwargs = dict(units=units, context="words:3:2", pooling="mean")
    batched = extract_dataset(Extractor(model, tok, batch_size=8, **kwargs), story_table)
    single = extract_dataset(Extractor(model, tok, batch_size=1, **kwargs), story_table)
    for name in units.split(","):
        np.testing.assert_allclose(batched[name], single[name], atol=1e-5, err_msg=name)
        assert np.isfinite(batched[name].values).all()


def test_word_pooling_matches_hand_computed(tokenizer, story_table):
    model = make_bert()
    table = story_table.iloc[:3]  # "the snorkelling cat"
    out = {}
    for pooling in ("mean", "last", "first"):
        ex = Extractor(model, tokenizer, units="resid", context="words:1", pooling=pooling)
        out[pooling] = extract_dataset(ex, table)["resid"].values[:, -1]
    # Item 1 is fed as "the snorkelling": [CLS] the s ##nor ##kell ##ing [SEP]
    enc = tokenizer("the snorkelling", return_tensors="pt", return_token_type_ids=False)
    pieces = [i for i, w in enumerate(enc.word_ids()) if w == 1]
    assert len(pieces) > 1
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[-1][0]
    np.testing.assert_allclose(out["mean"][1], hidden[pieces].mean(0), atol=1e-5)
    np.testing.assert_allclose(out["last"][1], hidden[pieces[-1]], atol=1e-5)
    np.testing.assert_allclose(out["first"][1], hidden[pieces[0]], atol=1e-5)
    ds = extract_dataset(Extractor(model, tokenizer, context="words:1"), table)
    assert ds["n_tokens"].values[1] == len(pieces)


@pytest.mark.parametrize("arch", sorted(MAKERS))
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_head_out_through_projection_gives_attn_out(arch, pooling, tokenizer, story_table):
    model = MAKERS[arch]()
    ex = Extractor(model, tokenizer, units="head_out,attn_out", context="words:4", pooling=pooling)
    ds = extract_dataset(ex, story_table)
    for layer, block in enumerate(ex.arch.blocks):
        proj = model.get_submodule(block.attn_proj)
        heads = torch.as_tensor(ds["head_out"].values[:, layer])
        with torch.no_grad():
            np.testing.assert_allclose(proj(heads), ds["attn_out"].values[:, layer], atol=1e-5)


def test_head_out_with_grouped_query_attention(tokenizer, story_table):
    model = make_llama()
    ex = Extractor(model, tokenizer, units="head_out", context="words:2")
    assert (ex.arch.n_heads, ex.arch.n_kv_heads, ex.arch.head_dim) == (4, 2, 8)
    ds = extract_dataset(ex, story_table)
    assert ds["head_out"].shape == (len(story_table), 3, 32)
    np.testing.assert_array_equal(np.unique(ds["head_out_head"]), np.arange(4))
    # One head's units are its own slice of the o_proj input: zeroing the others changes
    # attn_out by exactly that head's share.
    proj = model.layers[0].self_attn.o_proj
    heads = torch.as_tensor(ds["head_out"].values[:, 0])
    mask = torch.as_tensor(ds["head_out_head"].values == 1, dtype=heads.dtype)
    with torch.no_grad():
        share = heads * mask @ proj.weight.T
        rest = heads * (1 - mask) @ proj.weight.T
        np.testing.assert_allclose(share + rest, proj(heads), atol=1e-5)


def test_attn_pattern_matches_attention_weights(tokenizer, sentence_table):
    model = make_gpt2()
    model.set_attn_implementation("eager")
    ex = Extractor(model, tokenizer, units="attn_pattern", context="sentence", n_lags=4)
    ds = extract_dataset(ex, sentence_table)
    text = sentence_table["text"][0]
    enc = tokenizer(text, return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        weights = model(**enc, output_attentions=True).attentions
    q = enc["input_ids"].shape[1] - 2
    got = ds["attn_pattern"].values[0, 1].reshape(4, 4)  # (head, lag)
    np.testing.assert_allclose(got, weights[1][0, :, q, q - np.arange(4)], atol=1e-6)


def test_attn_pattern_needs_an_implementation_that_returns_weights(tokenizer, sentence_table):
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    # A custom backend (as external kernels register them) returns no weights.
    AttentionInterface.register("test_weightless", sdpa_attention_forward)
    AttentionMaskInterface.register("test_weightless", sdpa_mask)
    model = make_gpt2()
    model.set_attn_implementation("test_weightless")
    ex = Extractor(model, tokenizer, units="attn_pattern", context="sentence")
    with pytest.raises(NeuroalignError, match="eager"):
        extract_dataset(ex, sentence_table)


def test_only_requested_layers(tokenizer, story_table):
    model = make_gpt2()
    full = extract_dataset(Extractor(model, tokenizer, units="resid"), story_table)
    some = extract_dataset(Extractor(model, tokenizer, units="resid", layers="0,-2"), story_table)
    assert list(some["layer"].values) == [0, 1]
    assert list(some["layer_name"].values) == ["h.0", "h.1"]
    np.testing.assert_allclose(some["resid"], full["resid"].sel(layer=[0, 1]), atol=1e-6)


def test_out_of_memory_halves_the_batch(tokenizer, story_table, monkeypatch):
    model = make_gpt2()
    ex = Extractor(model, tokenizer, units="resid", context="words:2", batch_size=8)
    expected = extract_dataset(ex, story_table)["resid"].values
    real = Extractor._forward

    def small_memory(self, replica, inputs, plan):
        if inputs["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, replica, inputs, plan)

    monkeypatch.setattr(Extractor, "_forward", small_memory)
    got = extract_dataset(ex, story_table)["resid"].values
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("maker", [make_gpt2, make_llama], ids=["gpt2", "llama"])
def test_injected_out_of_memory_run_is_identical_to_the_run_at_the_size_that_fits(
    maker, tokenizer, story_table, monkeypatch, caplog
):
    """An allocation failure above 2 inputs halves a batch of 8 down to 2: the store is
    identical (bit for bit, coordinates too) to a run asked for batches of 2 from the start,
    and equal to the unconstrained batches of 8 up to float32 rounding of other batch shapes."""
    model = maker()
    kwargs = {"units": "resid,attn_out", "context": "words:2"}
    unconstrained = extract_dataset(
        Extractor(model, tokenizer, batch_size=8, **kwargs), story_table
    )
    fits = extract_dataset(Extractor(model, tokenizer, batch_size=2, **kwargs), story_table)
    real = Extractor._forward
    tried = []

    def small_memory(self, replica, inputs, plan):
        tried.append(int(inputs["input_ids"].shape[0]))
        if tried[-1] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, replica, inputs, plan)

    monkeypatch.setattr(Extractor, "_forward", small_memory)
    with caplog.at_level("WARNING", logger="neuroalign.models.batches"):
        got = extract_dataset(Extractor(model, tokenizer, batch_size=8, **kwargs), story_table)
    assert max(tried) > 2 and "batch size now 2" in caplog.text
    assert got.identical(fits)
    for name in ("resid", "attn_out"):
        np.testing.assert_allclose(got[name], unconstrained[name], rtol=0, atol=1e-6)


def test_sharding_over_devices_gives_the_same_arrays(tokenizer, story_table):
    model = make_llama()
    one = extract_dataset(Extractor(model, tokenizer, context="words:2", batch_size=2), story_table)
    ex = Extractor(model, tokenizer, context="words:2", batch_size=2, devices=["cpu", "cpu"])
    two = extract_dataset(ex, story_table)
    np.testing.assert_allclose(one["resid"], two["resid"], atol=1e-6)


def test_chunks_run_as_one_stream(tokenizer, story_table, monkeypatch):
    """A chunk comes out once the next chunk's first batch is launched, and small chunks give
    the same arrays as one chunk."""
    model = make_gpt2()
    kwargs = {"context": "words:2", "batch_size": 4}
    whole = extract_dataset(Extractor(model, tokenizer, **kwargs), story_table)
    one_item = Extractor(model, tokenizer, **kwargs).item_bytes()
    ex = Extractor(model, tokenizer, chunk_bytes=6 * one_item, **kwargs)
    launched = []
    real = Extractor._forward

    def counting(self, replica, inputs, plan):
        launched.append(plan)
        return real(self, replica, inputs, plan)

    monkeypatch.setattr(Extractor, "_forward", counting)
    seen = [len(launched) for _ in ex.iter_chunks(story_table)]
    # 6 inputs per chunk in batches of 4 and 2: two launches per chunk, plus the next one.
    n_chunks = -(-len(story_table) // 6)
    assert seen == [2 * k + 3 for k in range(n_chunks - 1)] + [len(launched)]
    chunked = extract_dataset(ex, story_table)
    np.testing.assert_allclose(chunked["resid"], whole["resid"], atol=1e-5)
    np.testing.assert_array_equal(chunked["n_tokens"], whole["n_tokens"])


def test_context_stays_in_its_story(tokenizer, story_table):
    model = make_gpt2()
    ex = Extractor(model, tokenizer, context="words:50")
    ds = extract_dataset(ex, story_table)
    # The first word of story b sees no context: it equals the word fed alone.
    first_b = int(np.flatnonzero(story_table["story"] == "b")[0])
    alone = extract_dataset(Extractor(model, tokenizer), story_table.iloc[[first_b]])
    np.testing.assert_allclose(ds["resid"][first_b], alone["resid"][0], atol=1e-6)


def test_word_that_gives_no_token_is_an_error(tokenizer, story_table):
    table = story_table.copy()
    table.loc[3, "text"] = "\u200b"
    ex = Extractor(make_bert(), tokenizer, context="words:2")
    with pytest.raises(NeuroalignError, match=r"stimulus item 3 .*no token"):
        extract_dataset(ex, table)


def test_word_spanning_tokens_is_an_error(tokenizer, story_table):
    """A table word that is only part of a token: the tokenizer and the table disagree."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "new york": 2, "the": 3, "new": 4, "york": 5}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Split("new york", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]")
    table = story_table.iloc[:3].copy()
    table["text"] = ["the", "new", "york"]
    ex = Extractor(make_gpt2(vocab_size=8), tok, context="words:2")
    with pytest.raises(NeuroalignError, match="spans word"):
        extract_dataset(ex, table)


def test_clip_vision_tower_cls_and_mean(tokenizer):
    import pandas as pd
    from transformers import CLIPImageProcessor

    model = make_clip()
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    table = pd.DataFrame({"item": range(3), "text": ["a", "b", "c"]})
    got = {}
    for pooling in ("first", "mean"):
        ex = Extractor(model, processor, tower="vision", pooling=pooling, batch_size=2)
        assert ex.arch.stack == "vision_model.encoder.layers"
        got[pooling] = extract_dataset(ex, table, images=images)["resid"].values
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        hidden = model.vision_model(pixel_values=pixels, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(got["first"][:, 0], hidden[1][:, 0], atol=1e-5)
    np.testing.assert_allclose(got["mean"][:, 0], hidden[1][:, 1:].mean(1), atol=1e-5)


def test_clip_text_tower(tokenizer, sentence_table):
    model = make_clip()
    ex = Extractor(model, tokenizer, context="sentence", pooling="mean")
    assert ex.arch.stack == "text_model.encoder.layers"
    ds = extract_dataset(ex, sentence_table)
    enc = tokenizer(sentence_table["text"][1], return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        hidden = model.text_model(**enc, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(ds["resid"][1, 0], hidden[1][0, 1:-1].mean(0), atol=1e-5)


def test_packaged_minilm_sentences(minilm_dir, tokenizer, sentence_table):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(minilm_dir).eval()
    ex = Extractor(model, tokenizer, context="sentence", pooling="mean", batch_size=3)
    ds = extract_dataset(ex, sentence_table)
    assert ds.sizes["layer"] == 6 and ds.sizes["resid_unit"] == 384
    enc = tokenizer(sentence_table["text"][2], return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(ds["resid"][2, 5], hidden[6][0, 1:-1].mean(0), atol=1e-4)


@pytest.mark.parametrize("job_rows", [2, 128])
def test_chunk_scatter_puts_each_batch_row_in_place(job_rows, monkeypatch):
    monkeypatch.setattr(extract, "_SCATTER_ROWS", job_rows)  # 2: batches split over threads
    rng = np.random.default_rng(0)
    rows = np.array([2, 5, 7, 8, 9])
    values = rng.normal(size=(5, 2, 3)).astype(np.float32)
    # Two batches, each holding chunk items in length order (not row order).
    parts = [(np.array([3, 0]), None), (np.array([4, 1, 2]), None)]
    parts = [(at, {"resid": torch.from_numpy(values[at])}) for at, _ in parts]
    chunk = Chunk(0, 5, rows, np.ones(5, np.int32), parts, {"resid": (5, 2, 3)})
    target = np.full((10, 2, 3), np.nan, dtype=np.float32)
    chunk.scatter({"resid": target})
    np.testing.assert_array_equal(target[rows], values)
    assert np.isnan(np.delete(target, rows, axis=0)).all()
    assert chunk.parts == []
