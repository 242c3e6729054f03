"""Identification and retrieval between true and predicted embeddings, as MindEye scores them.

- **2-way identification** (`two_way_scores`, `two_way`): ``r = corrcoef(real, pred)[:N, N:]``;
  for each prediction ``j``, the fraction of the other images ``i`` with ``r[i, j] < r[j, j]``
  (count over the ``N - 1`` others), averaged over ``j``. Chance is 0.5.
- **Top-1 retrieval** (`retrieval`): cosine similarity within random subsets of
  ``min(300, N)`` items (30 subsets by default). Forward (brain -> image): each prediction
  picks the most similar true embedding of its subset; backward (image -> brain): each true
  embedding picks the most similar prediction. Chance is ``1 / subset_size``. These are the
  directions as MindEye's papers name them; their evaluation code's ``fwd_sim`` ranks the
  predictions for each image (its rows are images), so the column MindEye's code and tables
  call forward is our backward, and the reverse. With fewer than 300 items the subsets are
  smaller and chance higher: such numbers are not comparable with MindEye's (a warning says
  so).
- **Confidence intervals** (`bootstrap_ci`): percentile bootstrap of the mean of per-item scores
  (items resampled with replacement; each item's score is computed once on the full set).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from neuroalign._check import NeuroalignError

logger = logging.getLogger(__name__)

__all__ = [
    "RetrievalResult",
    "Score",
    "bootstrap_ci",
    "retrieval",
    "two_way",
    "two_way_scores",
]

#: MindEye's subset size and number of subsets for top-1 retrieval.
SUBSET_SIZE = 300
N_SUBSETS = 30


@dataclass(frozen=True)
class Score:
    """A mean over items with its percentile-bootstrap confidence interval and chance level."""

    value: float
    low: float
    high: float
    chance: float


def _pair(real, pred) -> tuple[np.ndarray, np.ndarray]:
    real = np.asarray(real, dtype=np.float64).reshape(len(real), -1)
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    if real.shape != pred.shape:
        raise NeuroalignError(
            f"real {real.shape} and predicted {pred.shape} features differ in shape; pass one "
            "row per image in the same order."
        )
    if len(real) < 2:
        raise NeuroalignError("identification needs at least 2 images.")
    return real, pred


def two_way_scores(real, pred) -> np.ndarray:
    """Per-prediction 2-way identification scores (MindEye's definition).

    Parameters
    ----------
    real, pred : array-like of shape (n_images, ...)
        True and predicted features, one row per image (flattened past the first axis).

    Returns
    -------
    scores : ndarray of shape (n_images,)
        For prediction ``j``: ``#{i != j : r[i, j] < r[j, j]} / (N - 1)`` with
        ``r = corrcoef(real, pred)[:N, N:]``.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((5, 8))
    >>> two_way_scores(x, x).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    real, pred = _pair(real, pred)
    n = len(real)
    r = np.corrcoef(real, pred)[:n, n:]
    diag = np.diag(r)
    return (r < diag[None, :]).sum(axis=0) / (n - 1)


def two_way(real, pred) -> float:
    """Mean 2-way identification (chance 0.5); see `two_way_scores`."""
    return float(two_way_scores(real, pred).mean())


def bootstrap_ci(
    values, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of per-item values.

    Parameters
    ----------
    values : array-like of shape (n_items,)
        One value per item (image).
    n_boot : int
        Bootstrap resamples of the items (with replacement).
    level : float
        Coverage of the interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    low, high : float
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


@dataclass(frozen=True)
class RetrievalResult:
    """Top-1 retrieval within random subsets.

    Attributes
    ----------
    forward, backward : ndarray of shape (n_items,)
        Per-item hit rate over the subsets holding the item (brain -> image, image -> brain);
        NaN for an item no subset drew.
    subset_forward, subset_backward : ndarray of shape (n_subsets,)
        Accuracy within each subset (their mean is MindEye's number).
    subset_size : int
    chance : float
        ``1 / subset_size``.
    """

    forward: np.ndarray
    backward: np.ndarray
    subset_forward: np.ndarray
    subset_backward: np.ndarray
    subset_size: int
    chance: float


def retrieval(
    real,
    pred,
    *,
    subset_size: int = SUBSET_SIZE,
    n_subsets: int = N_SUBSETS,
    seed: int = 0,
) -> RetrievalResult:
    """Forward and backward top-1 retrieval by cosine similarity within random subsets.

    Parameters
    ----------
    real, pred : array-like of shape (n_images, ...)
        True and predicted embeddings (flattened past the first axis).
    subset_size : int
        Items per subset; ``min(subset_size, n_images)`` is used (all images when fewer).
    n_subsets : int
        Random subsets drawn (each without replacement).
    seed : int
        Seed of the subset draws.

    Returns
    -------
    RetrievalResult

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((20, 8))
    >>> res = retrieval(x, x, n_subsets=3)
    >>> float(res.subset_forward.mean()), res.subset_size
    (1.0, 20)
    """
    real, pred = _pair(real, pred)
    n = len(real)
    size = min(int(subset_size), n)
    if size < subset_size:
        logger.warning(
            "retrieval among %d items, not %d: chance is 1/%d and the numbers are not "
            "comparable with subsets of %d",
            size,
            subset_size,
            size,
            subset_size,
        )
    real, pred = _unit(real), _unit(pred)
    rng = np.random.default_rng(seed)
    hits_f = np.zeros(n)
    hits_b = np.zeros(n)
    counts = np.zeros(n)
    sub_f = np.empty(n_subsets)
    sub_b = np.empty(n_subsets)
    for k in range(n_subsets):
        idx = rng.permutation(n)[:size]
        sim = pred[idx] @ real[idx].T  # sim[a, b]: prediction a against image b
        target = np.arange(size)
        fwd = sim.argmax(axis=1) == target
        bwd = sim.argmax(axis=0) == target
        sub_f[k], sub_b[k] = fwd.mean(), bwd.mean()
        hits_f[idx] += fwd
        hits_b[idx] += bwd
        counts[idx] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        forward = np.where(counts > 0, hits_f / counts, np.nan)
        backward = np.where(counts > 0, hits_b / counts, np.nan)
    return RetrievalResult(forward, backward, sub_f, sub_b, size, 1.0 / size)
