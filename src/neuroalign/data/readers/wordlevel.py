"""Word-level reading tables: UCL (Frank et al. 2013), ZuCo/GECO means, Natural Stories SPR.

These tables hold per-word means over readers, not timed events, so ``onset`` is NaN.
Measures keep their source names and units (ms).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_range
from neuroalign.data.align import sentence_index
from neuroalign.data.readers._tables import as_paths, read_delimited, require_columns
from neuroalign.data.stimuli import standardize

_TRAILING_PUNCT = re.compile(r"^(.*?)([^\w]*)$", flags=re.DOTALL)
_SPLIT = re.compile(r"(train|val|dev|test)", flags=re.IGNORECASE)
ZUCO_MEASURES = (
    "n_fix",
    "first_fix_dur",
    "first_pass_dur",
    "total_fix_dur",
    "mean_fix_dur",
    "fix_prob",
    "n_refix",
    "reread_prob",
)
NATURAL_STORIES_RT = ("nItem", "meanItemRT", "sdItemRT", "gmeanItemRT", "gsdItemRT")


def split_punctuation(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split trailing punctuation off each word.

    Examples
    --------
    >>> split_punctuation(["laughed.", "well,", "Anne"])
    (['laughed', 'well', 'Anne'], ['.', ',', ''])
    """
    bare, punct = [], []
    for word in words:
        head, tail = _TRAILING_PUNCT.match(str(word)).groups()
        bare.append(head or str(word))
        punct.append(tail if head else "")
    return bare, punct


def _one(path: str | Path | list, reader: str) -> Path:
    paths = as_paths(path)
    if len(paths) != 1:
        raise NeuroalignError(f"the {reader} reader takes one file, got {len(paths)}.")
    return paths[0]


def read_ucl_frank2013(
    path: str | Path, *, restore_first_word: bool = True, stimset: str = "ucl_frank2013"
) -> pd.DataFrame:
    """Read the UCL corpus ``all_measures.csv`` (de Varda et al. 2023) in reading order.

    Parameters
    ----------
    path : path
        ``all_measures.csv``: one row per word but the first of each sentence, grouped by
        cloze list. Rows are put back in order by ``sent_id`` then ``context_length``.
    restore_first_word : bool
        Add each sentence's first word (taken from the ``sentence`` column; it has no
        measures, so they are NaN and ``measured`` is False), so that the table holds whole
        sentences for models to read.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per word; ``story`` = ``sent_id`` (the sentences are independent),
        ``position`` = ``context_length``, ``sentence`` = 0. ``text`` keeps the word as shown
        (with sentence-final punctuation); ``bare_word`` and ``punctuation`` split it.
        Source columns follow, ``item`` renamed ``prefix`` and ``sentence`` renamed
        ``sentence_text`` (those names belong to the stimulus-table contract).
    """
    path = _one(path, "ucl_frank2013")
    df = read_delimited(path, "UCL all_measures file", words=("item", "word", "sentence"))
    require_columns(df, ("word", "sentence", "context_length", "sent_id"), path, "UCL table")
    df = df.rename(columns={"item": "prefix", "sentence": "sentence_text"})
    df["measured"] = True
    if restore_first_word:
        firsts = df.drop_duplicates("sent_id")[["sent_id", "sentence_text"]].copy()
        firsts["word"] = firsts["sentence_text"].str.split().str[0]
        firsts["context_length"] = 0
        firsts["prefix"] = ""
        firsts["measured"] = False
        present = set(zip(df["sent_id"], df["context_length"], strict=True))
        firsts = firsts[[(s, 0) not in present for s in firsts["sent_id"]]]
        df = pd.concat([df, firsts], ignore_index=True)
    df = df.sort_values(["sent_id", "context_length"], kind="stable").reset_index(drop=True)
    bare, punct = split_punctuation(df["word"])
    table = pd.DataFrame(
        {
            "text": df["word"].astype(str),
            "story": df["sent_id"].astype(str),
            "position": df["context_length"].astype(np.int64),
            "sentence": 0,
            "bare_word": bare,
            "punctuation": punct,
        }
    )
    extra = df.drop(columns=["word"])
    table = pd.concat([table, extra], axis=1)
    return standardize(
        table,
        stimset=stimset,
        reader="ucl_frank2013",
        sources=[path],
        options={"restore_first_word": restore_first_word},
        info={
            "n_measured_words": int(df["measured"].sum()),
            "n_sentences": int(df["sent_id"].nunique()),
            "measures": "eye-tracking means count a skip as 0 ms (unconditional means)",
        },
    )


def read_wordlevel_gaze(
    paths: str | Path | Iterable[str | Path],
    *,
    split: str | None = None,
    stimset: str = "zuco",
) -> pd.DataFrame:
    """Read ZuCo or GECO word-level gaze means (the multilingual-gaze CSV format).

    Parameters
    ----------
    paths : path or list of path
        CSVs with columns ``(index), sentence_num, word, n_fix, first_fix_dur, ...``, one row
        per word in reading order. Several files (splits) are read in the order given.
    split : str, optional
        Split name for a single file; by default taken from the file name (train, val, dev
        or test), else the file stem.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per word; ``story`` = ``<split>_<sentence_num>`` (sentences are independent
        stimuli), ``position`` within the sentence, ``sentence`` = 0. Extra columns: the
        measures (unconditional means over readers: a reader who skipped a word counts as
        0), ``split``, ``sentence_num``, ``word_index`` (the source row index) and
        ``all_zero`` (no reader fixated the word).
    """
    files = as_paths(paths)
    if split is not None and len(files) > 1:
        raise NeuroalignError(
            "option split names one file's split; with several files it is taken from each "
            "file name, so leave it out."
        )
    parts = []
    for path in files:
        df = read_delimited(path, "word-level gaze file", keep_default_na=False, na_values=[""])
        require_columns(df, ("sentence_num", "word", *ZUCO_MEASURES), path, "word-level gaze file")
        if not df["sentence_num"].is_monotonic_increasing:
            raise NeuroalignError(
                f"{path}: column 'sentence_num' is not in reading order; the file must list "
                "sentences in order, each word in reading order."
            )
        name = split or (m.group(1).lower() if (m := _SPLIT.search(path.stem)) else path.stem)
        index_column = df.columns[0] if df.columns[0].startswith("Unnamed") else None
        part = pd.DataFrame(
            {
                "text": df["word"].astype(str),
                "story": name + "_" + df["sentence_num"].astype(str),
                "position": df.groupby("sentence_num").cumcount(),
                "sentence": 0,
                "split": name,
                "sentence_num": df["sentence_num"].astype(np.int64),
                "word_index": df[index_column] if index_column else np.arange(len(df)),
            }
        )
        for measure in ZUCO_MEASURES:
            part[measure] = pd.to_numeric(df[measure], errors="coerce").astype(float)
        part["all_zero"] = (part[list(ZUCO_MEASURES)] == 0).all(axis=1)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    return standardize(
        table,
        stimset=stimset,
        reader="wordlevel_gaze",
        sources=files,
        options={"split": split},
        info={
            "n_all_zero": int(table["all_zero"].sum()),
            "measures": "unconditional means over readers (a skip counts as 0); "
            "skipping rate = 1 - fix_prob",
        },
    )


def read_natural_stories_spr(
    path: str | Path, *, shift: int = 1, stimset: str = "natural_stories"
) -> pd.DataFrame:
    """Read the Natural Stories per-word SPR table, with the one-position alignment fix.

    Parameters
    ----------
    path : path
        ``processed_wordinfo.tsv`` (``word, zone, item, nItem, meanItemRT, ...``), sorted
        alphabetically; rows are put back in order by story (``item``) and ``zone``.
    shift : int
        Move the RT columns this many positions later within each story: with ``shift=1``
        the RTs of word k come from the row at zone k-1. The 2021 file stores each RT one
        position early (a misalignment the upstream README reported in 2025; the RT-length
        lag profile of this file confirms it). ``shift=0`` keeps the file as it is.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per word; ``story`` = the story number, ``position`` = ``zone - 1``,
        ``sentence`` counts sentence ends (. ! ?) within the story;
        extra columns ``zone`` and the RT columns (NaN for the first ``shift`` words of
        each story). ``attrs["options"]["shift"]`` records the shift.
    """
    path = _one(path, "natural_stories")
    check_range("shift", shift, -3, 3)
    df = read_delimited(path, "Natural Stories word-info file", keep_default_na=False)
    require_columns(df, ("word", "zone", "item", *NATURAL_STORIES_RT), path, "word-info file")
    df = df.sort_values(["item", "zone"], kind="stable").reset_index(drop=True)
    if df.duplicated(["item", "zone"]).any():
        raise NeuroalignError(f"{path}: some (item, zone) pairs repeat; each word needs one row.")
    rts = df[list(NATURAL_STORIES_RT)].apply(pd.to_numeric, errors="coerce").astype(float)
    if shift:
        rts = rts.groupby(df["item"].to_numpy()).shift(shift)
    table = pd.DataFrame(
        {
            "text": df["word"].astype(str),
            "story": df["item"].astype(str),
            "position": df["zone"].astype(np.int64) - 1,
            "zone": df["zone"].astype(np.int64),
        }
    )
    table["sentence"] = np.concatenate(
        [sentence_index(words) for _, words in table.groupby("story", sort=False)["text"]]
    )
    table = pd.concat([table, rts], axis=1)
    return standardize(
        table,
        stimset=stimset,
        reader="natural_stories",
        sources=[path],
        options={"shift": shift},
        info={"shift": shift, "rt_units": "ms"},
    )
