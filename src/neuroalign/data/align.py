"""Align timed word events to the text they come from, allowing gaps on both sides.

Forced aligners skip words (rare names, clitics) and texts carry punctuation that has no
onset, so the events are an ordered *subsequence* of the text tokens, up to gaps. Matching
uses :class:`difflib.SequenceMatcher` on normalized tokens and keeps only exact matching
blocks, so a word is never paired with a different word.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_NON_WORD = re.compile(r"[^\w]+", flags=re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*$")


def normalize_token(token: str) -> str:
    """Return ``token`` lower-cased, accents removed and without punctuation.

    Examples
    --------
    >>> normalize_token("Harmon's")
    'harmons'
    >>> normalize_token(",")
    ''
    """
    text = unicodedata.normalize("NFKD", str(token))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub("", text.lower()).replace("_", "")


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align_words`.

    Attributes
    ----------
    word_to_token : ndarray of int, shape (n_words,)
        Index of the text token each word matched, -1 where it matched none.
    token_to_word : ndarray of int, shape (n_tokens,)
        Index of the word each text token matched, -1 where none.
    is_word_token : ndarray of bool, shape (n_tokens,)
        True for tokens that are words (not bare punctuation) after normalization.
    """

    word_to_token: np.ndarray
    token_to_word: np.ndarray
    is_word_token: np.ndarray

    @property
    def n_matched(self) -> int:
        """Number of words that matched a text token."""
        return int((self.word_to_token >= 0).sum())

    @property
    def unmatched_tokens(self) -> np.ndarray:
        """Indices of word tokens of the text that no event matched (punctuation excluded)."""
        return np.flatnonzero(self.is_word_token & (self.token_to_word < 0))

    @property
    def unmatched_words(self) -> np.ndarray:
        """Indices of words that matched no text token."""
        return np.flatnonzero(self.word_to_token < 0)


def align_words(
    words: Sequence[str],
    tokens: Sequence[str],
    normalize: Callable[[str], str] = normalize_token,
) -> Alignment:
    """Align ``words`` (timed events) to ``tokens`` (the text) as ordered subsequences.

    Parameters
    ----------
    words : sequence of str
        Words in presentation order.
    tokens : sequence of str
        The text's tokens in order (punctuation tokens allowed; they never match).
    normalize : callable
        Maps a token to its comparison form; an empty result marks punctuation.

    Returns
    -------
    alignment : Alignment
        The index maps both ways.

    Examples
    --------
    >>> a = align_words(["the", "dog", "barked"], ["The", "big", "dog", "barked", "."])
    >>> a.word_to_token.tolist(), a.unmatched_tokens.tolist()
    ([0, 2, 3], [1])
    """
    word_keys = [normalize(w) for w in words]
    token_keys = [normalize(t) for t in tokens]
    is_word = np.array([bool(k) for k in token_keys], dtype=bool)
    kept = np.flatnonzero(is_word)
    matcher = difflib.SequenceMatcher(
        None, word_keys, [token_keys[i] for i in kept], autojunk=False
    )
    word_to_token = np.full(len(word_keys), -1, dtype=np.int64)
    token_to_word = np.full(len(token_keys), -1, dtype=np.int64)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            w, t = block.a + k, int(kept[block.b + k])
            if word_keys[w]:
                word_to_token[w] = t
                token_to_word[t] = w
    return Alignment(word_to_token, token_to_word, is_word)


def sentence_index(tokens: Sequence[str]) -> np.ndarray:
    """Return the 0-based sentence index of each token, splitting after . ! or ?.

    Punctuation after the end mark (a closing quote) stays with the sentence it follows; the
    next word token starts a new sentence.

    Examples
    --------
    >>> sentence_index(["Hi", ".", "Yes", "?", '"', "Go", "!"]).tolist()
    [0, 0, 1, 1, 1, 2, 2]
    """
    out = np.zeros(len(tokens), dtype=np.int64)
    current = 0
    ended = False
    for i, token in enumerate(tokens):
        if ended and normalize_token(token):
            current += 1
            ended = False
        out[i] = current
        if _SENTENCE_END.search(token):
            ended = True
    return out
