"""Split-half reliability of a localizer: select on one run, test on the other.

As in fMRI practice, the two runs of the language localizer hold disjoint items, so localizing on
run 1 and on run 2 gives two independent masks. Their overlap is compared with what two random
masks of the same fraction would share (Dice ``p``, Jaccard ``p / (2 - p)``), the two t maps are
rank-correlated, and a cross-validated effect (t in the held-out run of the units selected on
the other run) says whether selectivity generalizes to new items. Bootstrap resamples of items
within each (run, condition) give confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from neuroalign._check import NeuroalignError, check_range
from neuroalign.localize.stats import contrast


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient ``2|A&B| / (|A| + |B|)`` of two boolean masks (NaN if both empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else float("nan")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index ``|A&B| / |A|B|`` of two boolean masks (NaN if both empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else float("nan")


def chance_overlap(fraction: float) -> tuple[float, float]:
    """Expected (Dice, Jaccard) of two independent random masks that each keep ``fraction``."""
    check_range("fraction", fraction, 0.0, 1.0)
    return fraction, fraction / (2 - fraction)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two maps over the entries finite in both."""
    a, b = np.ravel(a), np.ravel(b)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


@dataclass(frozen=True)
class SplitResult:
    """Reliability of one split (or one bootstrap resample of it).

    Attributes
    ----------
    dice, jaccard : float
        Overlap of the masks selected on each half.
    spearman_t : float
        Spearman correlation of the two halves' t maps.
    cv_effect : float
        Mean held-out t of the units selected on the other half (average of both directions).
    masks : bool array of shape (2, ...)
        The mask of each half.
    t : array of shape (2, ...)
        The t map of each half.
    """

    dice: float
    jaccard: float
    spearman_t: float
    cv_effect: float
    masks: np.ndarray
    t: np.ndarray


def split_halves(
    acts: np.ndarray,
    positive: np.ndarray,
    half: np.ndarray,
    selector: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    absolute: bool = False,
) -> SplitResult:
    """Localize on each half of the items and compare.

    Parameters
    ----------
    acts : array of shape (n_items, n_layers, n_units)
        Activations.
    positive : bool array of shape (n_items,)
        Condition labels.
    half : array of shape (n_items,)
        Two distinct values (e.g. runs 1 and 2) naming each item's half.
    selector : callable
        ``selector(t, q) -> mask``: the selection rule applied to each half's t and q maps.
    absolute : bool, default=False
        Statistic on ``|a|``.
    """
    labels = np.unique(half)
    if labels.size != 2:
        raise NeuroalignError(
            f"split-half reliability needs exactly two splits, got {labels.size} "
            f"({', '.join(map(str, labels))}); give each item split 1 or 2"
        )
    ts, masks = [], []
    for label in labels:
        keep = half == label
        sel = contrast(acts[keep], positive[keep], absolute=absolute)
        ts.append(sel.t)
        masks.append(selector(sel.t, sel.q))
    cv = []
    for i in (0, 1):
        held = ts[1 - i][masks[i]]
        cv.append(float(np.nanmean(held)) if held.size else float("nan"))
    return SplitResult(
        dice=dice(*masks),
        jaccard=jaccard(*masks),
        spearman_t=spearman(*ts),
        cv_effect=float(np.mean(cv)),
        masks=np.stack(masks),
        t=np.stack(ts),
    )


def bootstrap_indices(
    strata: np.ndarray, n_boot: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Item indices of ``n_boot`` resamples with replacement within each stratum."""
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    return [
        np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        for _ in range(n_boot)
    ]


def bootstrap_splits(
    acts: np.ndarray,
    positive: np.ndarray,
    half: np.ndarray,
    selector: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    absolute: bool = False,
    n_boot: int = 100,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Bootstrap distribution of the split-half statistics.

    Items are resampled with replacement within each (half, condition), so each resample keeps
    the design. Returns a dict of arrays of shape (n_boot,): ``dice``, ``jaccard``,
    ``spearman_t``, ``cv_effect``.
    """
    positive = np.asarray(positive, bool)
    strata = np.char.add(np.asarray(half).astype(str), np.where(positive, "+", "-"))
    out: dict[str, list[float]] = {k: [] for k in ("dice", "jaccard", "spearman_t", "cv_effect")}
    for idx in bootstrap_indices(strata, n_boot, rng):
        res = split_halves(acts[idx], positive[idx], half[idx], selector, absolute=absolute)
        for key, values in out.items():
            values.append(getattr(res, key))
    return {k: np.asarray(v) for k, v in out.items()}


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile confidence interval of a bootstrap distribution (NaNs ignored)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo = (1 - level) / 2
    return float(np.quantile(values, lo)), float(np.quantile(values, 1 - lo))
