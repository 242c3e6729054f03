"""The bundled story: chapters, words, sentences and spoken word timings.

The story (``neuroalign/data/story.txt``) is original prose written for this package and is in
the public domain. Each chapter starts with a line ``# <id>: <title>``; paragraphs are separated
by blank lines. Chapter ids are BIDS-safe task labels (letters only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

from neuroalign._check import check_range

_HEADER = re.compile(r"^#\s*([A-Za-z0-9]+)\s*:\s*(.+?)\s*$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_STRIP = re.compile(r"^[^\w]+|[^\w]+$")


@dataclass(frozen=True)
class Chapter:
    """One chapter of the story.

    Attributes
    ----------
    name : str
        BIDS-safe identifier (the ``task`` label of its fMRI runs).
    title : str
        Human-readable title.
    paragraphs : tuple of str
        The paragraphs, each one line of plain prose.
    """

    name: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        """The chapter text, paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)


def parse_story(text: str) -> dict[str, Chapter]:
    """Parse story text into chapters.

    Parameters
    ----------
    text : str
        Chapters that start with ``# <id>: <title>``; paragraphs separated by blank lines.

    Returns
    -------
    chapters : dict of str to Chapter
        In the order of the text.
    """
    chapters: dict[str, Chapter] = {}
    name = title = None
    paragraphs: list[str] = []
    current: list[str] = []

    def flush_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    def flush_chapter() -> None:
        flush_paragraph()
        if name is not None:
            if name in chapters:
                raise ValueError(f"chapter id {name!r} appears twice in the story text")
            chapters[name] = Chapter(name, title, tuple(paragraphs))
        paragraphs.clear()

    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            flush_chapter()
            name, title = header.group(1), header.group(2)
        elif line.strip():
            if name is None:
                raise ValueError("story text must start with a '# <id>: <title>' line")
            current.append(line.strip())
        else:
            flush_paragraph()
    flush_chapter()
    return chapters


@cache
def _bundled_text() -> str:
    return files("neuroalign.data").joinpath("story.txt").read_text(encoding="utf-8")


def load_story() -> dict[str, Chapter]:
    """Return the bundled story's chapters, keyed by chapter id, in reading order.

    Examples
    --------
    >>> chapters = load_story()
    >>> list(chapters)[:2]
    ['lighthouse', 'orchard']
    """
    return parse_story(_bundled_text())


def word_key(word: str) -> str:
    """Return the lookup form of a word: lowercased, leading/trailing punctuation removed.

    Examples
    --------
    >>> word_key('"Wait,')
    'wait'
    """
    return _STRIP.sub("", word).lower()


def tokenize(chapter: Chapter) -> pd.DataFrame:
    """Split a chapter into words.

    Parameters
    ----------
    chapter : Chapter
        The chapter.

    Returns
    -------
    words : DataFrame
        One row per word, in order, with columns ``word`` (as printed, with punctuation),
        ``text`` (:func:`word_key` of it), ``sentence`` and ``paragraph`` (0-based indices
        within the chapter) and ``word_index`` (0-based position in the chapter).
    """
    rows = []
    sentence = 0
    for p, paragraph in enumerate(chapter.paragraphs):
        for token in paragraph.split():
            rows.append((token, word_key(token), sentence, p))
            if _SENTENCE_END.search(token):
                sentence += 1
        if rows and not _SENTENCE_END.search(rows[-1][0]):
            sentence += 1
    words = pd.DataFrame(rows, columns=["word", "text", "sentence", "paragraph"])
    words["word_index"] = np.arange(len(words))
    return words


def word_timings(
    words: pd.DataFrame,
    rng: np.random.Generator,
    *,
    rate: float = 2.5,
    jitter: float = 0.2,
    sentence_pause: float = 0.4,
    paragraph_pause: float = 0.8,
    start: float = 0.0,
) -> pd.DataFrame:
    """Give words spoken onsets and durations from a simple speech-rate model.

    Each word's slot is proportional to its length (mean slot ``1 / rate``) times log-normal
    jitter; a word lasts 90% of its slot; sentence and paragraph ends add pauses.

    Parameters
    ----------
    words : DataFrame
        From :func:`tokenize` (needs ``word``, ``sentence`` and ``paragraph``).
    rng : numpy.random.Generator
        Source of the jitter.
    rate : float
        Mean speech rate in words per second, without pauses.
    jitter : float
        Standard deviation of the log slot length.
    sentence_pause, paragraph_pause : float
        Extra silence (s) after the last word of a sentence / of a paragraph.
    start : float
        Onset (s) of the first word.

    Returns
    -------
    timed : DataFrame
        A copy of ``words`` with ``onset`` and ``duration`` columns (s).
    """
    check_range("rate", rate, 0, None, closed="neither")
    check_range("jitter", jitter, 0, None)
    n = len(words)
    letters = words["word"].str.len().to_numpy(float)
    slot = (0.5 + 0.5 * letters / letters.mean()) / rate
    slot = slot * np.exp(jitter * rng.standard_normal(n) - jitter**2 / 2)
    sentence = words["sentence"].to_numpy()
    paragraph = words["paragraph"].to_numpy()
    pause = np.zeros(n)
    pause[:-1] += sentence_pause * (np.diff(sentence) != 0)
    pause[:-1] += paragraph_pause * (np.diff(paragraph) != 0)
    onset = start + np.concatenate([[0.0], np.cumsum(slot + pause)[:-1]])
    timed = words.copy()
    timed["onset"] = onset
    timed["duration"] = 0.9 * slot
    return timed


def chapter_words() -> dict[str, pd.DataFrame]:
    """Return :func:`tokenize` of every bundled chapter, keyed by chapter id."""
    return {name: tokenize(chapter) for name, chapter in load_story().items()}


def story_table() -> pd.DataFrame:
    """Return every bundled chapter's words as stimulus-table rows, in story order.

    This is the text the simulated datasets are built from, so a model's activations for
    these rows can drive a simulation (``neuroalign simulate fmri --features``).

    Returns
    -------
    table : DataFrame
        Columns ``text`` (the printed word), ``story`` (chapter id), ``run`` (chapter id),
        ``position`` (word index in the chapter), ``sentence`` and ``paragraph``; no timing.
    """
    frames = [
        pd.DataFrame(
            {
                "text": words["word"].to_numpy(),
                "story": name,
                "run": name,
                "position": words["word_index"].to_numpy(),
                "sentence": words["sentence"].to_numpy(),
                "paragraph": words["paragraph"].to_numpy(),
            }
        )
        for name, words in chapter_words().items()
    ]
    return pd.concat(frames, ignore_index=True)
