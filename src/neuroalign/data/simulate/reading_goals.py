"""Paragraph reading under two goals, with comprehension questions (``sim_reading_goals``).

Every simulated participant reads every paragraph once (participants x items crossed), half of
them with the question shown first (information seeking, OneStop's ``question_preview``) and
half without (ordinary reading). Each paragraph has a critical span (the words that answer its
question). Per trial, a first pass runs left to right over the words::

    P(skip word j) = logistic(s0 + s_len * (letters_j - mean) + reader bias
                              + goal * (skip_outside if j outside the span else skip_inside))
    log duration   = d0 + d_len * (letters_j - mean) + reader speed + goal * span_dwell * in_span
                     + N(0, noise_sd^2)

After the span's last word, a reader regresses into the span (re-reads a few of its words) with
probability ``logistic(r0 + goal * regress_into_span)``; elsewhere a fixated word is followed by
a one-word regression with probability ``regression``. The question is answered correctly with
probability ``logistic(c0 + c_cov * (coverage - 0.75) + item effect)``, coverage being the share
of the span's words fixated at least once. So information-seeking readers skip more outside
the span and come back to it, and comprehension rides on fixations of the span.

The dataset has a fixation report (``fixations.csv``) and an interest-area report (``ia.csv``)
in the columns of the OneStop EyeLink Data Viewer exports, measures computed from the
fixations. With ``null_copy`` the folder ``null/`` holds the same two reports with the goal and
comprehension labels shuffled within each participant: the planted null, where any decoder
must stay at chance.

With ``n_questions`` k >= 2, each paragraph has k candidate questions with disjoint critical
spans (``questions.csv``); every trial is given one, drawn uniformly, and the goal effects act
on that question's span (goal selection: which question the reader had). The null's given
questions are drawn anew, independent of the truth. With k = 1 the reports are those above.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.settings import SimReadingGoalsSettings
from neuroalign.data.simulate.story import chapter_words, load_story

logger = logging.getLogger(__name__)

DATASET_ID = "sim_reading_goals"
FIXATIONS = "fixations.csv"
IA = "ia.csv"
QUESTIONS = "questions.csv"
NULL_DIR = "null"
MISSING = "."
_WORDS_PER_LINE = 12


def paragraphs(stories: list[str]) -> list[dict]:
    """Return the paragraphs of ``stories``: ids, title and words, in story order."""
    chapters = load_story()
    names = list(chapters)
    out = []
    for name in stories:
        words = chapter_words()[name]
        for p, rows in words.groupby("paragraph", sort=True):
            out.append(
                {
                    "article_id": names.index(name) + 1,
                    "article_title": chapters[name].title,
                    "paragraph_id": int(p) + 1,
                    "words": rows["word"].astype(str).tolist(),
                }
            )
    return out


def ia_measures(positions: np.ndarray, durations: np.ndarray, n_words: int) -> pd.DataFrame:
    """Interest-area measures of one trial from its fixation sequence (EyeLink definitions).

    Parameters
    ----------
    positions : ndarray of int, shape (n_fixations,)
        0-based word of each fixation, in order.
    durations : ndarray, shape (n_fixations,)
        Durations (ms).
    n_words : int

    Returns
    -------
    measures : DataFrame, one row per word
        ``IA_FIXATION_COUNT``, ``IA_DWELL_TIME``, ``IA_SKIP`` (not fixated before a word to
        its right was), ``IA_FIRST_FIXATION_DURATION``, ``IA_FIRST_RUN_DWELL_TIME``,
        ``IA_REGRESSION_PATH_DURATION``, ``IA_SECOND_RUN_DWELL_TIME`` (NaN where undefined),
        ``IA_REGRESSION_IN`` (entered from a word to its right).
    """
    count = np.bincount(positions, minlength=n_words)
    dwell = np.bincount(positions, weights=durations, minlength=n_words)
    skip = np.ones(n_words, int)
    ffd = np.full(n_words, np.nan)
    first_run = np.full(n_words, np.nan)
    rpd = np.full(n_words, np.nan)
    second_run = np.full(n_words, np.nan)
    regression_in = np.zeros(n_words, int)
    runs = np.zeros(n_words, int)
    rightmost = -1
    for t, (j, d) in enumerate(zip(positions, durations, strict=True)):
        previous = positions[t - 1] if t else -1
        if j != previous:
            runs[j] += 1
            if previous > j:
                regression_in[j] = 1
        if runs[j] == 1 and j != previous and rightmost <= j and np.isnan(ffd[j]):
            skip[j] = 0
            ffd[j] = d
            first_run[j] = 0.0
            path = 0.0
            for jj, dd in zip(positions[t:], durations[t:], strict=True):
                if jj > j:
                    break
                path += dd
            rpd[j] = path
        if runs[j] == 1 and not skip[j]:
            first_run[j] += d
        if runs[j] == 2:
            second_run[j] = (0.0 if np.isnan(second_run[j]) else second_run[j]) + d
        rightmost = max(rightmost, j)
    return pd.DataFrame(
        {
            "IA_FIXATION_COUNT": count,
            "IA_DWELL_TIME": dwell.round().astype(int),
            "IA_SKIP": skip,
            "IA_FIRST_FIXATION_DURATION": ffd,
            "IA_FIRST_RUN_DWELL_TIME": first_run,
            "IA_REGRESSION_PATH_DURATION": rpd,
            "IA_SECOND_RUN_DWELL_TIME": second_run,
            "IA_REGRESSION_IN": regression_in,
        }
    )


def _logistic(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def read_trial(
    letters: np.ndarray,
    span: tuple[int, int],
    goal: int,
    reader: tuple[float, float],
    rng: np.random.Generator,
    cfg: SimReadingGoalsSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one reading of a paragraph; return fixated word positions and durations (ms)."""
    a, b = span
    n = len(letters)
    centered = letters - letters.mean()
    in_span = (np.arange(n) >= a) & (np.arange(n) < b)
    shift = np.where(in_span, cfg.goal.skip_inside, cfg.goal.skip_outside) * goal
    p_skip = _logistic(cfg.skip.intercept + cfg.skip.length * centered + reader[0] + shift)
    mu = (
        cfg.duration.intercept
        + cfg.duration.length * centered
        + reader[1]
        + goal * cfg.goal.span_dwell * in_span
    )
    positions: list[int] = []

    def fixate(j: int) -> None:
        positions.append(j)

    for j in range(n):
        if j == 0 or rng.random() >= p_skip[j]:
            fixate(j)
            if rng.random() < cfg.refixation * letters[j]:
                fixate(j)
            if j > 1 and rng.random() < cfg.regression:
                fixate(j - 1)
                fixate(j)
        if j == b - 1 and b > a:
            p_back = _logistic(cfg.goal.regress_intercept + goal * cfg.goal.regress_into_span)
            if rng.random() < p_back:
                start = int(rng.integers(a, b))
                for jj in range(start, min(b, start + int(rng.integers(2, 7)))):
                    fixate(jj)
    positions_arr = np.asarray(positions, dtype=np.int64)
    log_d = mu[positions_arr] + rng.normal(0.0, cfg.duration.noise_sd, len(positions_arr))
    durations = np.clip(np.round(np.exp(log_d)), 50, 1500)
    return positions_arr, durations


def simulate_reading_goals(
    output: str | Path, settings: SimReadingGoalsSettings | None = None
) -> Path:
    """Simulate goal-dependent paragraph reading with comprehension and write ``output``.

    Writes ``fixations.csv`` and ``ia.csv`` (OneStop columns), with ``null_copy`` a ``null/``
    copy whose labels are shuffled within participant, a README and
    ``dataset_description.json``, and the planted truth in ``derivatives/neuroalign-truth``.

    Parameters
    ----------
    output : str or Path
        The dataset directory, written atomically.
    settings : SimReadingGoalsSettings, optional
        The config's ``simulate.reading_goals`` section (default: the schema's defaults); its
        ``seed`` (None: 0) fixes the reports bitwise.

    Returns
    -------
    output : Path
    """
    cfg = settings or SimReadingGoalsSettings()
    seed = cfg.seed or 0
    rng = np.random.default_rng([seed, 17])
    items = paragraphs(list(cfg.stories))
    n_items, n_part = len(items), cfg.n_participants
    participants = [f"r{p + 1:02d}" for p in range(n_part)]
    spans = []
    for item in items:
        n = len(item["words"])
        width = max(3, round(cfg.span_fraction * n))
        start = int(rng.integers(0, n - width + 1))
        spans.append((start, start + width))
    candidates = _candidate_spans(items, cfg, seed)
    item_effect = rng.normal(0.0, cfg.comprehension.item_sd, n_items)
    readers = np.column_stack(
        [rng.normal(0.0, cfg.reader_sd, n_part), rng.normal(0.0, cfg.reader_sd / 3, n_part)]
    )
    fix_rows, ia_rows, truth_rows = [], [], []
    given_rng = np.random.default_rng([seed, 20])
    for p, participant in enumerate(participants):
        order = rng.permutation(n_items)
        goals = np.zeros(n_items, int)
        goals[order[: n_items // 2]] = 1
        given = _given_questions(goals, cfg.n_questions, given_rng)
        for trial_index, i in enumerate(order, start=1):
            item, (a, b), goal = items[i], spans[i], int(goals[i])
            if candidates is not None:
                a, b = candidates[i][given[i]]
            words = item["words"]
            letters = np.array([max(1, sum(ch.isalnum() for ch in w)) for w in words], float)
            positions, durations = read_trial(letters, (a, b), goal, tuple(readers[p]), rng, cfg)
            coverage = float(np.isin(np.arange(a, b), positions).mean())
            c = cfg.comprehension
            p_correct = _logistic(
                c.intercept + c.span_coverage * (coverage - 0.75) + item_effect[i]
            )
            correct = bool(rng.random() < p_correct)
            level = "Adv" if item["paragraph_id"] % 2 else "Ele"
            meta = {
                "article_batch": 1,
                "article_id": item["article_id"],
                "article_title": item["article_title"],
                "paragraph_id": item["paragraph_id"],
                "difficulty_level": level,
                "question": _question(words[a:b])
                if candidates is None
                else _candidate_questions(words, candidates[i])[given[i]],
                "question_preview": bool(goal),
                "is_correct": correct,
                "selected_answer": "A" if correct else "B",
                "repeated_reading_trial": False,
                "critical_span_indices": f"[({a},{b})]",
                "unique_paragraph_id": f"1_{item['article_id']}_{item['paragraph_id']}_{level}",
            }
            onset = np.concatenate([[0.0], np.cumsum(durations + 30.0)[:-1]]) + 500.0
            x = 100 + 60 * (positions % _WORDS_PER_LINE) + 25
            y = 200 + 50 * (positions // _WORDS_PER_LINE)
            fix_rows.append(
                pd.DataFrame(
                    {
                        "participant_id": participant,
                        "TRIAL_INDEX": trial_index,
                        "CURRENT_FIX_INDEX": np.arange(1, len(positions) + 1),
                        "CURRENT_FIX_START": onset.astype(int),
                        "CURRENT_FIX_END": (onset + durations).astype(int),
                        "CURRENT_FIX_DURATION": durations.astype(int),
                        "CURRENT_FIX_X": x,
                        "CURRENT_FIX_Y": y,
                        "CURRENT_FIX_INTEREST_AREA_ID": positions + 1,
                        "CURRENT_FIX_INTEREST_AREA_LABEL": [words[j] for j in positions],
                        "EYE_TRACKED": "Right",
                        **meta,
                    }
                )
            )
            measures = ia_measures(positions, durations, len(words))
            ia = pd.DataFrame(
                {
                    "participant_id": participant,
                    "TRIAL_INDEX": trial_index,
                    "IA_ID": np.arange(len(words)),
                    "IA_LABEL": words,
                    "word_length": [len(w) for w in words],
                    "word_length_no_punctuation": letters.astype(int),
                    **{k: _cells(v) for k, v in measures.items()},
                    "TRIAL_DWELL_TIME": int(durations.sum()),
                    "TRIAL_FIXATION_COUNT": len(positions),
                    "TRIAL_IA_COUNT": len(words),
                    **meta,
                }
            )
            ia_rows.append(ia)
            truth_rows.append(
                (participant, meta["unique_paragraph_id"], goal, correct, coverage, given[i])
            )
    fixations = pd.concat(fix_rows, ignore_index=True)
    ia_report = pd.concat(ia_rows, ignore_index=True)
    trials = pd.DataFrame(
        truth_rows, columns=["participant", "item", "goal", "correct", "coverage", "given"]
    )
    item_ids = [
        f"1_{it['article_id']}_{it['paragraph_id']}_" + ("Adv" if it["paragraph_id"] % 2 else "Ele")
        for it in items
    ]
    logger.info("simulating %s: %d participants x %d paragraphs", DATASET_ID, n_part, n_items)
    with atomic_path(Path(output)) as tmp:
        tmp.mkdir()
        fixations.to_csv(tmp / FIXATIONS, index=False)
        ia_report.to_csv(tmp / IA, index=False)
        table = None
        if candidates is not None:
            table = _questions_table(items, item_ids, candidates)
            table.to_csv(tmp / QUESTIONS, index=False)
        if cfg.null_copy:
            null = tmp / NULL_DIR
            null.mkdir()
            shuffled = _shuffle_labels(trials, np.random.default_rng([seed, 18]))
            if table is not None:
                shuffled = _shuffle_given(
                    shuffled, cfg.n_questions, np.random.default_rng([seed, 21])
                )
                table.to_csv(null / QUESTIONS, index=False)
            for name, frame in ((FIXATIONS, fixations), (IA, ia_report)):
                _relabel(frame, shuffled, table).to_csv(null / name, index=False)
        bids.write_dataset_description(
            tmp, "neuroalign simulated goal-directed reading", description=_DESCRIPTION
        )
        (tmp / "README").write_text(_README + (_README_QUESTIONS if candidates else ""))
        truth = xr.Dataset(
            {
                "goal": ("trial", trials["goal"].to_numpy()),
                "correct": ("trial", trials["correct"].to_numpy()),
                "span_coverage": ("trial", trials["coverage"].to_numpy()),
                "span_start": ("item", [s[0] for s in spans]),
                "span_end": ("item", [s[1] for s in spans]),
                "item_effect": ("item", item_effect),
                "reader_skip_bias": ("participant", readers[:, 0]),
                "reader_speed": ("participant", readers[:, 1]),
                **(
                    {}
                    if candidates is None
                    else {
                        "given_question": ("trial", trials["given"].to_numpy()),
                        "candidate_start": (
                            ("item", "question"),
                            [[c[0] for c in cs] for cs in candidates],
                        ),
                        "candidate_end": (
                            ("item", "question"),
                            [[c[1] for c in cs] for cs in candidates],
                        ),
                    }
                ),
            },
            coords={
                "trial_participant": ("trial", trials["participant"].to_numpy()),
                "trial_item": ("trial", trials["item"].to_numpy()),
                "item": item_ids,
                "participant": participants,
            },
        )
        truth.attrs.update(
            provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
        )
        summary = {
            "dataset": DATASET_ID,
            "seed": seed,
            "settings": cfg.to_dict(),
            "reports": [FIXATIONS, IA] + ([QUESTIONS] if candidates is not None else []),
            "n_questions": cfg.n_questions,
            "null": f"{NULL_DIR}/ (labels shuffled within participant)" if cfg.null_copy else None,
            "n_participants": n_part,
            "n_items": n_items,
            "planted": (
                "goal: skip_outside, skip_inside, span_dwell, regress_into_span; "
                "comprehension: span_coverage"
                + ("; goal selection: the given question's span" if candidates is not None else "")
            ),
        }
        bids.write_truth(tmp, truth, summary)
    return Path(output)


def _candidate_spans(
    items: list[dict], cfg: SimReadingGoalsSettings, seed: int
) -> list[list[tuple[int, int]]] | None:
    """Disjoint critical spans of each paragraph's candidate questions (None: one question).

    The paragraph is cut into ``n_questions`` equal segments and each question's span (the
    width of the single-question span, at most a segment) lies at a random place in its own
    segment. A generator of its own, so the single-question draws are unchanged.
    """
    k = cfg.n_questions
    if k < 2:
        return None
    rng = np.random.default_rng([seed, 19])
    out = []
    for item in items:
        n = len(item["words"])
        edges = np.linspace(0, n, k + 1).round().astype(int)
        width = min(max(3, round(cfg.span_fraction * n)), int(np.diff(edges).min()))
        if width < 1:
            raise NeuroalignError(
                f"simulate.reading_goals: a paragraph of {n} words cannot hold "
                f"n_questions={k} spans."
            )
        spans = []
        for lo, hi in itertools.pairwise(edges):
            start = int(rng.integers(lo, hi - width + 1))
            spans.append((start, start + width))
        out.append(spans)
    return out


def _given_questions(goals: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Given question per paragraph for one reader: each drawn uniformly among the k.

    Independent draws, not a balanced design: balancing each reader's questions would make a
    held-out fold's questions the complement of the training folds', so that a decoder that
    learns no more than the training majority scores below chance.
    """
    if k < 2:
        return np.zeros(goals.size, int)
    return rng.integers(0, k, goals.size)


def _candidate_questions(words: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """One question text per candidate span (numbered where two would read alike)."""
    texts = [_question(words[a:b]) for a, b in spans]
    if len(set(texts)) < len(texts):
        texts = [f"{t[:-1]} ({q + 1})?" for q, t in enumerate(texts)]
    return texts


def _questions_table(
    items: list[dict], item_ids: list[str], candidates: list[list[tuple[int, int]]]
) -> pd.DataFrame:
    rows = []
    for item, item_id, spans in zip(items, item_ids, candidates, strict=True):
        texts = _candidate_questions(item["words"], spans)
        for q, ((a, b), text) in enumerate(zip(spans, texts, strict=True)):
            rows.append(
                {
                    "unique_paragraph_id": item_id,
                    "question_id": q,
                    "question": text,
                    "critical_span_indices": f"[({a},{b})]",
                    "span_words": " ".join(item["words"][a:b]),
                }
            )
    return pd.DataFrame(rows)


def _question(span_words: list[str]) -> str:
    content = sorted({w.strip(".,;:!?\"'").lower() for w in span_words}, key=lambda w: -len(w))
    topic = " and the ".join(content[:2]) if content else "it"
    return f"What does the paragraph say about the {topic}?"


def _cells(values: pd.Series) -> np.ndarray:
    v = values.to_numpy(float)
    return np.where(np.isnan(v), MISSING, np.nan_to_num(v).round().astype(int).astype(str))


def _shuffle_labels(trials: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Shuffle goal and comprehension (independently) within each participant."""
    out = trials.copy()
    for _, index in trials.groupby("participant").groups.items():
        index = np.asarray(index)
        out.loc[index, "goal"] = trials.loc[rng.permutation(index), "goal"].to_numpy()
        out.loc[index, "correct"] = trials.loc[rng.permutation(index), "correct"].to_numpy()
    return out


def _shuffle_given(trials: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """The null's given questions: drawn anew for every trial, independent of the truth.

    (Permuting the given questions within a participant would keep the truth of the trials a
    permutation maps onto themselves, and make held-out folds complement the training folds.)
    """
    out = trials.copy()
    out["given"] = rng.integers(0, k, len(trials))
    return out


def _relabel(
    frame: pd.DataFrame, labels: pd.DataFrame, questions: pd.DataFrame | None = None
) -> pd.DataFrame:
    key = labels.set_index(["participant", "item"])
    index = pd.MultiIndex.from_arrays([frame["participant_id"], frame["unique_paragraph_id"]])
    out = frame.copy()
    out["question_preview"] = key["goal"].reindex(index).astype(bool).to_numpy()
    out["is_correct"] = key["correct"].reindex(index).astype(bool).to_numpy()
    out["selected_answer"] = np.where(out["is_correct"], "A", "B")
    if questions is not None:
        given = key["given"].reindex(index).to_numpy()
        bank = questions.set_index(["unique_paragraph_id", "question_id"])
        pick = pd.MultiIndex.from_arrays([frame["unique_paragraph_id"], given])
        out["question"] = bank["question"].reindex(pick).to_numpy()
        out["critical_span_indices"] = bank["critical_span_indices"].reindex(pick).to_numpy()
    return out


_DESCRIPTION = (
    "Simulated goal-directed paragraph reading with planted goal and comprehension effects."
)
_README = """Simulated goal-directed reading (neuroalign).

fixations.csv (one row per fixation) and ia.csv (one row per word and trial) are in the columns
of the OneStop EyeLink Data Viewer exports. Every participant reads every paragraph of
neuroalign's bundled story once, half with the question shown first (question_preview True:
information seeking) and half without. Information-seeking readers skip more words outside the
paragraph's critical span (critical_span_indices) and regress into it; answering the question
correctly (is_correct) depends on how much of the span was fixated. null/ holds the same
reports with both labels shuffled within each participant (a planted null). The planted truth
is in derivatives/neuroalign-truth/. These are not real data.
"""
_README_QUESTIONS = """
Each paragraph has several candidate questions: questions.csv lists them, each with its critical
span; each trial's question and critical_span_indices are the one it was given, and
information-seeking readers read for that span. null/ draws the given questions anew.
"""
