"""Per-target scores of predictions: Pearson r, R^2, and R^2 split between feature spaces."""

from __future__ import annotations

import numpy as np


def pearson_r(Y, pred) -> np.ndarray:
    """Pearson correlation of each column of ``Y`` with the same column of ``pred``.

    Parameters
    ----------
    Y, pred : array of shape (n_samples, n_targets)

    Returns
    -------
    r : ndarray of shape (n_targets,)
        0 where either column is constant.
    """
    Y, pred = np.asarray(Y, float), np.asarray(pred, float)
    yc, pc = Y - Y.mean(0), pred - pred.mean(0)
    den = np.sqrt((yc**2).sum(0) * (pc**2).sum(0))
    return np.divide((yc * pc).sum(0), den, out=np.zeros(Y.shape[1]), where=den > 0)


def r2_score(Y, pred) -> np.ndarray:
    """Coefficient of determination ``1 - SS_res / SS_tot`` per target (can be negative).

    Parameters
    ----------
    Y, pred : array of shape (n_samples, n_targets)

    Returns
    -------
    r2 : ndarray of shape (n_targets,)
    """
    Y, pred = np.asarray(Y, float), np.asarray(pred, float)
    ss_res = ((Y - pred) ** 2).sum(0)
    ss_tot = ((Y - Y.mean(0)) ** 2).sum(0)
    return 1 - np.divide(ss_res, ss_tot, out=np.full(Y.shape[1], np.inf), where=ss_tot > 0)


def r2_split(Y, parts, intercept) -> np.ndarray:
    """Split R^2 between feature spaces (the product measure); the parts sum to the joint R^2.

    With ``pred = intercept + sum_i parts[i]`` and ``z = Y - intercept``, space ``i`` is
    credited ``(2 z.p_i - p_i.sum_j p_j - n (mean(Y) - intercept)^2 / n_spaces) / SS_tot``.

    Parameters
    ----------
    Y : array of shape (n_samples, n_targets)
    parts : array of shape (n_spaces, n_samples, n_targets)
        Each space's contribution ``X_i @ W_i``.
    intercept : array of shape (n_targets,)

    Returns
    -------
    r2 : ndarray of shape (n_spaces, n_targets)
    """
    Y, parts = np.asarray(Y, float), np.asarray(parts, float)
    z = Y - np.asarray(intercept, float)
    total = parts.sum(0)
    ss_tot = ((Y - Y.mean(0)) ** 2).sum(0)
    offset = Y.shape[0] * (Y.mean(0) - np.asarray(intercept, float)) ** 2
    credit = 2 * (parts * z).sum(1) - (parts * total).sum(1) - offset / parts.shape[0]
    return credit / np.where(ss_tot > 0, ss_tot, np.inf)
