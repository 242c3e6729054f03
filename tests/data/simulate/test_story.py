import numpy as np
import pytest

from neuroalign.data.simulate.story import (
    chapter_words,
    load_story,
    parse_story,
    tokenize,
    word_key,
    word_timings,
)


def test_bundled_story_has_chapters_of_plain_prose():
    chapters = load_story()
    assert len(chapters) >= 5
    assert all(name.isalnum() for name in chapters)
    n_words = sum(len(c.text.split()) for c in chapters.values())
    assert 1500 <= n_words <= 2500
    assert not any(ch.isdigit() for c in chapters.values() for ch in c.text)


def test_parse_story_rejects_text_before_first_header_and_duplicates():
    with pytest.raises(ValueError, match="must start"):
        parse_story("no header\n# a: A\ntext")
    with pytest.raises(ValueError, match="twice"):
        parse_story("# a: A\none.\n\n# a: B\ntwo.")


def test_tokenize_counts_sentences_and_paragraphs():
    chapter = parse_story('# t: T\nOne two. "Three four!" she said.\n\nNew paragraph here')["t"]
    words = tokenize(chapter)
    assert words["word"].tolist()[:3] == ["One", "two.", '"Three']
    assert words["text"].tolist()[2] == "three"
    assert words["sentence"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert words["paragraph"].tolist() == [0] * 6 + [1] * 3
    assert words["word_index"].tolist() == list(range(9))


def test_word_key_keeps_inner_apostrophes():
    assert word_key("grandmother's,") == "grandmother's"
    assert word_key('"Wait,') == "wait"


def test_word_timings_follow_speech_rate_and_pause_at_sentence_ends():
    words = chapter_words()["lighthouse"]
    timed = word_timings(words, np.random.default_rng(0), rate=2.5, sentence_pause=0.4, start=5)
    onset = timed["onset"].to_numpy()
    assert onset[0] == 5
    assert np.all(np.diff(onset) > timed["duration"].to_numpy()[:-1])
    gaps = np.diff(onset)
    end = np.diff(words["sentence"].to_numpy()) != 0
    assert gaps[end].mean() > gaps[~end].mean() + 0.3
    assert 2.0 < 1 / gaps[~end].mean() < 3.0
    again = word_timings(words, np.random.default_rng(0), rate=2.5, sentence_pause=0.4, start=5)
    assert np.array_equal(again["onset"], timed["onset"])
