"""OneStop Eye Movements (Berzak et al. 2025): EyeLink Data Viewer reports.

The interest-area (IA) report has one row per word (interest area) per trial per reader;
missing values are ``.`` (EyeLink convention). The stimulus table collapses the readers: one
row per word of each paragraph. The per-reader measures are a separate table.

Measure definitions (``conditional=True``): first-pass measures (first fixation duration,
gaze duration = first-run dwell time, regression-path duration) are undefined (NaN) for words
skipped in first pass; total reading time is NaN for words never fixated. EyeLink itself
writes 0 in those cells, which would bias means towards zero.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.align import sentence_index
from neuroalign.data.readers._tables import numeric, read_delimited, require_columns
from neuroalign.data.stimuli import COLUMNS, standardize

logger = logging.getLogger(__name__)

_IA_REQUIRED = ("participant_id", "TRIAL_INDEX", "IA_ID", "IA_LABEL")
# Output name -> IA report column.
MEASURES = {
    "FFD": "IA_FIRST_FIXATION_DURATION",
    "GD": "IA_FIRST_RUN_DWELL_TIME",
    "TRT": "IA_DWELL_TIME",
    "RPD": "IA_REGRESSION_PATH_DURATION",
    "fixation_count": "IA_FIXATION_COUNT",
    "skip": "IA_SKIP",
}
_FIRST_PASS = ("FFD", "GD", "RPD")
# Paragraph-level columns worth carrying (other trial-level columns describe the reader).
_PARAGRAPH_COLUMNS = (
    "article_id",
    "article_title",
    "paragraph_id",
    "unique_paragraph_id",
    "difficulty_level",
)


def _read_ia(path: str | Path) -> tuple[pd.DataFrame, str]:
    df = read_delimited(path, "EyeLink interest-area report", words=("IA_LABEL",), low_memory=False)
    require_columns(df, _IA_REQUIRED, path, "interest-area report")
    story_column = next((c for c in ("unique_paragraph_id", "paragraph_id") if c in df), None)
    if story_column is None:
        raise NeuroalignError(
            f"{path}: column 'unique_paragraph_id' or 'paragraph_id' missing; the report "
            "must say which paragraph each trial showed."
        )
    df["story"] = df[story_column].astype(str)
    df["ia_id"] = pd.to_numeric(df["IA_ID"], errors="raise").astype(np.int64)
    base = df.groupby(["participant_id", "TRIAL_INDEX"])["ia_id"].min()
    if not base.isin([0, 1]).all() or base.nunique() > 1:
        raise NeuroalignError(
            f"{path}: column 'IA_ID' must start at 0 (or 1) in every trial; found first IDs "
            f"{sorted(base.unique().tolist())[:5]}."
        )
    df["position"] = df["ia_id"] - int(base.iloc[0])
    return df, story_column


def read_onestop_ia(path: str | Path, *, stimset: str = "onestop") -> pd.DataFrame:
    """Read an IA report into a stimulus table: one row per word of each paragraph.

    Parameters
    ----------
    path : path or list of one path
        The IA report CSV (``participant_id, TRIAL_INDEX, paragraph_id or
        unique_paragraph_id, IA_ID, IA_LABEL``, reading measures, word annotations).
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        Paragraphs in the order the first reader saw them, words by ``IA_ID`` (``position``
        is 0-based). ``story`` is the paragraph id, ``condition`` the difficulty level when
        the report has one, ``sentence`` counts sentence ends (. ! ?) within the paragraph.
        Extra columns: word annotations that are the same for every reader
        (``word_length``, ``surprisal``, ...), ``n_readers``, ``skip_rate`` and the mean of
        each reading measure over the readers who have it (see the module notes).
    """
    path = _single(path)
    df, story_column = _read_ia(path)
    key = ["story", "position"]
    labels = df.groupby(key)["IA_LABEL"].nunique()
    if (labels > 1).any():
        story, pos = labels[labels > 1].index[0]
        raise NeuroalignError(
            f"{path}: readers saw different words at paragraph {story!r}, IA {pos}; the "
            f"column '{story_column}' must identify the exact text shown."
        )
    first = df.drop_duplicates(key, keep="first")
    rank = first["story"].map(_first_seen(first["story"]))
    order = first.assign(_rank=rank).sort_values(["_rank", "position"], kind="stable")
    table = pd.DataFrame(
        {
            "text": order["IA_LABEL"].astype(str).to_numpy(),
            "story": order["story"].to_numpy(),
            "position": order["position"].to_numpy(),
            "condition": (
                order["difficulty_level"].astype(str).to_numpy()
                if "difficulty_level" in order
                else ""
            ),
            "ia_id": order["ia_id"].to_numpy(),
        }
    )
    table["sentence"] = np.concatenate(
        [sentence_index(words) for _, words in table.groupby("story", sort=False)["text"]]
    )
    constant = _word_constant_columns(df, key)
    for name in constant:
        table[name] = order[name].to_numpy()
    measures = read_onestop_measures(path)
    grouped = measures.groupby(["story", "position"])
    summary = pd.DataFrame(
        {
            "n_readers": grouped["participant"].nunique(),
            "skip_rate": grouped["skip"].mean(),
            **{f"mean_{m}": grouped[m].mean() for m in ("FFD", "GD", "TRT", "RPD")},
        }
    ).reset_index()
    table = table.merge(summary, on=["story", "position"], how="left", validate="1:1")
    return standardize(
        table,
        stimset=stimset,
        reader="onestop",
        sources=[path],
        options={},
        info={"story_column": story_column, "n_readers": int(df["participant_id"].nunique())},
    )


def read_onestop_measures(path: str | Path, *, conditional: bool = True) -> pd.DataFrame:
    """Read the per-reader reading measures of an IA report.

    Parameters
    ----------
    path : path
        The IA report CSV.
    conditional : bool
        If True, blank out first-pass measures of words skipped in first pass and total
        reading time of words never fixated (see the module notes); if False, keep
        EyeLink's values (only ``.`` becomes NaN).

    Returns
    -------
    measures : DataFrame
        Columns ``participant, trial, story, position, text, FFD, GD, TRT, RPD (ms),
        fixation_count, skip (bool)``; a measure whose column the report lacks is NaN.
    """
    path = _single(path)
    df, _ = _read_ia(path)
    out = pd.DataFrame(
        {
            "participant": df["participant_id"].astype(str),
            "trial": df["TRIAL_INDEX"].astype(np.int64),
            "story": df["story"],
            "position": df["position"],
            "text": df["IA_LABEL"].astype(str),
        }
    )
    absent = [col for col in MEASURES.values() if col not in df]
    if absent:
        logger.info("%s: no column(s) %s; those measures are NaN", path.name, absent)
    for name, column in MEASURES.items():
        out[name] = numeric(df[column]) if column in df else np.nan
    skip = out["skip"]
    never_fixated = out["fixation_count"] == 0
    if conditional:
        out.loc[skip == 1, list(_FIRST_PASS)] = np.nan
        out.loc[never_fixated, "TRT"] = np.nan
    out["skip"] = skip.astype("boolean")
    out["fixation_count"] = out["fixation_count"].astype("Int64")
    return out.reset_index(drop=True)


def read_onestop_boxes(path: str | Path) -> pd.DataFrame:
    """Read the interest areas (word boxes) of each trial of an IA report.

    Parameters
    ----------
    path : path
        The IA report CSV, with ``IA_LEFT, IA_TOP, IA_RIGHT, IA_BOTTOM`` (pixels).

    Returns
    -------
    boxes : DataFrame
        One row per word per trial per reader: ``participant, trial, story, position, text,
        left, top, right, bottom`` (the input of
        :func:`neuroalign.data.interest_areas.assign_interest_areas`).
    """
    path = _single(path)
    df, _ = _read_ia(path)
    sides = {"left": "IA_LEFT", "top": "IA_TOP", "right": "IA_RIGHT", "bottom": "IA_BOTTOM"}
    require_columns(df, sides.values(), path, "interest-area report")
    out = pd.DataFrame(
        {
            "participant": df["participant_id"].astype(str),
            "trial": df["TRIAL_INDEX"].astype(np.int64),
            "story": df["story"],
            "position": df["position"],
            "text": df["IA_LABEL"].astype(str),
        }
    )
    for name, column in sides.items():
        out[name] = numeric(df[column]).astype(float)
    return out.reset_index(drop=True)


def read_onestop_fixations(path: str | Path) -> pd.DataFrame:
    """Read an EyeLink Data Viewer fixation report into a fixation table.

    Parameters
    ----------
    path : path
        The fixation report CSV (``CURRENT_FIX_*`` columns).

    Returns
    -------
    fixations : DataFrame
        Columns ``participant, trial, story, index, onset, offset, duration`` (seconds from
        the trial start), ``x, y`` (pixels), ``position`` (0-based word position, matching
        the IA report's ``IA_ID``; -1 outside any word), ``text`` (the word label, "" outside)
        and ``eye``.
    """
    path = _single(path)
    df = read_delimited(
        path,
        "EyeLink fixation report",
        words=("CURRENT_FIX_INTEREST_AREA_LABEL",),
        low_memory=False,
    )
    require_columns(
        df,
        (
            "participant_id",
            "TRIAL_INDEX",
            "CURRENT_FIX_INDEX",
            "CURRENT_FIX_START",
            "CURRENT_FIX_END",
            "CURRENT_FIX_DURATION",
            "CURRENT_FIX_X",
            "CURRENT_FIX_Y",
            "CURRENT_FIX_INTEREST_AREA_ID",
        ),
        path,
        "fixation report",
    )
    story_column = next((c for c in ("unique_paragraph_id", "paragraph_id") if c in df), None)
    # The fixation report numbers interest areas from 1, the IA report from 0.
    ia = numeric(df["CURRENT_FIX_INTEREST_AREA_ID"])
    label = df.get("CURRENT_FIX_INTEREST_AREA_LABEL", pd.Series("", index=df.index))
    return pd.DataFrame(
        {
            "participant": df["participant_id"].astype(str),
            "trial": df["TRIAL_INDEX"].astype(np.int64),
            "story": df[story_column].astype(str) if story_column else "",
            "index": df["CURRENT_FIX_INDEX"].astype(np.int64),
            "onset": numeric(df["CURRENT_FIX_START"]) / 1000.0,
            "offset": numeric(df["CURRENT_FIX_END"]) / 1000.0,
            "duration": numeric(df["CURRENT_FIX_DURATION"]) / 1000.0,
            "x": numeric(df["CURRENT_FIX_X"]),
            "y": numeric(df["CURRENT_FIX_Y"]),
            "position": (ia - 1).fillna(-1).astype(np.int64),
            "text": label.astype(str).where(ia.notna(), ""),
            "eye": df.get("EYE_TRACKED", pd.Series("", index=df.index)).astype(str),
        }
    )


def _single(path: str | Path | list) -> Path:
    if isinstance(path, list | tuple):
        if len(path) != 1:
            raise NeuroalignError(
                f"the OneStop reader takes one report file, got {len(path)}: "
                f"{[str(p) for p in path]}."
            )
        path = path[0]
    return Path(path)


def _first_seen(values: pd.Series) -> dict[str, int]:
    return {v: i for i, v in enumerate(dict.fromkeys(values))}


def _word_constant_columns(df: pd.DataFrame, key: list[str]) -> list[str]:
    """Word annotations (same for every reader, varying within a paragraph) and paragraph ids."""
    skip = {*key, *COLUMNS, "ia_id", "IA_ID", "IA_LABEL", "participant_id"}
    candidates = [c for c in df.columns if c not in skip and not c.startswith(("IA_", "TRIAL_"))]
    per_word = df.groupby(key)[candidates].nunique(dropna=False).max()
    per_story = df.groupby("story")[candidates].nunique(dropna=False).max()
    return [
        c for c in candidates if per_word[c] <= 1 and (per_story[c] > 1 or c in _PARAGRAPH_COLUMNS)
    ]
