"""One tokenization per story gives the same windows as tokenizing each window on its own."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models import text as text_module
from neuroalign.models.text import (
    TextStream,
    TextWork,
    build_windows,
    collate_text,
    parse_context,
    tokenize_sentences,
    tokenize_stories,
    tokenize_windows,
)

STORY = (
    "Once upon a time, the snorkelling cat's friend-of-a-friend sat on 3.5 mats; "
    "then it slept. Unbelievably, nobody noticed the cat at all."
)


def _table(n_stories=2):
    words = STORY.split()
    return pd.DataFrame(
        {
            "item": np.arange(n_stories * len(words)),
            "text": words * n_stories,
            "run": "1",
            "story": np.repeat([f"s{i}" for i in range(n_stories)], len(words)),
        }
    )


def _byte_level_bpe():
    """A GPT-2-style tokenizer (byte-level BPE, leading-space tokens) trained on the story."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator([STORY] * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


def _prefix_sensitive():
    """A SentencePiece-like tokenizer that marks the text start: a leading space becomes a
    token of its own, so windows tokenized alone differ from the story's tokens."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(STORY.split()))
    vocab = {"<unk>": 0, "<pad>": 1, "\u2581": 2}
    vocab.update({"\u2581" + w: i + 3 for i, w in enumerate(words)})
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.normalizer = normalizers.Sequence(
        [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]
    )
    raw.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", unk_token="<unk>")


def _assert_same_work(a: TextWork, b: TextWork):
    assert len(a) == len(b)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.input_ids(i), b.input_ids(i))
    for name in ("ptr", "rows", "lo", "hi"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("context", ["words:0", "words:3", "words:5:2", "words:40:3"])
@pytest.mark.parametrize("kind", ["wordpiece", "byte_level"])
def test_story_tokenization_equals_window_tokenization(kind, context, tokenizer, monkeypatch):
    tok = tokenizer if kind == "wordpiece" else _byte_level_bpe()
    table = _table()
    policy = parse_context(context)
    texts, items = table["text"].to_numpy(), table["item"].to_numpy()
    per_window = tokenize_windows(tok, build_windows(table, policy), texts, items, 512)

    def no_fallback(*args, **kwargs):
        raise AssertionError("fell back to one tokenization per window")

    monkeypatch.setattr(text_module, "tokenize_windows", no_fallback)
    story = tokenize_stories(tok, table, policy, 512, n_checked=4)
    _assert_same_work(story, per_window)
    assert np.array_equal(np.sort(story.rows), np.arange(len(table)))


def _sentences():
    parts = STORY.split(". ")
    texts = [*parts, " ".join(parts), "cat", "Unbelievably,  nobody noticed"]
    return pd.DataFrame({"item": np.arange(100, 100 + len(texts)), "text": texts})


@pytest.mark.parametrize("kind", ["wordpiece", "byte_level", "prefix_sensitive"])
def test_sentence_tokenization_equals_window_tokenization(kind, tokenizer):
    tok = {"wordpiece": tokenizer, "byte_level": _byte_level_bpe(), "prefix_sensitive": None}[
        kind
    ] or _prefix_sensitive()
    table = _sentences()
    policy = parse_context("sentence")
    texts, items = table["text"].to_numpy(), table["item"].to_numpy()
    per_window = tokenize_windows(tok, build_windows(table, policy), texts, items, 512)
    fast = tokenize_stories(tok, table, policy, 512)
    _assert_same_work(fast, per_window)
    np.testing.assert_array_equal(fast.length, per_window.length)
    assert (fast.hi - fast.lo == fast.length).all() or kind == "prefix_sensitive"


def test_sentences_ignore_truncation_set_on_the_rust_tokenizer(tokenizer):
    table = _sentences()
    texts, items = table["text"].to_numpy(), table["item"].to_numpy()
    want = tokenize_sentences(tokenizer, texts, items, 512)
    tokenizer.backend_tokenizer.enable_truncation(4)
    try:
        _assert_same_work(tokenize_sentences(tokenizer, texts, items, 512), want)
    finally:
        tokenizer.backend_tokenizer.no_truncation()
    assert want.n_tokens.max() > 4


def test_sentences_fall_back_to_the_tokenizer_call_where_the_rust_one_differs(
    tokenizer, monkeypatch
):
    table = _sentences()
    texts, items = table["text"].to_numpy(), table["item"].to_numpy()
    want = tokenize_sentences(tokenizer, texts, items, 512)
    rust = text_module._rust_encode

    def dropped_last(backend, batch):
        ids, offsets = rust(backend, batch)
        return [x[:-1] for x in ids], [x[:-1] for x in offsets]

    monkeypatch.setattr(text_module, "_rust_encode", dropped_last)
    _assert_same_work(tokenize_sentences(tokenizer, texts, items, 512), want)


def test_sentence_errors_name_the_item(tokenizer):
    table = _sentences()
    texts, items = table["text"].to_numpy(copy=True), table["item"].to_numpy()
    texts[3] = "\u200b"
    with pytest.raises(NeuroalignError, match=r"item 103 .*no token"):
        tokenize_sentences(tokenizer, texts, items, 512)
    n_tokens = tokenize_sentences(tokenizer, table["text"].to_numpy(), items, 512).n_tokens
    limit = int(np.sort(n_tokens)[-2])  # only the passage (item 102) is longer
    with pytest.raises(NeuroalignError, match=f"items 102-102 need .* than the model's {limit};"):
        tokenize_sentences(tokenizer, table["text"].to_numpy(), items, limit)
    empty = tokenize_sentences(tokenizer, texts[:0], items[:0], 512)
    assert len(empty) == 0


def test_byte_level_windows_start_with_the_story_space():
    """A mid-story window's first word keeps its leading-space token, as in the story."""
    tok = _byte_level_bpe()
    table = _table(1)
    work = tokenize_stories(tok, table, parse_context("words:2"), 512)
    window = tok.convert_ids_to_tokens(work.input_ids(5).tolist())
    assert window[0].startswith("\u0120")  # GPT-2's marker of a leading space
    first = tok.convert_ids_to_tokens(work.input_ids(0).tolist())
    assert not first[0].startswith("\u0120")


def test_context_sensitive_tokenizer_falls_back_to_windows(caplog):
    tok = _prefix_sensitive()
    table = _table()
    policy = parse_context("words:3")
    texts, items = table["text"].to_numpy(), table["item"].to_numpy()
    with caplog.at_level(logging.INFO, logger=text_module.__name__):
        work = tokenize_stories(tok, table, policy, 512)
    assert "tokenizing each window" in caplog.text
    expected = tokenize_windows(tok, build_windows(table, policy), texts, items, 512)
    _assert_same_work(work, expected)


def test_long_windows_drop_context_words_to_fit(tokenizer):
    table = _table(1)
    policy = parse_context("words:30")
    full = tokenize_stories(tokenizer, table, policy, 512)
    short = tokenize_stories(tokenizer, table, policy, 16)
    assert full.n_tokens.max() > 16 >= short.n_tokens.max()
    np.testing.assert_array_equal(short.rows, full.rows)
    # The fitted window is the tail of the full one: same target tokens at the end.
    i = len(full) - 1
    np.testing.assert_array_equal(short.input_ids(i)[-8:], full.input_ids(i)[-8:])
    assert short.hi[i] - short.lo[i] == full.hi[i] - full.lo[i]


@pytest.mark.parametrize("side", ["left", "right"])
def test_collate_pads_and_plans_targets(side, tokenizer):
    table = _table(1)
    work = tokenize_stories(tokenizer, table, parse_context("words:2:2"), 512)
    batch = work.take(np.array([3, 0, 7]))
    inputs, plan = collate_text(batch, 0, side)
    ids, mask = inputs["input_ids"].numpy(), inputs["attention_mask"].numpy()
    for b in range(3):
        np.testing.assert_array_equal(ids[b][mask[b] == 1], batch.input_ids(b))
        assert ids[b][mask[b] == 0].tolist() == [0] * int((mask[b] == 0).sum())
    np.testing.assert_array_equal(plan.rows, batch.rows)
    flat = ids.reshape(-1)
    for j in range(len(batch.rows)):
        b = np.searchsorted(batch.ptr, j, side="right") - 1
        start = (ids.shape[1] - batch.n_tokens[b] if side == "left" else 0) + 1  # after [CLS]
        expected = batch.input_ids(b)[1 + batch.lo[j] : 1 + batch.hi[j]]
        np.testing.assert_array_equal(flat[plan.tokens[plan.owner == j]], expected)
        assert plan.first[j] == b * ids.shape[1] + start + batch.lo[j]
    positions = inputs["position_ids"].numpy()
    np.testing.assert_array_equal(
        positions[mask == 1], np.concatenate([np.arange(n) for n in batch.n_tokens])
    )
    assert torch.is_tensor(inputs["input_ids"])


@pytest.mark.parametrize("context", ["words:3", "words:5:2", "sentence"])
@pytest.mark.parametrize("part_inputs", [1, 7, 1000])
def test_stream_gives_the_windows_of_one_tokenization(context, part_inputs, tokenizer):
    table = _table(3).drop(columns="item")
    policy = parse_context(context)
    whole = tokenize_stories(tokenizer, table, policy, 512)
    bounds = [b for b in (0, 1, 5, 6, 19, 20, 40) if b < len(whole)] + [len(whole)]
    with TextStream(tokenizer, table, policy, 512, part_inputs=part_inputs) as stream:
        assert len(stream) == len(whole)
        for first, stop in itertools.pairwise(bounds):
            _assert_same_work(stream.take(first, stop), whole.take(np.arange(first, stop)))


def test_stream_starts_at_an_input_and_refuses_earlier_ones(tokenizer):
    table = _table(3)
    policy = parse_context("words:2")
    whole = tokenize_stories(tokenizer, table, policy, 512)
    with TextStream(tokenizer, table, policy, 512, part_inputs=4, start=30) as stream:
        _assert_same_work(stream.take(30, 45), whole.take(np.arange(30, 45)))
        with pytest.raises(ValueError, match="before the stream's start or already taken"):
            stream.take(2, 5)


def test_stream_raises_a_later_part_error_early(tokenizer):
    table = _table(3)
    table.loc[len(table) - 2, "text"] = "\u200b"  # no token
    with TextStream(tokenizer, table, parse_context("words:2"), 512, part_inputs=4) as stream:
        stream._thread.join()  # the last part has been tokenized (and failed)
        # The first inputs are fine, but the run stops now rather than at the last story.
        with pytest.raises(NeuroalignError, match=f"item {len(table) - 2} .*no token"):
            stream.take(0, 1)


def test_a_closed_stream_refuses_inputs_it_has_not_tokenized(tokenizer, monkeypatch):
    import threading
    import time

    real = TextStream._part

    def slow(self, p):
        time.sleep(0.2)
        return real(self, p)

    monkeypatch.setattr(TextStream, "_part", slow)
    stream = TextStream(tokenizer, _table(3), parse_context("words:2"), 512, part_inputs=4)
    stream.close()  # during the first part, which is then dropped
    errors = []

    def take():
        try:
            stream.take(0, 1)
        except RuntimeError as err:
            errors.append(err)

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "take() waited for a part of a closed stream"
    assert errors and "closed" in str(errors[0])
