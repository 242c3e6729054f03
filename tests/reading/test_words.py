"""Word surprisal and entropy from a causal LM against a direct computation, and the predictors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _reading_lm import TEXT, byte_level_tokenizer, tiny_gpt2

from neuroalign._check import NeuroalignError
from neuroalign.reading.words import lm_word_surprisal, spillover, word_predictors


@pytest.fixture(scope="module")
def lm():
    tok = byte_level_tokenizer()
    return tiny_gpt2(len(tok)), tok


def _direct(model, tok, words, j, context=None):
    """-log2 P(word j | words before it) and the entropy before it, by the chain rule."""
    prefix = tok(" ".join(words[:j]), add_special_tokens=False)["input_ids"] if j else []
    word = tok((" " if j else "") + words[j], add_special_tokens=False)["input_ids"]
    seq = [tok.bos_token_id, *prefix, *word]
    if context is not None:
        seq = seq[-(len(word) + context) :]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([seq])).logits[0].double(), -1)
    first = len(seq) - len(word)
    s = -sum(float(logp[first - 1 + k, t]) for k, t in enumerate(word)) / np.log(2)
    p = logp[first - 1]
    return s, float(-(p.exp() * p).sum() / np.log(2)), len(word)


def test_surprisal_equals_the_chain_rule_over_the_text_before_the_word(lm):
    model, tok = lm
    words = TEXT.split()[:30]
    got = lm_word_surprisal(model, tok, [words, words[:5]])
    assert len(got) == 2 and len(got[1].surprisal) == 5
    for j in range(len(words)):
        s, h, n = _direct(model, tok, words, j)
        assert got[0].surprisal[j] == pytest.approx(s, abs=1e-3)
        assert got[0].entropy[j] == pytest.approx(h, abs=1e-3)
        assert got[0].n_tokens[j] == n
    assert (got[0].n_tokens > 1).any(), "the test needs words of several tokens"
    np.testing.assert_allclose(got[1].surprisal, got[0].surprisal[:5], atol=1e-4)


def test_long_text_sliding_window_context_is_cut_at_the_window(lm):
    """Each token is scored from the tokens back to its window's start (at least window // 2)."""
    from neuroalign.reading.words import _windows

    model, tok = lm
    words = TEXT.split()
    full = lm_word_surprisal(model, tok, [words])[0]
    window = 16
    cut = lm_word_surprisal(model, tok, [words], window=window)[0]
    seq = [tok.bos_token_id, *tok(" ".join(words), add_special_tokens=False)["input_ids"]]
    assert len(seq) > 3 * window
    spans = _windows(len(seq), window)
    expected = np.zeros(len(seq))
    for p in range(1, len(seq)):
        a = next(a for a, b, s in spans if s <= p < b)
        assert p - a >= window // 2 or a == 0
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([seq[a:p]])).logits[0, -1].double(), -1)
        expected[p] = -float(logp[seq[p]]) / np.log(2)
    bounds = np.r_[0, np.cumsum(cut.n_tokens)] + 1
    want = [expected[bounds[j] : bounds[j + 1]].sum() for j in range(len(words))]
    np.testing.assert_allclose(cut.surprisal, want, atol=1e-3)
    inside = bounds[1:] <= window
    np.testing.assert_allclose(cut.surprisal[inside], full.surprisal[inside], atol=1e-4)
    assert not np.allclose(cut.surprisal[~inside], full.surprisal[~inside])


def test_a_tokenizer_that_drops_characters_is_a_one_line_error_naming_the_word():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[BOS]": 1, "the": 2, "cafe": 3, "opened": 4}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()])
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", bos_token="[BOS]")
    model = tiny_gpt2(len(vocab))
    assert lm_word_surprisal(model, tok, [["the", "cafe"]])[0].surprisal.shape == (2,)
    with pytest.raises(NeuroalignError, match=r"word 'café' \(p1, word 1\)") as err:
        lm_word_surprisal(model, tok, [["the", "café", "opened"]], names=["p1"])
    assert "\n" not in str(err.value)
    with pytest.raises(NeuroalignError, match="word 'opened!'"):
        lm_word_surprisal(model, tok, [["the", "opened!"]])


def test_without_bos_the_first_word_has_no_surprisal(lm):
    _model, tok = lm
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=len(tok), n_positions=64)
    cfg.bos_token_id = cfg.eos_token_id = None
    bare = GPT2LMHeadModel(cfg).eval()
    tok2 = byte_level_tokenizer()
    tok2.bos_token = None
    got = lm_word_surprisal(bare, tok2, [TEXT.split()[:6]])[0]
    assert got.bos is None
    assert np.isnan(got.surprisal[0]) and np.isfinite(got.surprisal[1:]).all()


def test_predictors_length_frequency_position_spillover():
    words = ["The", "cat,", "sat.", "A", "dog"]
    groups = np.array(["a", "a", "a", "b", "b"])
    df = word_predictors(
        words,
        groups,
        sentences=np.array([0, 0, 0, 0, 0]),
        surprisal={"s": np.arange(5.0)},
        n_spill=2,
        spill_terms=("length", "s"),
    )
    assert df["length"].tolist() == [3, 3, 3, 1, 3]
    assert df["position"].tolist() == [0, 1, 2, 0, 1]
    assert df["frequency"].iloc[0] > df["frequency"].iloc[1] > 0
    np.testing.assert_array_equal(df["s_prev1"], [np.nan, 0, 1, np.nan, 3])
    np.testing.assert_array_equal(df["length_prev2"], [np.nan, np.nan, 3, np.nan, np.nan])
    np.testing.assert_array_equal(spillover(np.arange(3.0), np.zeros(3), 1), [np.nan, 0, 1])
    with pytest.raises(NeuroalignError, match="spillover term 'x'"):
        word_predictors(words, groups, spill_terms=("x",))
