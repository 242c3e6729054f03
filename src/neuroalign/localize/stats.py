"""Per-unit contrast statistics: Welch t, two-sided p, Benjamini-Hochberg q and Cohen's d.

The two reference implementations differ in one respect: the LLM-language-network code tests
the *magnitude* of activations (``|a|``), Brain-Score's localizer the signed activations. Both
are available through ``absolute``; with ``absolute=True`` a unit that is strongly negative for
sentences and near zero for non-words counts as sentence-selective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from neuroalign._check import NeuroalignError
from neuroalign.encoding.stats import bh_qvalues


@dataclass(frozen=True)
class Selectivity:
    """Contrast statistics of every unit, each an array of the units' shape.

    Attributes
    ----------
    t : ndarray
        Welch t of positive minus negative (NaN where both conditions are constant).
    df : ndarray
        Welch-Satterthwaite degrees of freedom.
    p : ndarray
        Two-sided p value.
    q : ndarray
        Benjamini-Hochberg adjusted p over all units with a finite p
        (:func:`~neuroalign.encoding.stats.bh_qvalues`).
    d : ndarray
        Cohen's d with the pooled standard deviation.
    mean_pos, mean_neg : ndarray
        Condition means (of ``|a|`` when the statistic is on absolute activations).
    """

    t: np.ndarray
    df: np.ndarray
    p: np.ndarray
    q: np.ndarray
    d: np.ndarray
    mean_pos: np.ndarray
    mean_neg: np.ndarray


#: Units per block when computing moments, so float64 copies stay small (~16 MiB per 1000 items).
BLOCK_UNITS = 2048


def _moments(x: np.ndarray, absolute: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased variance over axis 0 in float64, block by block over the units."""
    flat = x.reshape(len(x), -1)
    mean = np.empty(flat.shape[1])
    var = np.empty(flat.shape[1])
    for start in range(0, flat.shape[1], BLOCK_UNITS):
        block = flat[:, start : start + BLOCK_UNITS].astype(np.float64)
        if absolute:
            np.abs(block, out=block)
        mean[start : start + BLOCK_UNITS] = block.mean(0)
        var[start : start + BLOCK_UNITS] = block.var(0, ddof=1)
    return mean.reshape(x.shape[1:]), var.reshape(x.shape[1:])


def welch(pos: np.ndarray, neg: np.ndarray, *, absolute: bool = False) -> Selectivity:
    """Welch's unequal-variance t test of every unit, positive vs negative items.

    Parameters
    ----------
    pos : array of shape (n_pos, ...)
        Activations of the positive condition (e.g. sentences); any unit shape after the
        item axis, such as (n_layers, n_units).
    neg : array of shape (n_neg, ...)
        Activations of the negative condition (e.g. non-word lists), same unit shape.
    absolute : bool, default=False
        Test ``|a|`` instead of ``a`` (the LLM-language-network convention).

    Returns
    -------
    Selectivity
        Arrays of the unit shape; computed in float64. Equal to
        ``scipy.stats.ttest_ind(pos, neg, equal_var=False)`` for ``t`` and ``p``.
    """
    pos, neg = np.asarray(pos), np.asarray(neg)
    if pos.shape[1:] != neg.shape[1:]:
        raise NeuroalignError(
            f"the two conditions have different unit shapes: {pos.shape[1:]} vs {neg.shape[1:]}"
        )
    if len(pos) < 2 or len(neg) < 2:
        raise NeuroalignError(
            f"a Welch t test needs at least 2 items per condition, got {len(pos)} and {len(neg)}"
        )
    n1, n2 = len(pos), len(neg)
    m1, v1 = _moments(pos, absolute)
    m2, v2 = _moments(neg, absolute)
    se1, se2 = v1 / n1, v2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (m1 - m2) / np.sqrt(se1 + se2)
        df = (se1 + se2) ** 2 / (se1**2 / (n1 - 1) + se2**2 / (n2 - 1))
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
        d = (m1 - m2) / pooled
    p = 2.0 * special.stdtr(df, -np.abs(t))
    return Selectivity(t=t, df=df, p=p, q=bh_qvalues(p), d=d, mean_pos=m1, mean_neg=m2)


def contrast(acts: np.ndarray, positive: np.ndarray, *, absolute: bool = False) -> Selectivity:
    """Selectivity of every unit for items where ``positive`` is True vs the others.

    Parameters
    ----------
    acts : array of shape (n_items, ...)
        Activations, e.g. (n_items, n_layers, n_units).
    positive : bool array of shape (n_items,)
        True for the positive condition.
    absolute : bool, default=False
        Test ``|a|`` (see :func:`welch`).
    """
    positive = np.asarray(positive, dtype=bool)
    if positive.shape != (len(acts),):
        raise NeuroalignError(
            f"the condition labels have {positive.size} entries for {len(acts)} items"
        )
    return welch(acts[positive], acts[~positive], absolute=absolute)
