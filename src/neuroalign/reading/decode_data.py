"""Trials of a reading study for decoding: labels, fixation sequences and paragraph words.

A :class:`ReadingTrials` holds one row per trial (a participant reading one paragraph), the
fixation sequence of each trial (interest-area index, duration, order) and the words of each
paragraph. :func:`read_reading_trials` builds it from an EyeLink Data Viewer fixation report
and interest-area (IA) report in the OneStop format (Berzak et al. 2025):

- **reading goal** (``goal``): OneStop's ``question_preview``: True when the question was shown
  before the paragraph (information seeking, "hunting", 1), False otherwise (ordinary reading,
  "gathering", 0);
- **comprehension** (``correct``): ``is_correct``, the question answered correctly (1) or not;
- **item**: the paragraph text shown (``unique_paragraph_id``); ``item_group`` is the paragraph
  whatever its difficulty level (``article_batch``, ``article_id``, ``paragraph_id``), so that
  the "new item" regime never trains on another level of a test paragraph;
- the **critical span** (``critical_span_indices``, the words that answer the question) where
  the report has it;
- **goal selection** (``goal_selection``): the paragraph's candidate questions are the distinct
  questions (each with its critical span) that the reports show for it; the label of an
  information-seeking trial is the index of its own question among them (NaN for ordinary
  reading, or where a paragraph has fewer than two candidates).

Fixations outside every interest area are dropped (they are off the text); a trial with no
fixation on its text, or a fixation on an interest area the paragraph does not have, is a
one-line error naming the trial.
"""

from __future__ import annotations

import ast
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file
from neuroalign.data.readers._tables import read_delimited
from neuroalign.data.readers.onestop import read_onestop_fixations

__all__ = ["GOAL_COLUMN", "TASKS", "ReadingTrials", "read_reading_trials"]

logger = logging.getLogger(__name__)

#: Decoding tasks: their label column in :attr:`ReadingTrials.trials` and what 1 means.
TASKS = {
    "goal": "information seeking (question shown first)",
    "correct": "answered correctly",
    "goal_selection": "which of the paragraph's candidate questions an information seeker had",
}
#: The IA-report column of the reading goal (OneStop: the question previewed, i.e. hunting).
GOAL_COLUMN = "question_preview"
CORRECT_COLUMN = "is_correct"
_TRUE = {"true": 1.0, "1": 1.0, "1.0": 1.0, "false": 0.0, "0": 0.0, "0.0": 0.0}


@dataclass(frozen=True)
class ReadingTrials:
    """Trials of a reading study: labels, fixation sequences and paragraph words.

    Attributes
    ----------
    trials : DataFrame
        One row per trial, index 0..n-1: ``trial`` (a unique name, ``participant:TRIAL``),
        ``participant``, ``item`` (paragraph shown), ``item_group`` (the paragraph whatever its
        level), ``question`` (text, "" if none), ``goal`` and ``correct`` (1.0, 0.0, NaN where
        unknown), ``n_words``, ``span_start``, ``span_end`` (critical span, -1 if unknown),
        ``question_id`` (item plus question index, "" if none), ``question_index`` (the
        question's index among the item's candidates, NaN if none).
    fixations : DataFrame
        ``trial`` (row of ``trials``), ``order`` (0-based within the trial), ``position``
        (0-based word index), ``duration`` (s); sorted by trial and order.
    words : dict of str to list of str
        Paragraph words by item.
    source : str
        Where the trials came from (file names), for messages and provenance.
    candidates : dict of str to list of (int, int)
        Critical spans (start, end) of each item's candidate questions, by question index.
    """

    trials: pd.DataFrame
    fixations: pd.DataFrame
    words: dict[str, list[str]]
    source: str = ""
    candidates: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fix = self.fixations
        counts = np.bincount(fix["trial"].to_numpy(), minlength=len(self.trials))
        if len(counts) > len(self.trials):
            raise NeuroalignError(f"{self.source}: fixations name trials that do not exist.")
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            raise NeuroalignError(
                f"{self.source}: trial {self.trials['trial'].iloc[empty[0]]!r} has no fixations "
                "on its text; drop it or check its fixation report."
            )
        n_words = self.trials["n_words"].to_numpy()[fix["trial"].to_numpy()]
        bad = np.flatnonzero((fix["position"].to_numpy() >= n_words) | (fix["position"] < 0))
        if bad.size:
            row = fix.iloc[bad[0]]
            trial = self.trials.iloc[int(row["trial"])]
            raise NeuroalignError(
                f"{self.source}: trial {trial['trial']!r} has a fixation on interest area "
                f"{int(row['position'])} (0-based) but paragraph {trial['item']!r} has "
                f"{int(trial['n_words'])} words; the fixation and IA reports do not match."
            )
        object.__setattr__(self, "_starts", np.concatenate([[0], np.cumsum(counts)]))

    def __len__(self) -> int:
        return len(self.trials)

    def labels(self, task: str) -> np.ndarray:
        """Return the labels of ``task`` (NaN where unknown).

        ``goal`` and ``correct`` are 0/1; ``goal_selection`` is the given question's index among
        the item's candidates, for information-seeking trials of items with two or more.
        """
        if task not in TASKS:
            raise NeuroalignError(f"unknown decoding task {task!r}; choose one of {list(TASKS)}.")
        if task == "goal_selection":
            k = self.n_candidates()
            index = self.trials["question_index"].to_numpy(float)
            keep = (self.trials["goal"].to_numpy(float) == 1) & (k >= 2)
            return np.where(keep, index, np.nan)
        return self.trials[task].to_numpy(float)

    def n_candidates(self) -> np.ndarray:
        """Number of candidate questions of each trial's item (0 where none is known)."""
        return np.array([len(self.candidates.get(i, ())) for i in self.trials["item"]], int)

    def sequence(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the word positions and durations (s) of trial ``i``'s fixations, in order."""
        lo, hi = self._starts[i], self._starts[i + 1]
        fix = self.fixations
        return fix["position"].to_numpy()[lo:hi], fix["duration"].to_numpy(float)[lo:hi]

    def subset(self, index: np.ndarray) -> ReadingTrials:
        """Return the trials at rows ``index`` (renumbered 0..k-1, in that order)."""
        index = np.asarray(index, dtype=np.int64)
        parts = []
        for new, old in enumerate(index):
            lo, hi = self._starts[old], self._starts[old + 1]
            part = self.fixations.iloc[lo:hi].copy()
            part["trial"] = new
            parts.append(part)
        fixations = pd.concat(parts, ignore_index=True) if parts else self.fixations.iloc[:0]
        trials = self.trials.iloc[index].reset_index(drop=True)
        words = {k: self.words[k] for k in dict.fromkeys(trials["item"])}
        candidates = {k: self.candidates[k] for k in words if k in self.candidates}
        return ReadingTrials(trials, fixations, words, self.source, candidates)

    def first(self, k: int) -> ReadingTrials:
        """Return the trials cut to their first ``k`` fixations (online decoding)."""
        fix = self.fixations[self.fixations["order"] < k].reset_index(drop=True)
        return ReadingTrials(self.trials, fix, self.words, self.source, self.candidates)


def _flag(values: pd.Series, column: str, where: str) -> np.ndarray:
    text = values.astype(str).str.strip().str.lower()
    out = text.map(_TRUE)
    bad = out.isna() & values.notna() & ~text.isin({"", ".", "nan", "none"})
    if bad.any():
        raise NeuroalignError(
            f"{where}: column {column!r} holds {values[bad].iloc[0]!r}; expected True/False."
        )
    return out.to_numpy(float)


def _span(value: object) -> tuple[int, int]:
    """Parse OneStop's ``critical_span_indices`` ("[(4,44)]") into (start, end); (-1, -1)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return -1, -1
    try:
        spans = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return -1, -1
    spans = [spans] if isinstance(spans, tuple) else list(spans)
    if not spans:
        return -1, -1
    return int(min(s[0] for s in spans)), int(max(s[1] for s in spans))


def read_reading_trials(
    fixations: str | Path, ia: str | Path, questions: str | Path | None = None
) -> ReadingTrials:
    """Build :class:`ReadingTrials` from a OneStop-format fixation report and IA report.

    Parameters
    ----------
    fixations : str or Path
        The fixation report (``CURRENT_FIX_*`` columns, one row per fixation).
    ia : str or Path
        The interest-area report (one row per word and trial; trial metadata columns such as
        ``question_preview``, ``is_correct``, ``question``, ``critical_span_indices``).
    questions : str or Path, optional
        A table of each paragraph's candidate questions (``unique_paragraph_id``,
        ``question``, ``critical_span_indices``); without it the candidates are the distinct
        questions the reports show for each paragraph.

    Returns
    -------
    trials : ReadingTrials

    Raises
    ------
    NeuroalignError
        One line naming the file or the trial: a trial without fixations on its text, a
        fixation on an interest area its paragraph lacks, a trial of the fixation report
        missing from the IA report, two readings of one paragraph with different words.
    """
    ia_path, fix_path = check_file(ia, "IA report"), check_file(fixations, "fixation report")
    where = f"{fix_path.name} + {ia_path.name}"
    report = read_delimited(
        ia_path, "EyeLink interest-area report", words=("IA_LABEL",), low_memory=False
    )
    for column in ("participant_id", "TRIAL_INDEX", "IA_ID", "IA_LABEL"):
        if column not in report:
            raise NeuroalignError(f"{ia_path}: column {column!r} missing from the IA report.")
    item_column = next((c for c in ("unique_paragraph_id", "paragraph_id") if c in report), None)
    if item_column is None:
        raise NeuroalignError(
            f"{ia_path}: column 'unique_paragraph_id' or 'paragraph_id' missing; the report "
            "must say which paragraph each trial showed."
        )
    report["participant_id"] = report["participant_id"].astype(str)
    report["ia"] = pd.to_numeric(report["IA_ID"], errors="raise").astype(np.int64)
    base = int(report.groupby(["participant_id", "TRIAL_INDEX"])["ia"].min().min())
    report["ia"] -= base
    report = report.sort_values(["participant_id", "TRIAL_INDEX", "ia"], kind="stable")
    key = ["participant_id", "TRIAL_INDEX"]
    first = report.drop_duplicates(key).reset_index(drop=True)
    words: dict[str, list[str]] = {}
    n_words = []
    for (participant, trial), rows in report.groupby(key, sort=False):
        item = str(rows[item_column].iloc[0])
        text = rows["IA_LABEL"].astype(str).tolist()
        if rows["ia"].tolist() != list(range(len(text))):
            raise NeuroalignError(
                f"{ia_path}: trial {participant}:{trial} has interest areas "
                f"{rows['ia'].tolist()[:5]}...; expected 0..{len(text) - 1} without gaps."
            )
        if words.setdefault(item, text) != text:
            raise NeuroalignError(
                f"{ia_path}: trial {participant}:{trial} shows paragraph {item!r} with other "
                "words than an earlier trial; the item column must identify the exact text."
            )
        n_words.append(len(text))
    group_cols = [c for c in ("article_batch", "article_id", "paragraph_id") if c in first]
    if {"article_id", "paragraph_id"} <= set(group_cols):
        item_group = first[group_cols].astype(str).agg("_".join, axis=1)
    else:
        item_group = first[item_column].astype(str)
    spans = [
        _span(v)
        for v in first.get("critical_span_indices", pd.Series([None] * len(first))).tolist()
    ]
    n = len(first)
    trials = pd.DataFrame(
        {
            "trial": first["participant_id"] + ":" + first["TRIAL_INDEX"].astype(str),
            "participant": first["participant_id"],
            "item": first[item_column].astype(str),
            "item_group": item_group.to_numpy(),
            "question": (
                first["question"].fillna("").astype(str) if "question" in first else [""] * n
            ),
            "goal": (
                _flag(first[GOAL_COLUMN], GOAL_COLUMN, str(ia_path))
                if GOAL_COLUMN in first
                else np.full(n, np.nan)
            ),
            "correct": (
                _flag(first[CORRECT_COLUMN], CORRECT_COLUMN, str(ia_path))
                if CORRECT_COLUMN in first
                else np.full(n, np.nan)
            ),
            "n_words": np.asarray(n_words, dtype=np.int64),
            "span_start": [s[0] for s in spans],
            "span_end": [s[1] for s in spans],
        }
    )
    trials["question_id"] = _question_ids(trials)
    if questions is not None:
        candidates, trials["question_index"] = _candidates_from_table(trials, questions)
    else:
        candidates, trials["question_index"] = _candidates(trials)
    fix = read_onestop_fixations(fix_path)
    row_of = {
        (p, int(t)): i
        for i, (p, t) in enumerate(zip(first["participant_id"], first["TRIAL_INDEX"], strict=True))
    }
    keys = list(zip(fix["participant"], fix["trial"].astype(int), strict=True))
    rows = np.array([row_of.get(k, -1) for k in keys], dtype=np.int64)
    if (rows < 0).any():
        p, t = keys[int(np.flatnonzero(rows < 0)[0])]
        raise NeuroalignError(
            f"{where}: trial {p}:{t} of the fixation report is not in the IA report; the two "
            "reports must come from the same session export."
        )
    fix = fix.assign(row=rows)
    off_text = fix["position"] < 0
    if off_text.any():
        logger.info("%s: %d fixations outside every interest area dropped", where, off_text.sum())
    fix = fix[~off_text].sort_values(["row", "index"], kind="stable")
    table = pd.DataFrame(
        {
            "trial": fix["row"].to_numpy(),
            "order": fix.groupby("row").cumcount().to_numpy(),
            "position": fix["position"].to_numpy(np.int64),
            "duration": fix["duration"].to_numpy(float),
        }
    )
    return ReadingTrials(trials, table, words, where, candidates)


def _candidates_from_table(
    trials: pd.DataFrame, path: str | Path
) -> tuple[dict[str, list[tuple[int, int]]], np.ndarray]:
    """Candidates from a question table; a trial's question must be one of its item's."""
    path = check_file(path, "candidate-question table")
    table = read_delimited(path, "candidate-question table", words=("question",))
    for column in ("unique_paragraph_id", "question", "critical_span_indices"):
        if column not in table:
            raise NeuroalignError(f"{path}: column {column!r} missing.")
    candidates: dict[str, list[tuple[int, int]]] = {}
    position: dict[tuple[str, str], int] = {}
    for item, rows in table.groupby(table["unique_paragraph_id"].astype(str), sort=False):
        candidates[item] = [_span(v) for v in rows["critical_span_indices"]]
        position.update({(item, str(q)): j for j, q in enumerate(rows["question"])})
    index = []
    for trial, item, question in zip(
        trials["trial"], trials["item"], trials["question"], strict=True
    ):
        if item in candidates and (item, question) not in position:
            raise NeuroalignError(
                f"{path}: trial {trial!r} was given a question that paragraph {item!r} does "
                "not list among its candidates."
            )
        index.append(position.get((item, question), np.nan))
    return candidates, np.asarray(index, float)


def _candidates(trials: pd.DataFrame) -> tuple[dict[str, list[tuple[int, int]]], np.ndarray]:
    """Each item's candidate questions (their spans, by question index) and each trial's index.

    A question counts when its trial marks a critical span; one question shown with two
    different spans is ambiguous and left out of the item's candidates.
    """
    spans: dict[str, dict[int, set]] = {}
    for qid, a, b in zip(
        trials["question_id"], trials["span_start"], trials["span_end"], strict=True
    ):
        if qid and a >= 0:
            item, q = qid.rsplit(":q", 1)
            spans.setdefault(item, {}).setdefault(int(q), set()).add((int(a), int(b)))
    candidates: dict[str, list[tuple[int, int]]] = {}
    position: dict[str, int] = {}
    for item, by_q in spans.items():
        kept = [q for q in sorted(by_q) if len(by_q[q]) == 1]
        candidates[item] = [next(iter(by_q[q])) for q in kept]
        position.update({f"{item}:q{q}": j for j, q in enumerate(kept)})
    index = np.array([position.get(q, np.nan) for q in trials["question_id"]], float)
    return candidates, index


def _question_ids(trials: pd.DataFrame) -> np.ndarray:
    """A question id per trial: item plus the question's index among that item's questions."""
    ids = []
    seen: dict[str, dict[str, int]] = {}
    for item, question in zip(trials["item"], trials["question"], strict=True):
        if not question:
            ids.append("")
            continue
        index = seen.setdefault(item, {}).setdefault(question, len(seen[item]))
        ids.append(f"{item}:q{index}")
    return np.asarray(ids, dtype=object)


def normalize_word(word: str) -> str:
    """Lower-case a word and strip its punctuation (how words are matched to features)."""
    return re.sub(r"[^\w]", "", str(word)).lower()
