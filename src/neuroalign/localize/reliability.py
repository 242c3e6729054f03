"""Split-half reliability of a localizer: select on one run, test on the other.

As in fMRI practice, the two runs of the language localizer hold disjoint items, so localizing on
run 1 and on run 2 gives two independent masks. Their overlap is compared with what two random
masks of the same fraction would share (Dice ``p``, Jaccard ``p / (2 - p)``), the two t maps are
rank-correlated, and a cross-validated effect (t in the held-out run of the units selected on
the other run) says whether selectivity generalizes to new items.

Uncertainty, two ways, each with its stated meaning:

- The overlap and rank measures (Dice, Jaccard, Spearman) are reported with their **re-split
  distribution** (:func:`resplit_distribution`): items are re-assigned at random to two halves of
  the run sizes within each condition, and the statistic recomputed. Under exchangeable items the
  observed run split is one draw of this distribution, so its central ``level`` range holds the
  observed value with probability ``level``. It is a distribution, not a confidence interval: a
  bootstrap of these selection statistics is not centred on them (a resample with repeated items
  is a noisier localizer, so every resample's overlap sits below the observed one and percentile
  intervals exclude their own estimate).
- The cross-validated effect (a mean of held-out t values, smooth in the items) gets a
  bias-corrected and accelerated (BCa) bootstrap interval (:func:`stratified_bootstrap`, through
  :func:`scipy.stats.bootstrap`, items resampled within run x condition), nominal coverage
  ``level``; NaN where BCa is undefined (every resample on one side of the estimate).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from neuroalign._check import NeuroalignError, check_range
from neuroalign.localize.stats import contrast

STATISTICS = ("dice", "jaccard", "spearman_t", "cv_effect")


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
    """Bootstrap distribution of the split-half statistics (not centred on them: see above).

    Items are resampled with replacement within each (half, condition), so each resample keeps
    the design. Returns a dict of arrays of shape (n_boot,): ``dice``, ``jaccard``,
    ``spearman_t``, ``cv_effect``.
    """
    positive = np.asarray(positive, bool)
    strata = np.char.add(np.asarray(half).astype(str), np.where(positive, "+", "-"))
    out: dict[str, list[float]] = {k: [] for k in STATISTICS}
    for idx in bootstrap_indices(strata, n_boot, rng):
        res = split_halves(acts[idx], positive[idx], half[idx], selector, absolute=absolute)
        for key, values in out.items():
            values.append(getattr(res, key))
    return {k: np.asarray(v) for k, v in out.items()}


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval with its method and level.

    Attributes
    ----------
    estimate : float
        The statistic on the data.
    low, high : float
        Interval bounds (NaN where the method is undefined for this distribution).
    level : float
        Nominal coverage.
    method : str
        ``"BCa"`` (bias-corrected and accelerated) or ``"percentile"``.
    distribution : ndarray of shape (n_boot,)
        The bootstrap distribution the interval came from.
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    distribution: np.ndarray


def stratified_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray | float],
    strata: np.ndarray,
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
    method: str = "BCa",
    vectorized: bool = False,
) -> list[Interval]:
    """Bootstrap intervals of ``statistic(item_indices)`` resampling items within strata.

    Parameters
    ----------
    statistic : callable
        ``statistic(idx) -> float or 1-d array``: the statistic(s) of the items ``idx`` (an
        integer index array into the items, resampled with replacement within each stratum).
    strata : array of shape (n_items,)
        Stratum of each item (e.g. run x condition); each resample keeps every stratum's size.
    n_boot : int
        Bootstrap resamples.
    rng : numpy.random.Generator
        Random generator.
    level : float, default=0.95
        Nominal coverage.
    method : {"BCa", "percentile"}, default="BCa"
        Interval method of :func:`scipy.stats.bootstrap` (each stratum one sample, so resampling
        and the jackknife of the acceleration keep the strata).
    vectorized : bool, default=False
        ``statistic`` takes index arrays of shape (batch, n) and returns shape (batch,) (one
        statistic); the strata keep their positions along the last axis in every batch row.

    Returns
    -------
    list of Interval
        One per returned statistic.
    """
    check_range("level", level, 0.0, 1.0)
    strata = np.asarray(strata)
    groups = tuple(np.flatnonzero(strata == s) for s in np.unique(strata))

    def stat(*idx, axis=-1):
        joined = np.concatenate(idx, axis=-1)
        if vectorized:
            batch = joined.shape[:-1]
            out = np.asarray(statistic(joined.reshape(-1, joined.shape[-1])), dtype=np.float64)
            return out.reshape(batch)
        return np.atleast_1d(np.asarray(statistic(joined), dtype=np.float64))

    estimate = np.atleast_1d(stat(*groups))
    with warnings.catch_warnings():
        # BCa is undefined when every resample lies on one side of the estimate; scipy warns
        # and returns NaN bounds, which the caller reports as "undefined".
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            groups,
            stat,
            n_resamples=n_boot,
            confidence_level=level,
            method=method,
            vectorized=vectorized,
            paired=False,
            random_state=rng,
        )
    low = np.atleast_1d(res.confidence_interval.low)
    high = np.atleast_1d(res.confidence_interval.high)
    dist = np.atleast_2d(res.bootstrap_distribution)
    if dist.shape[0] != estimate.size:
        dist = dist.reshape(estimate.size, -1)
    return [
        Interval(float(e), float(lo), float(hi), level, method, d)
        for e, lo, hi, d in zip(estimate, low, high, dist, strict=True)
    ]


def _strata(half: np.ndarray, positive: np.ndarray) -> np.ndarray:
    return np.char.add(np.asarray(half).astype(str), np.where(positive, "+", "-"))


def cv_effect_interval(
    acts: np.ndarray,
    positive: np.ndarray,
    half: np.ndarray,
    selector: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    absolute: bool = False,
    n_boot: int = 100,
    rng: np.random.Generator,
    level: float = 0.95,
) -> Interval:
    """BCa interval of the cross-validated effect (items resampled within half x condition)."""
    positive = np.asarray(positive, bool)
    half = np.asarray(half)

    def statistic(idx):
        res = split_halves(acts[idx], positive[idx], half[idx], selector, absolute=absolute)
        return res.cv_effect

    return stratified_bootstrap(
        statistic, _strata(half, positive), n_boot=n_boot, rng=rng, level=level
    )[0]


def resplit_distribution(
    acts: np.ndarray,
    positive: np.ndarray,
    half: np.ndarray,
    selector: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    absolute: bool = False,
    n_splits: int = 100,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The split-half statistics over random re-splits of the items.

    Within each condition, the items' half labels are permuted (so each half keeps its size and
    its balance of conditions) and :func:`split_halves` recomputed. Returns a dict of arrays of
    shape (n_splits,): ``dice``, ``jaccard``, ``spearman_t``, ``cv_effect``.
    """
    positive = np.asarray(positive, bool)
    half = np.asarray(half)
    out: dict[str, list[float]] = {k: [] for k in STATISTICS}
    for _ in range(n_splits):
        shuffled = half.copy()
        for cond in (True, False):
            where = np.flatnonzero(positive == cond)
            shuffled[where] = rng.permutation(half[where])
        res = split_halves(acts, positive, shuffled, selector, absolute=absolute)
        for key, values in out.items():
            values.append(getattr(res, key))
    return {k: np.asarray(v) for k, v in out.items()}


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Central ``level`` quantiles of a distribution (NaNs ignored).

    These describe a distribution (e.g. :func:`resplit_distribution`); of a bootstrap of a
    statistic that resampling biases they are no confidence interval (see
    :func:`stratified_bootstrap`).
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo = (1 - level) / 2
    return float(np.quantile(values, lo)), float(np.quantile(values, 1 - lo))
