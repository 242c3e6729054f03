"""Aligning timed words to a text with gaps."""

from __future__ import annotations

from neuroalign.data.align import align_words, normalize_token, sentence_index


def test_normalize_token():
    assert normalize_token("Café!") == "cafe"
    assert normalize_token("'s") == "s"
    assert normalize_token("--") == ""


def test_align_allows_gaps_on_both_sides():
    tokens = "Tara stood stock - still , waiting in the wormhole .".split()
    words = ["Tara", "stood", "stock", "still", "waiting", "in", "the", "xyzzy"]
    result = align_words(words, tokens)
    assert result.word_to_token.tolist() == [0, 1, 2, 4, 6, 7, 8, -1]
    assert result.n_matched == 7
    assert result.unmatched_words.tolist() == [7]
    assert [tokens[i] for i in result.unmatched_tokens] == ["wormhole"]
    assert result.token_to_word[4] == 3 and result.token_to_word[3] == -1
    assert int((~result.is_word_token).sum()) == 3


def test_align_never_pairs_different_words():
    result = align_words(["cat", "sat"], ["dog", "sat"])
    assert result.word_to_token.tolist() == [-1, 1]


def test_sentence_index_keeps_closing_quotes():
    tokens = ['"', "Go", "!", '"', "she", "said", ".", "Fine"]
    assert sentence_index(tokens).tolist() == [0, 0, 0, 0, 1, 1, 1, 2]
