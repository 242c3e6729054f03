"""Word-level reading corpora: which columns are measures, baselines and surprisals, and the
conventions for analysing them.

One :class:`ReadingConventions` per stimulus-table reader whose table carries per-word measures
(means over readers). The conventions come from each corpus' documentation and papers:

- **Sentence edges.** Sentence-initial words have no context and sentence-final words carry
  wrap-up effects (and in the UCL corpus an artefactual N400: r(surprisal, N400) is about
  -0.28 without them and +0.08 with them), so both are left out by default. The rule is the
  first and last word of each (story, sentence) of the stimulus table; for the UCL corpus this
  is exactly its own ``is_start_end`` flag plus the sentence-initial words it has no measures
  for.
- **Skipped words.** UCL eye-tracking means count a skip as 0 ms (unconditional means over
  readers); the means cannot be made conditional, so no word is left out for skipping. OneStop
  first-pass measures are means over the readers who fixated the word in first pass (EyeLink's
  0 ms for a skip is treated as missing), total reading time over the readers who fixated it at
  all; words that no reader fixated are missing for those measures. Skipping rate uses every
  word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError


@dataclass(frozen=True)
class ReadingConventions:
    """How to analyse the per-word measures of one corpus' stimulus table.

    Attributes
    ----------
    reader : str
        The stimulus-table reader that makes such tables.
    measures : dict of str to str
        Measure column -> what it is (unit).
    baseline : dict of str to str
        Role (``length``, ``frequency``, ``position``) -> column.
    surprisal : tuple of str
        Surprisal (or predictability) columns shipped with the corpus.
    group : str
        Column whose values group words into independent units (sentences, paragraphs) for
        cross-validation and permutations.
    notes : tuple of str
        The conventions, recorded with every result.
    """

    reader: str
    measures: dict[str, str]
    baseline: dict[str, str]
    surprisal: tuple[str, ...]
    group: str
    notes: tuple[str, ...]


EDGE_NOTE = (
    "sentence-initial and sentence-final words (first and last word of each story and "
    "sentence of the stimulus table) are excluded"
)

CONVENTIONS = {
    "ucl_frank2013": ReadingConventions(
        reader="ucl_frank2013",
        measures={
            "RTfirstfix": "first-fixation duration (ms)",
            "RTfirstpass": "first-pass (gaze) duration (ms)",
            "RTrightbound": "right-bounded reading time (ms)",
            "RTgopast": "go-past (regression-path) time (ms)",
            "self_paced_reading_time": "self-paced reading time (ms)",
            "ELAN": "ELAN amplitude (µV)",
            "LAN": "LAN amplitude (µV)",
            "N400": "N400 amplitude (µV)",
            "EPNP": "EPNP amplitude (µV)",
            "P600": "P600 amplitude (µV)",
            "PNP": "PNP amplitude (µV)",
        },
        baseline={"length": "length", "frequency": "Subtlex_log10", "position": "position"},
        surprisal=(
            "cloze_s",
            "rnn",
            "psg",
            "bigram",
            "trigram",
            "tetragram",
            "s_GPT2",
            "s_GPT2_medium",
            "s_GPT2_large",
            "s_GPT2_xl",
            "s_GPTNeo_125M",
            "s_GPTNeo",
            "s_GPTNeo_2.7B",
        ),
        group="story",
        notes=(
            "eye-tracking means count a skipped word as 0 ms (unconditional means over "
            "readers, as the source codes a skip); they cannot be made conditional, so no word "
            "is excluded for skipping",
            "measures are means over participants (eye tracking, self-paced reading, EEG after "
            "artefact rejection); frequency is SUBTLEX log10, length in characters",
            "cloze_s is human cloze surprisal; the other surprisal columns are model outputs "
            "(Frank et al. 2015; de Varda et al. 2023)",
        ),
    ),
    "onestop": ReadingConventions(
        reader="onestop",
        measures={
            "mean_FFD": "first-fixation duration (ms), readers who fixated in first pass",
            "mean_GD": "gaze duration (ms), readers who fixated in first pass",
            "mean_RPD": "go-past (regression-path) duration (ms), readers who fixated in first "
            "pass",
            "mean_TRT": "total reading time (ms), readers who fixated the word",
            "skip_rate": "share of readers who skipped the word in first pass",
        },
        baseline={
            "length": "word_length_no_punctuation",
            "frequency": "wordfreq_frequency",
            "position": "position",
        },
        surprisal=("gpt2_surprisal",),
        group="story",
        notes=(
            "first-pass measures are means over the readers who fixated the word in first "
            "pass (EyeLink's 0 ms for a skip is missing), total reading time over the readers "
            "who fixated it; words no reader fixated are missing for those measures",
            "frequency is the corpus' wordfreq column (negative log frequency, as shipped); "
            "groups are paragraphs",
        ),
    ),
}


def conventions_for(reader: str) -> ReadingConventions:
    """Return the conventions of the corpus whose stimulus tables ``reader`` makes.

    Raises
    ------
    NeuroalignError
        If no conventions are known for ``reader``.
    """
    if reader not in CONVENTIONS:
        raise NeuroalignError(
            f"no word-level measure conventions for stimulus tables of reader {reader!r} "
            f"(known: {sorted(CONVENTIONS)}); pass --measures and --baseline explicitly."
        )
    return CONVENTIONS[reader]


def sentence_edges(table: pd.DataFrame) -> np.ndarray:
    """Flag the first and last word of each (story, sentence) of a stimulus table.

    Parameters
    ----------
    table : DataFrame
        A stimulus table (columns ``story``, ``sentence``, in reading order within a story).

    Returns
    -------
    edge : bool ndarray of shape (n_rows,)

    Examples
    --------
    >>> t = pd.DataFrame({"story": ["a"] * 5 + ["b"] * 2, "sentence": [0, 0, 0, 1, 1, 0, 0]})
    >>> sentence_edges(t).astype(int).tolist()
    [1, 0, 1, 1, 1, 1, 1]
    """
    frame = table[["story", "sentence"]]
    return (~frame.duplicated(keep="first") | ~frame.duplicated(keep="last")).to_numpy()
