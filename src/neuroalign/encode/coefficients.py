"""Signed coefficients of named predictors (e.g. surprisal) with cluster-robust intervals.

A gain in held-out R^2 says a predictor helps, not in which direction. For word-level measures
the classic effects have a sign (reading times grow with surprisal), so each named predictor also
gets its coefficient in a least-squares fit of the measure on the baseline plus that predictor,
all z-scored (one SD of predictor -> SD of measure), with a 95% interval from the cluster-robust
(CR1) sandwich over groups (stories, paragraphs): words of one group are not independent.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["signed_coefficient"]


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def signed_coefficient(
    y: np.ndarray,
    predictor: np.ndarray,
    baseline: np.ndarray,
    groups: np.ndarray,
    *,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Standardized coefficient of ``predictor`` over ``baseline``, with its CR1 interval.

    Parameters
    ----------
    y : array of shape (n,)
        The measure.
    predictor : array of shape (n,)
        The named predictor.
    baseline : array of shape (n, k)
        Baseline covariates (may have k = 0).
    groups : array of shape (n,)
        Cluster of each row.
    level : float, default=0.95
        Interval coverage (t quantile with n_groups - 1 degrees of freedom).

    Returns
    -------
    (beta, low, high) : tuple of float
        NaN when fewer than 2 groups or a singular design.
    """
    y = _z(np.asarray(y, float))
    X = np.column_stack(
        [np.ones(len(y)), _z(np.asarray(baseline, float).reshape(len(y), -1)), _z(predictor)]
    )
    groups = np.asarray(groups)
    labels = np.unique(groups)
    if labels.size < 2:
        return float("nan"), float("nan"), float("nan")
    try:
        bread = np.linalg.inv(X.T @ X)
    except np.linalg.LinAlgError:
        return float("nan"), float("nan"), float("nan")
    beta = bread @ X.T @ y
    resid = y - X @ beta
    meat = np.zeros_like(bread)
    for g in labels:
        s = X[groups == g].T @ resid[groups == g]
        meat += np.outer(s, s)
    n, p, m = len(y), X.shape[1], labels.size
    scale = m / (m - 1) * (n - 1) / (n - p)
    se = float(np.sqrt(scale * (bread @ meat @ bread)[-1, -1]))
    half = stats.t.ppf(0.5 + level / 2, m - 1) * se
    return float(beta[-1]), float(beta[-1] - half), float(beta[-1] + half)
