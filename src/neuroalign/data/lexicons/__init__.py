"""Small word lists of four semantic categories, shipped with the package.

The categories are the domains where language models and MEG responses to a story were found
to diverge (Zhou et al.): ``emotion``, ``social``, ``physical`` and ``figurative``. Each list is
a plain text file here (one lower-case word a line, ``#`` comments), written for neuroalign
from general English vocabulary and released with it under the project's licence; they are
coarse annotations for contrasting word sets, not a validated lexicon (swap in a published one,
such as the NRC emotion lexicon under its own terms, with `read_lexicon` on your file).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from neuroalign._check import NeuroalignError, suggest

__all__ = ["CATEGORIES", "category_masks", "lexicon", "normalize_word", "read_lexicon"]

#: The shipped categories, in a fixed order.
CATEGORIES = ("emotion", "social", "physical", "figurative")

_WORD = re.compile(r"[^a-z']+")


def normalize_word(word: str) -> str:
    """Lower-case a word and drop what is not a letter or apostrophe (``"Ada's,"``: ``"ada's"``)."""
    return _WORD.sub("", str(word).lower())


def read_lexicon(path: str | Path) -> frozenset[str]:
    """Read a word list: one word a line, blank lines and ``#`` comments skipped.

    Raises
    ------
    NeuroalignError
        If the file is missing or lists no word.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"lexicon {path} does not exist; give a text file, one word a line.")
    words = {
        normalize_word(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    words.discard("")
    if not words:
        raise NeuroalignError(f"lexicon {path} lists no word.")
    return frozenset(words)


@cache
def lexicon(category: str) -> frozenset[str]:
    """The shipped word list of one of :data:`CATEGORIES`."""
    if category not in CATEGORIES:
        raise NeuroalignError(
            f"unknown lexicon category {category!r}; the shipped ones are "
            f"{', '.join(CATEGORIES)}{suggest(category, CATEGORIES)}"
        )
    with resources.as_file(resources.files(__name__) / f"{category}.txt") as path:
        return read_lexicon(path)


def category_masks(
    words, categories: dict[str, frozenset[str]] | None = None
) -> dict[str, np.ndarray]:
    """Which words belong to each category.

    Parameters
    ----------
    words : sequence of str
        The words (any case and punctuation; `normalize_word` is applied).
    categories : dict of str to set of str, optional
        Category name -> word list; default the shipped :data:`CATEGORIES`.

    Returns
    -------
    masks : dict of str to ndarray of bool, shape (n_words,)
    """
    if categories is None:
        categories = {name: lexicon(name) for name in CATEGORIES}
    norm = [normalize_word(w) for w in words]
    return {name: np.array([w in lex for w in norm]) for name, lex in categories.items()}
