"""Causal models run right-padded and unpadded batches without building an attention mask."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from tiny_models import make_bert, make_gpt2, make_llama, make_mistral
from transformers.masking_utils import AttentionMaskInterface

from neuroalign.models.discover import discover
from neuroalign.models.extract import Extractor
from neuroalign.models.maskless import longest_maskless
from neuroalign.models.store import extract_dataset


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (make_gpt2, sys.maxsize),
        (make_llama, sys.maxsize),
        (lambda: make_mistral(6), 6),
        (make_bert, None),  # bidirectional: padding must be masked
        (lambda: make_gpt2(attn_implementation="eager"), None),
    ],
)
def test_which_models_run_without_a_mask(make, expected):
    model = make()
    assert longest_maskless(model, discover(model)) == expected


def _count_masks(monkeypatch):
    """Count calls of transformers' SDPA mask function."""
    calls = []
    real = AttentionMaskInterface._global_mapping["sdpa"]

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(AttentionMaskInterface._global_mapping, "sdpa", counting)
    return calls


@pytest.mark.parametrize("side", ["right", "left"])
def test_only_left_padding_builds_a_mask(
    side, tokenizer, left_tokenizer, sentence_table, monkeypatch
):
    tok = tokenizer if side == "right" else left_tokenizer
    model = make_llama()
    kwargs = dict(units="resid", context="sentence")
    single = extract_dataset(Extractor(model, tok, batch_size=1, **kwargs), sentence_table)
    calls = _count_masks(monkeypatch)
    ds = extract_dataset(Extractor(model, tok, batch_size=4, **kwargs), sentence_table)
    assert (len(calls) == 0) == (side == "right")
    assert model.config._attn_implementation == "sdpa"  # restored after each batch
    np.testing.assert_allclose(ds["resid"], single["resid"], atol=1e-5)


def test_sliding_window_keeps_the_mask(tokenizer, sentence_table, monkeypatch):
    """Inputs longer than the window run with the model's sliding-window mask."""
    model = make_mistral(3)
    ex = Extractor(model, tokenizer, units="resid", context="sentence", batch_size=4)
    calls = _count_masks(monkeypatch)
    ds = extract_dataset(ex, sentence_table)
    assert calls
    text = sentence_table["text"][2]
    enc = tokenizer(text, return_tensors="pt", return_token_type_ids=False)
    assert enc["input_ids"].shape[1] > 3
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    last = int(enc["input_ids"].shape[1]) - 2  # the token before [SEP]
    np.testing.assert_allclose(ds["resid"].values[2, 0], hidden[1][0, last], atol=1e-5)
