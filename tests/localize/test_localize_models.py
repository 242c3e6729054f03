"""Tiny random models: a planted word-responsive unit, ablation hooks, task scorers."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_localize import make_gpt2

from neuroalign._check import NeuroalignError
from neuroalign.localize.ablate import ablated
from neuroalign.localize.contrasts import Contrast, truncate_texts
from neuroalign.localize.evaluate import (
    causal_token_ids,
    model_kind,
    next_word_loss,
    pseudo_loglikelihoods,
    sentence_logprobs,
)
from neuroalign.localize.pipeline import extract_texts, localize
from neuroalign.localize.settings import LocalizeSettings

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "she read a good book today",
    "we went to the old house",
    "he saw the big red car",
    "they ate bread and cheese",
    "the sun was warm and bright",
    "my friend likes green tea",
]
NONWORDS = [
    "zorp flibe quant mesk",
    "grell vomp trask ebb",
    "plim zaft drelk oonu",
    "vesk prall muzz krib",
    "quelt dovv siph zarn",
    "brev nuxt ploff gith",
    "yemp starv koob fleen",
    "drub wixe glom tesp",
]


def word_ids(tokenizer):
    """Token ids of the sentences that never occur in the non-word lists."""

    def ids(texts):
        return {i for t in texts for i in tokenizer(t, add_special_tokens=False)["input_ids"]}

    return sorted(ids(SENTENCES) - ids(NONWORDS))


@pytest.fixture
def items():
    table = pd.DataFrame(
        {
            "text": SENTENCES + NONWORDS,
            "condition": ["sentence"] * 8 + ["nonword"] * 8,
            "split": [1, 2] * 8,
        }
    )
    table["positive"] = table["condition"] == "sentence"
    table["item"] = np.arange(16)
    return Contrast("language", table, "sentence", "nonword")


def plant_word_unit(model, tokenizer, unit=5, gain=3.0):
    """Make residual unit ``unit`` of block 0 add ``gain`` at every word token; return handles."""
    vocab = torch.zeros(model.config.vocab_size)
    vocab[word_ids(tokenizer)] = 1.0
    seen = {}

    def grab(module, args, kwargs):
        seen["ids"] = kwargs.get("input_ids", args[0] if args else None)

    def add(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        hidden[..., unit] += gain * vocab[seen["ids"]]

    return [
        model.transformer.register_forward_pre_hook(grab, with_kwargs=True),
        model.transformer.h[0].register_forward_hook(add),
    ]


def test_localizer_finds_planted_unit_in_its_layer_and_downstream(items, tokenizer):
    model = make_gpt2()
    handles = plant_word_unit(model, tokenizer)
    try:
        acts, layers, _ = extract_texts(
            model, tokenizer, items.table["text"], pooling="mean", truncate=None
        )
    finally:
        for h in handles:
            h.remove()
    assert acts.shape == (16, 2, 16) and layers == [0, 1]
    settings = LocalizeSettings(
        localizer="language", absolute=False, fraction=2 / 32, n_seeds=10, n_boot=5
    )
    ds = localize(acts, items, settings)
    mask = ds["mask"].sel(network="language").to_numpy().astype(bool)
    assert mask[0, 5] and mask[1, 5] and mask.sum() == 2
    assert ds["rank"].sel(layer=0, unit=5) in (1, 2)
    assert float(ds["reliability_dice"]) == 1.0
    rand = ds["random_mask"].to_numpy().astype(bool)
    assert rand.shape == (2, 10, 2, 16) and not (rand & mask).any()


def test_truncation_keeps_first_tokens(tokenizer):
    texts = ["the cat sat on the mat and then it slept quietly all day long"]
    cut = truncate_texts(tokenizer, texts, 6)  # [CLS] + 4 tokens + [SEP]
    assert cut == ["the cat sat on"]
    assert truncate_texts(tokenizer, ["short"], 12) == ["short"]


def test_empty_mask_is_bit_identical_and_lesions_change_logits():
    model = make_gpt2()
    ids = torch.randint(0, 1000, (2, 7))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        with ablated(model, np.zeros((2, 16), bool)):
            same = model(input_ids=ids).logits
        mask = np.zeros((2, 16), bool)
        mask[0, 5] = True
        seen = {}
        hook = model.transformer.h[1].register_forward_pre_hook(
            lambda m, a: seen.setdefault("x", a[0].clone())
        )
        with ablated(model, mask):
            lesioned = model(input_ids=ids).logits
        hook.remove()
        after = model(input_ids=ids).logits
    assert torch.equal(ref, same)
    assert not torch.equal(ref, lesioned)
    assert torch.equal(ref, after)  # hooks removed on exit
    assert (seen["x"][..., 5] == 0).all()  # zeroed at every position, seen downstream


def test_mean_ablation_and_other_spaces():
    model = make_gpt2()
    ids = torch.randint(0, 1000, (1, 5))
    mask = np.zeros((2, 16), bool)
    mask[1, [2, 3]] = True
    values = np.full((2, 16), 0.25)
    seen = {}
    hook = model.transformer.ln_f.register_forward_pre_hook(
        lambda m, a: seen.setdefault("x", a[0].clone())
    )
    with torch.no_grad(), ablated(model, mask, mode="mean", values=values):
        model(input_ids=ids)
    hook.remove()
    assert torch.allclose(seen["x"][..., [2, 3]], torch.tensor(0.25))
    neurons = np.zeros((2, 64), bool)
    neurons[0, :10] = True
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        with ablated(model, neurons, unit_space="mlp_neuron"):
            assert not torch.equal(ref, model(input_ids=ids).logits)
    with pytest.raises(NeuroalignError, match="units per layer"):
        with ablated(model, mask, unit_space="mlp_neuron"):
            pass
    with pytest.raises(NeuroalignError, match="values"):
        with ablated(model, mask, mode="mean"):
            pass


def test_causal_logprob_matches_manual(tokenizer):
    model = make_gpt2()
    assert model_kind(model) == "causal"
    texts = ["the cat sat", "a dog ran in the park today"]
    got = sentence_logprobs(model, tokenizer, texts, batch_size=2)
    for text, value in zip(texts, got, strict=True):
        ids = torch.tensor([causal_token_ids(tokenizer, text)])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
        manual = logp.gather(-1, ids[0, 1:, None]).sum()
        assert value == pytest.approx(float(manual), abs=1e-4)
    loss = next_word_loss(model, tokenizer, " ".join(["the cat sat on the mat"] * 40), window=16)
    assert 5 < loss < 15  # a random model is near log(vocab) = 10.3
    with pytest.raises(NeuroalignError, match="window"):
        next_word_loss(model, tokenizer, "too short", window=16)


def test_pseudo_loglikelihood_matches_manual(tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(
        num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=32
    )
    model = BertForMaskedLM(config).eval()
    assert model_kind(model) == "masked"
    text = "the cat sat"
    got = pseudo_loglikelihoods(model, tokenizer, [text, "a dog"], batch_size=3)
    ids = tokenizer(text)["input_ids"]
    manual = 0.0
    for pos in range(1, len(ids) - 1):
        masked = list(ids)
        masked[pos] = tokenizer.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([masked])).logits[0, pos]
        manual += float(torch.log_softmax(logits, -1)[ids[pos]])
    assert got[0] == pytest.approx(manual, abs=1e-4)
