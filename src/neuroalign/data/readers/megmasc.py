"""MEG-MASC (Gwilliams et al. 2023) word events, aligned to the story text.

The events files list every word the forced aligner timed; the story text (``<story>.txt``,
space-separated tokens with punctuation as tokens) has more tokens: words the aligner skipped
(rare names, clitics such as ``'s``) and punctuation. Rows of the table are the timed words;
``text_index`` gives the matched token of the story text (-1 for words outside the story
sentences, i.e. the word-list and pseudo-word conditions, or words the text lacks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file
from neuroalign.data.align import align_words, sentence_index
from neuroalign.data.readers._tables import as_paths, read_delimited, require_columns
from neuroalign.data.readers.bids_events import parse_entities, run_label
from neuroalign.data.readers.bids_meg import bad_channels, read_channels
from neuroalign.data.stimuli import standardize

logger = logging.getLogger(__name__)

_COLUMNS = ("onset", "duration", "trial_type", "word", "story", "condition")


def read_story_tokens(path: str | Path) -> list[str]:
    """Return the whitespace-separated tokens of a story text file."""
    return check_file(path, "story text file").read_text(encoding="utf-8").split()


def _text_for(story: str, texts: list[Path]) -> Path:
    # case aside: the events name story 3 "The_Black_Willow", its text is the_black_willow.txt
    name = story.lower()
    matches = [p for p in texts if p.stem.lower() == name or p.stem.lower().endswith(f"_{name}")]
    if len(matches) == 1:
        return matches[0]
    if not matches and len(texts) == 1:
        return texts[0]
    names = [p.name for p in texts]
    raise NeuroalignError(
        f"story {story!r}: {'several' if matches else 'no'} text files match among {names}; "
        f"pass exactly one file named {story}.txt (or ending in _{story}.txt)."
    )


def read_megmasc(
    events: str | Path | Iterable[str | Path],
    text: str | Path | Iterable[str | Path],
    *,
    align_conditions: tuple[str, ...] = ("sentence",),
    stimset: str = "megmasc",
) -> pd.DataFrame:
    """Read MEG-MASC word events and align them to the story text.

    Parameters
    ----------
    events : path or list of path
        ``*_events.tsv`` files (one run each; the run label comes from the BIDS entities),
        optionally with their ``*_channels.tsv``: a run's channels file gives each word its
        ``sample`` at the recording's rate (``round(onset * sfreq)``, the raw's time base) and
        ``attrs["info"]["channels"][run]`` the channel counts by type and the bad channels.
    text : path or list of path
        Story text files; each story (the events' ``story`` column) uses the file named
        ``<story>.txt`` or ``*_<story>.txt``, case aside (a single file serves a single story).
    align_conditions : tuple of str
        Conditions whose words are aligned to the text (word lists are scrambled, so only
        ``"sentence"`` by default).
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per word event; ``condition`` is the events' condition (sentence, word_list,
        pseudo_words); extra columns ``duration``, ``text_index``, ``word_index``,
        ``sequence_id``, ``subject``. ``attrs["info"]["alignment"][story]`` holds the counts:
        words aligned and matched, text word tokens without an event, punctuation tokens.
    """
    texts = as_paths(text)
    parts = []
    sources: list[Path] = []
    alignment: dict[str, dict] = {}
    channel_info: dict[str, dict] = {}
    given = as_paths(events)
    channel_files = {p.name: p for p in given if p.name.endswith("_channels.tsv")}
    for path in [p for p in given if p.name not in channel_files]:
        table = read_delimited(
            path,
            "MEG-MASC events file",
            keep_default_na=False,
            na_values=["n/a", ""],
            dtype={"word": str},
        )
        require_columns(table, _COLUMNS, path, "MEG-MASC events file")
        words = table[table["trial_type"] == "word"].sort_values("onset", kind="stable")
        if words.empty:
            raise NeuroalignError(f"{path}: no events with trial_type 'word'.")
        entities = parse_entities(path)
        sources.append(path)
        channels = channel_files.get(path.name.replace("_events.tsv", "_channels.tsv"))
        sfreq = None
        if channels is not None:
            sources.append(channels)
            sfreq, channel_info[run_label(entities) or path.stem] = _channel_summary(channels)
        for story, rows in words.groupby("story", sort=False):
            story = str(story)
            text_path = _text_for(story, texts)
            if text_path not in sources:
                sources.append(text_path)
            tokens = read_story_tokens(text_path)
            sentences = sentence_index(tokens)
            condition = rows["condition"].fillna("").astype(str).to_numpy()
            to_align = np.isin(condition, list(align_conditions))
            result = align_words(rows["word"].astype(str).to_numpy()[to_align], tokens)
            text_index = np.full(len(rows), -1, dtype=np.int64)
            text_index[to_align] = result.word_to_token
            unmatched = result.unmatched_tokens
            label = run_label(entities) or path.stem
            alignment[f"{label}/{story}"] = {
                "text_file": text_path.name,
                "n_words": len(rows),
                "n_aligned_words": int(to_align.sum()),
                "n_matched": result.n_matched,
                "n_text_tokens": len(tokens),
                "n_text_words": int(result.is_word_token.sum()),
                "n_text_words_without_event": len(unmatched),
                "n_punctuation_tokens": int((~result.is_word_token).sum()),
                "text_words_without_event": [tokens[i] for i in unmatched[:50]],
            }
            if result.n_matched < to_align.sum():
                logger.warning(
                    "%s: %d of %d %s words do not match %s",
                    path.name,
                    to_align.sum() - result.n_matched,
                    to_align.sum(),
                    "/".join(align_conditions),
                    text_path.name,
                )
            part = pd.DataFrame(
                {
                    "text": rows["word"].astype(str).to_numpy(),
                    "onset": rows["onset"].astype(float).to_numpy(),
                    "offset": (rows["onset"] + rows["duration"]).astype(float).to_numpy(),
                    "run": label,
                    "story": story,
                    "position": np.arange(len(rows)),
                    "sentence": np.where(text_index >= 0, sentences[text_index], -1),
                    "condition": condition,
                    "duration": rows["duration"].astype(float).to_numpy(),
                    "text_index": text_index,
                    "word_index": _int_or_minus_one(rows.get("word_index")),
                    "sequence_id": _int_or_minus_one(rows.get("sequence_id")),
                    "subject": entities.get("sub", ""),
                }
            )
            if sfreq is not None:
                part["sample"] = np.round(part["onset"].to_numpy() * sfreq).astype(np.int64)
            parts.append(part)
    return standardize(
        pd.concat(parts, ignore_index=True),
        stimset=stimset,
        reader="megmasc",
        sources=sources,
        options={"align_conditions": list(align_conditions)},
        info={"alignment": alignment, **({"channels": channel_info} if channel_info else {})},
    )


def _channel_summary(path: Path) -> tuple[float, dict]:
    """The recording's rate (Hz) and its channels by type, bad ones named."""
    table = read_channels(path)
    rates = pd.to_numeric(table.get("sampling_frequency"), errors="coerce").dropna().unique()
    if len(rates) != 1:
        raise NeuroalignError(
            f"{path}: expected one sampling_frequency for all channels, found {sorted(rates)}."
        )
    summary = {
        "channels_file": path.name,
        "sfreq": float(rates[0]),
        "n_by_type": {str(k): int(v) for k, v in table["type"].value_counts().items()},
        "bad_channels": bad_channels(table),
    }
    return float(rates[0]), summary


def _int_or_minus_one(values: Sequence | None) -> np.ndarray | int:
    if values is None:
        return -1
    return pd.to_numeric(pd.Series(values), errors="coerce").fillna(-1).astype(np.int64).to_numpy()
