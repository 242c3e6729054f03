"""Grouped cross-validation of reading decoders over the three generalization regimes.

- ``item``: new paragraphs. Folds of ``item_group`` (a paragraph whatever its difficulty
  level): a test paragraph is never read in training, by anyone.
- ``participant``: new readers. Folds of participants.
- ``both``: new paragraphs read by new readers. Paragraphs and participants are each split
  into ``n_folds`` groups; fold (a, b) tests the trials whose paragraph is in group a AND
  whose reader is in group b, and trains on the trials whose paragraph is outside a AND whose
  reader is outside b (the crossed trials, a test paragraph read by a training reader or the
  reverse, are dropped from training). Every trial is tested once, over ``n_folds**2`` folds.

Scores: balanced accuracy (the mean of the per-class recalls; 0.5 is chance whatever the
class balance) with percentile bootstrap intervals (over trials, or whole participants), and
the out-of-fold predictions behind them for error tables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option

__all__ = [
    "REGIMES",
    "balanced_accuracy",
    "bootstrap_ci",
    "cross_validate",
    "error_table",
    "regime_folds",
]

#: The generalization regimes and what their test folds hold unseen in training.
REGIMES = {
    "item": "new paragraphs",
    "participant": "new participants",
    "both": "new paragraphs read by new participants",
}


def _group_folds(groups: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index per row: the distinct groups dealt round-robin in a random order."""
    names = np.unique(groups)
    order = rng.permutation(names.size)
    fold_of = np.empty(names.size, np.int64)
    fold_of[order] = np.arange(names.size) % n_folds
    return fold_of[np.searchsorted(names, groups)]


def regime_folds(
    trials: pd.DataFrame, regime: str, n_folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (train, test) row indices of each fold of ``regime``.

    Parameters
    ----------
    trials : DataFrame
        :attr:`ReadingTrials.trials` (columns ``item_group`` and ``participant``).
    regime : {"item", "participant", "both"}
    n_folds : int
        Folds per grouping, at most the number of groups (``both`` has ``n_folds**2`` folds).
    seed : int

    Raises
    ------
    NeuroalignError
        If a grouping has fewer than 2 groups.
    """
    check_option("regime", regime, list(REGIMES))
    rng = np.random.default_rng([seed, 3])
    items = trials["item_group"].to_numpy().astype(str)
    people = trials["participant"].to_numpy().astype(str)

    def folds_of(groups: np.ndarray, what: str) -> tuple[np.ndarray, int]:
        k = min(n_folds, np.unique(groups).size)
        if k < 2:
            raise NeuroalignError(
                f"regime {regime!r}: {np.unique(groups).size} distinct {what}; at least 2 are "
                "needed to hold some out."
            )
        return _group_folds(groups, k, rng), k

    out = []
    if regime == "item":
        fold, k = folds_of(items, "paragraphs")
        out = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]
    elif regime == "participant":
        fold, k = folds_of(people, "participants")
        out = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]
    else:
        item_fold, ki = folds_of(items, "paragraphs")
        person_fold, kp = folds_of(people, "participants")
        for a in range(ki):
            for b in range(kp):
                test = np.flatnonzero((item_fold == a) & (person_fold == b))
                train = np.flatnonzero((item_fold != a) & (person_fold != b))
                if test.size:
                    out.append((train, test))
    return out


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (NaN with one class).

    Equals :func:`sklearn.metrics.balanced_accuracy_score` for two or more classes.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    if classes.size < 2:
        return float("nan")
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metric: Callable[[np.ndarray, np.ndarray], float] = balanced_accuracy,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric``.

    Trials are resampled with replacement, or with ``groups`` (participants, say) whole groups
    are (a cluster bootstrap: a reader's trials share the reader's errors, so resampling
    trials alone would make the interval too narrow). NaN when ``y_true`` has one class or
    ``n_bootstrap`` is 0.
    """
    rng = np.random.default_rng([seed, 5])
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0 or np.unique(y_true).size < 2 or n_bootstrap < 1:
        return float("nan"), float("nan")
    if groups is None:
        members = [np.array([i]) for i in range(y_true.size)]
    else:
        codes = np.unique(np.asarray(groups), return_inverse=True)[1]
        members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    stats = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, len(members), len(members))
        index = np.concatenate([members[g] for g in pick])
        value = metric(y_true[index], y_pred[index])
        if np.isfinite(value):
            stats.append(value)
    if not stats:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def cross_validate(
    trials,
    fit_predict: Callable[[object, object], np.ndarray],
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Out-of-fold P(label = 1) per trial (NaN for trials no fold tests).

    ``fit_predict(train_trials, test_trials)`` fits a fresh decoder and returns its
    probabilities on the test trials; ``trials`` is a :class:`ReadingTrials`.
    """
    proba = np.full(len(trials), np.nan)
    for train, test in folds:
        proba[test] = fit_predict(trials.subset(train), trials.subset(test))
    return proba


def error_table(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Error rate and trial count per group (rows sorted by group)."""
    frame = pd.DataFrame({"group": groups, "error": np.asarray(y_true) != np.asarray(y_pred)})
    out = frame.groupby("group")["error"].agg(["mean", "size"])
    return out.rename(columns={"mean": "error_rate", "size": "n_trials"})
