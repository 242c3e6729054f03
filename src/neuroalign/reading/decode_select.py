"""Goal selection: which of a paragraph's candidate questions an information seeker was given.

The open-ended variant of goal decoding. A paragraph has k candidate questions, each with its
critical span (:attr:`ReadingTrials.candidates`); an information-seeking reader was given one
and reads for it. A selector scores every (trial, candidate) pair and chooses the candidate
with the highest score, so chance is 1/k. Selectors share one interface (``fit(trials)``,
``predict_proba(trials)`` -> P(candidate) per trial and candidate, NaN where an item has fewer);
:data:`SELECTORS` names them and :func:`register_selector` adds one:

- ``eye``: a conditional logit over the candidates. Each pair is described by the reader's
  measures on the candidate's span (dwell share over the span's share of words, coverage,
  first-pass skipping, regressions into the span, log-duration gain), each minus its mean
  over the trial's other candidates (candidate vs rest); a logistic regression on the pairs
  (given candidate 1, others 0) fitted on the training trials gives scores, a softmax over a
  trial's candidates the probabilities.
- ``text``: the text-only baseline of the task: the same model on the candidates' text alone
  (the span's place and width in the paragraph and its pooled word vectors, candidate vs
  rest). The text is the same whichever question was given, so it stays at chance unless the
  assignment of questions follows the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from neuroalign._check import NeuroalignError, suggest
from neuroalign.reading.decode_data import ReadingTrials
from neuroalign.reading.decoders import WordFeatures

__all__ = [
    "SELECTION_MEASURES",
    "SELECTORS",
    "EyeSelector",
    "Selector",
    "TextSelector",
    "candidate_measures",
    "make_selector",
    "register_selector",
]

#: Reading measures of a trial on one candidate's span (columns of :func:`candidate_measures`).
SELECTION_MEASURES = (
    "dwell_share_gain",
    "span_coverage",
    "first_pass_skip",
    "regressions_into_span",
    "log_duration_gain",
)


def _max_k(trials: ReadingTrials) -> int:
    return int(max([len(v) for v in trials.candidates.values()], default=0))


def candidate_measures(trials: ReadingTrials) -> np.ndarray:
    """Reading measures of each trial on each candidate's span.

    Returns
    -------
    measures : ndarray, shape (n_trials, k_max, len(SELECTION_MEASURES))
        NaN for candidates an item does not have.
    """
    k_max = _max_k(trials)
    out = np.full((len(trials), k_max, len(SELECTION_MEASURES)), np.nan)
    for i, item in enumerate(trials.trials["item"]):
        positions, durations = trials.sequence(i)
        n = int(trials.trials["n_words"].iloc[i])
        log_d = np.log(np.maximum(durations, 1.0))
        previous = np.concatenate([[-1], positions[:-1]])
        rightmost = np.maximum.accumulate(np.concatenate([[-1], positions[:-1]]))
        first_pass = np.zeros(n, bool)
        first_pass[positions[positions >= rightmost]] = True
        fixated = np.zeros(n, bool)
        fixated[positions] = True
        total = durations.sum()
        n_regress = max(1, int((previous > positions).sum()))
        for c, (a, b) in enumerate(trials.candidates.get(item, ())):
            inside = (positions >= a) & (positions < b)
            share = durations[inside].sum() / total if total > 0 else 0.0
            out[i, c] = (
                share - (b - a) / n,
                fixated[a:b].mean(),
                1.0 - first_pass[a:b].mean(),
                ((previous > positions) & inside & ((previous >= b) | (previous < a))).sum()
                / n_regress,
                log_d[inside].mean() - log_d.mean() if inside.any() else 0.0,
            )
    return out


def _versus_rest(x: np.ndarray) -> np.ndarray:
    """Each candidate's features minus the mean of the trial's other candidates."""
    valid = ~np.isnan(x[..., 0])
    k = valid.sum(axis=1)[:, None, None]
    total = np.nansum(np.where(valid[..., None], x, 0.0), axis=1, keepdims=True)
    rest = (total - np.where(valid[..., None], x, 0.0)) / np.maximum(k - 1, 1)
    return np.where(valid[..., None], x - rest, np.nan)


class Selector:
    """Interface of a goal-selection decoder (see the module docstring)."""

    name: ClassVar[str] = ""

    def __init__(self, features: WordFeatures, seed: int = 0, **params: Any) -> None:
        self.features = features
        self.seed = seed
        self.params = params

    def fit(self, trials: ReadingTrials) -> Selector:
        """Fit on the trials whose ``goal_selection`` label is known."""
        raise NotImplementedError

    def predict_proba(self, trials: ReadingTrials) -> np.ndarray:
        """P(candidate given) per trial and candidate, shape (n_trials, k_max); NaN: none."""
        raise NotImplementedError


SELECTORS: dict[str, type[Selector]] = {}


def register_selector(name: str) -> Callable[[type[Selector]], type[Selector]]:
    """Class decorator: register a :class:`Selector` under ``name``."""

    def wrap(cls: type[Selector]) -> type[Selector]:
        cls.name = name
        SELECTORS[name] = cls
        return cls

    return wrap


def make_selector(name: str, features: WordFeatures, seed: int = 0, **params: Any) -> Selector:
    """Build the registered selector ``name``."""
    if name not in SELECTORS:
        raise NeuroalignError(
            f"unknown selector {name!r}; registered: {', '.join(SELECTORS)}."
            f"{suggest(name, SELECTORS)}"
        )
    return SELECTORS[name](features, seed=seed, **params)


class _PairLogit(Selector):
    """Conditional logit through a logistic regression on candidate-vs-rest pair features."""

    def _pairs(self, trials: ReadingTrials) -> np.ndarray:
        raise NotImplementedError

    def _scores(self, trials: ReadingTrials, k_max: int) -> np.ndarray:
        x = _versus_rest(self._pairs(trials))
        out = np.full((len(trials), k_max), np.nan)
        valid = ~np.isnan(x[..., 0])
        k = min(k_max, x.shape[1])
        if valid.any():
            z = self.model.decision_function(self.scaler.transform(x[valid]))
            scores = np.full(x.shape[:2], np.nan)
            scores[valid] = z
            out[:, :k] = scores[:, :k]
        return out

    def fit(self, trials: ReadingTrials) -> Selector:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        y = trials.labels("goal_selection")
        keep = ~np.isnan(y)
        x = _versus_rest(self._pairs(trials))[keep]
        target = np.arange(x.shape[1])[None, :] == y[keep][:, None]
        valid = ~np.isnan(x[..., 0])
        self.scaler = StandardScaler().fit(x[valid])
        self.model = LogisticRegression(C=self.params.get("C", 1.0), max_iter=1000)
        self.model.fit(self.scaler.transform(x[valid]), target[valid].astype(int))
        return self

    def predict_proba(self, trials: ReadingTrials) -> np.ndarray:
        scores = self._scores(trials, _max_k(trials))
        scores = scores - np.nanmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)[:, None]
        e = np.exp(scores)
        return e / np.nansum(e, axis=1, keepdims=True)


@register_selector("eye")
class EyeSelector(_PairLogit):
    """Conditional logit on the reader's measures on each candidate's span."""

    def _pairs(self, trials: ReadingTrials) -> np.ndarray:
        return candidate_measures(trials)


@register_selector("text")
class TextSelector(_PairLogit):
    """Text-only baseline: the candidates' spans as text (place, width, pooled word vectors)."""

    def _pairs(self, trials: ReadingTrials) -> np.ndarray:
        k_max = _max_k(trials)
        dim = self.features.dim
        out = np.full((len(trials), k_max, 2 + dim), np.nan)
        for i, item in enumerate(trials.trials["item"]):
            n = int(trials.trials["n_words"].iloc[i])
            vectors = np.asarray(self.features.items[item])
            for c, (a, b) in enumerate(trials.candidates.get(item, ())):
                out[i, c, :2] = a / n, (b - a) / n
                out[i, c, 2:] = vectors[a:b].mean(axis=0)
        return out


def choose(proba: np.ndarray) -> np.ndarray:
    """The chosen candidate per trial (argmax of ``proba``; -1 where a row is all NaN)."""
    filled = np.where(np.isnan(proba), -np.inf, proba)
    pick = filled.argmax(axis=1) if proba.shape[1] else np.zeros(len(proba), int)
    return np.where(np.isfinite(filled).any(axis=1) if proba.shape[1] else False, pick, -1)
