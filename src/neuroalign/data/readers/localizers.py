"""Functional-localizer stimuli: language (Fedorenko et al. 2010), multiple demand, theory of mind.

Each trial is an independent stimulus, so each row is its own story (position 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file
from neuroalign.data.readers._tables import as_paths, read_delimited, require_columns
from neuroalign.data.stimuli import standardize

_LANGLOC_NAME = re.compile(r"run(\d+).*?set(\d+)", flags=re.IGNORECASE)
_LANGLOC_CONDITIONS = {"S": "sentence", "N": "nonword"}
_TOM_NAME = re.compile(r"^(\d+)(belief|photo)_(story|question)\.txt$")


def _expand(paths: Iterable[Path], pattern: str) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob(pattern))
            if not found:
                raise NeuroalignError(f"{path}: no {pattern} files in this folder.")
            files.extend(found)
        else:
            files.append(check_file(path, "localizer stimulus file"))
    return files


def read_langloc(
    paths: str | Path | Iterable[str | Path],
    *,
    lowercase: bool = False,
    stimset: str = "langloc",
) -> pd.DataFrame:
    """Read the language-localizer lists (sentences vs non-word lists) into a sentence table.

    Parameters
    ----------
    paths : path or list of path
        ``langloc_fmri_run<r>_stim_set<s>.csv`` files or a folder of them. Columns
        ``stim1`` (trial number within its condition), ``stim2..stim13`` (the 12 words, in
        upper case) and ``stim14`` (``S`` sentence or ``N`` non-word list).
    lowercase : bool
        Lower-case the words (the source is all capitals, which some tokenizers split badly).
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per trial, files ordered by run then set, rows in file order; ``text`` = the
        12 words joined by spaces, ``condition`` in {"sentence", "nonword"}, ``run`` =
        ``run<r>_set<s>``; extra columns ``run_number``, ``stim_set``, ``trial``.
    """
    files = _expand(as_paths(paths), "*.csv")
    keyed = []
    for path in files:
        match = _LANGLOC_NAME.search(path.name)
        if not match:
            raise NeuroalignError(
                f"{path}: the name must say its run and set (langloc_fmri_run1_stim_set2.csv)."
            )
        keyed.append(((int(match.group(1)), int(match.group(2))), path))
    parts = []
    for (run, stim_set), path in sorted(keyed):
        df = read_delimited(path, "language localizer list", dtype=str, keep_default_na=False)
        word_columns = [f"stim{i}" for i in range(2, 14)]
        require_columns(df, ["stim1", *word_columns, "stim14"], path, "langloc list")
        codes = df["stim14"].str.strip()
        bad = ~codes.isin(list(_LANGLOC_CONDITIONS))
        if bad.any():
            raise NeuroalignError(
                f"{path}: column 'stim14' must be S or N, found {codes[bad].iloc[0]!r}."
            )
        words = df[word_columns].apply(lambda col: col.str.strip())
        text = words.apply(lambda row: " ".join(w for w in row if w), axis=1)
        if lowercase:
            text = text.str.lower()
        label = f"run{run}_set{stim_set}"
        trial = pd.to_numeric(df["stim1"], errors="raise").astype(np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "text": text,
                    "story": label + "_" + codes + trial.map("{:02d}".format),
                    "position": 0,
                    "sentence": 0,
                    "condition": codes.map(_LANGLOC_CONDITIONS),
                    "run": label,
                    "run_number": run,
                    "stim_set": stim_set,
                    "trial": trial,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    return standardize(
        table,
        stimset=stimset,
        reader="langloc",
        sources=files,
        options={"lowercase": lowercase},
        info={"counts": table["condition"].value_counts().to_dict()},
    )


def read_md_arithmetic(path: str | Path, *, stimset: str = "md_arithmetic") -> pd.DataFrame:
    """Read the multiple-demand arithmetic localizer (hard vs easy problems).

    Parameters
    ----------
    path : path
        CSV with columns ``item, condition (hard|easy), operand1, operator, operand2,
        answer, text``.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per problem in file order; ``text`` as in the file (question and answer
        lines); ``story`` = ``<condition>_<item>``; the other columns carried.
    """
    paths = as_paths(path)
    if len(paths) != 1:
        raise NeuroalignError(f"the md_arithmetic reader takes one CSV, got {len(paths)}.")
    path = paths[0]
    df = read_delimited(path, "arithmetic localizer CSV", keep_default_na=False)
    require_columns(df, ("item", "condition", "text"), path, "arithmetic localizer CSV")
    table = pd.DataFrame(
        {
            "text": df["text"].astype(str),
            "story": df["condition"].astype(str) + "_" + df["item"].astype(str),
            "position": 0,
            "sentence": 0,
            "condition": df["condition"].astype(str),
        }
    )
    for name in df.columns:
        if name not in ("text", "condition", "item"):
            table[name] = df[name]
    table["source_item"] = df["item"]
    return standardize(table, stimset=stimset, reader="md_arithmetic", sources=[path])


def _unwrap(text: str) -> str:
    """Join hard-wrapped lines; a line ending in a hyphen joins without a space."""
    out = ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if out and not (out.endswith("-") and out[-2:-1].isalpha()):
            out += " "
        out += line
    return re.sub(r"\s+", " ", out).strip()


def read_tom(
    paths: str | Path | Iterable[str | Path],
    *,
    include_question: bool = True,
    stimset: str = "tom",
) -> pd.DataFrame:
    """Read the false-belief vs false-photograph localizer stories.

    Parameters
    ----------
    paths : path or list of path
        A folder of ``<i>belief_story.txt``, ``<i>belief_question.txt``,
        ``<i>photo_story.txt`` and ``<i>photo_question.txt`` files, or the files.
    include_question : bool
        Append the question (the text before its first blank line, without the
        True/False options) to the story.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per item (1belief, 1photo, 2belief, ...); ``condition`` in {"belief",
        "photo"}; hard-wrapped lines are joined. Extra columns ``trial``, ``story_text``
        and ``question``.
    """
    files = _expand(as_paths(paths), "*_*.txt")
    found: dict[tuple[int, str], dict[str, str]] = {}
    for path in files:
        match = _TOM_NAME.match(path.name)
        if not match:
            raise NeuroalignError(
                f"{path}: not a ToM stimulus name (<i>belief_story.txt, <i>photo_question.txt)."
            )
        number, condition, part = int(match.group(1)), match.group(2), match.group(3)
        text = path.read_text(encoding="utf-8")
        if part == "question":
            text = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
        found.setdefault((number, condition), {})[part] = _unwrap(text)
    rows = []
    for (number, condition), parts in sorted(found.items()):
        if "story" not in parts or (include_question and "question" not in parts):
            missing = "story" if "story" not in parts else "question"
            raise NeuroalignError(
                f"ToM item {number}{condition}: no {number}{condition}_{missing}.txt among "
                "the inputs; give the folder with every story and question file."
            )
        question = parts.get("question", "")
        rows.append(
            {
                "text": f"{parts['story']} {question}".strip()
                if include_question
                else parts["story"],
                "story": f"{number}{condition}",
                "position": 0,
                "sentence": 0,
                "condition": condition,
                "trial": number,
                "story_text": parts["story"],
                "question": question,
            }
        )
    return standardize(
        pd.DataFrame(rows),
        stimset=stimset,
        reader="tom",
        sources=files,
        options={"include_question": include_question},
    )
