"""Log word frequency from an offline source: the word lists of the ``wordfreq`` package.

Frequencies are on the Zipf scale (log10 of occurrences per billion words, plus 9: 7 for
"the", about 3 for a word met once per million; 0 for a word the lists lack). The lists ship
inside the ``wordfreq`` wheel, so no lookup reaches the network. A text's frequency is the mean
Zipf frequency of its words (whitespace-separated pieces with a letter or digit), the sentence-
level frequency predictor of sentence studies; a text with no word gets NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

__all__ = ["SOURCE", "mean_log_frequency", "word_log_frequency"]

#: How the frequency is computed, recorded in results that use it.
SOURCE = "wordfreq {version} Zipf frequency (log10 per billion words + 9), language {lang!r}"


@lru_cache(maxsize=65536)
def _zipf(word: str, lang: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, lang))


def word_log_frequency(words: Iterable[str], *, lang: str = "en") -> np.ndarray:
    """Zipf frequency of each word (0 for words not in the lists).

    Examples
    --------
    >>> f = word_log_frequency(["the", "dog", "zzxqv"])
    >>> bool(f[0] > f[1] > f[2] == 0)
    True
    """
    return np.array([_zipf(str(w), lang) for w in words], dtype=float)


def mean_log_frequency(texts: Iterable[str], *, lang: str = "en") -> np.ndarray:
    """Mean Zipf frequency of the words of each text (NaN for a text without a word)."""
    out = []
    for text in texts:
        words = [w for w in str(text).split() if any(c.isalnum() for c in w)]
        out.append(float(np.mean(word_log_frequency(words, lang=lang))) if words else np.nan)
    return np.asarray(out, dtype=float)


def source(lang: str = "en") -> str:
    """The :data:`SOURCE` line with the installed version."""
    from importlib.metadata import version

    return SOURCE.format(version=version("wordfreq"), lang=lang)
