"""Permutation nulls that refit the whole cross-validated model, batched as extra targets.

A ridge fit on fixed features costs one eigendecomposition per fold whatever the number of
targets, so the permuted responses are stacked beside the observed one and fitted in the same
call: each permuted response gets its own penalty from the same inner cross-validation, which
makes the null exact for the whole procedure (penalty selection included), not only for the
final correlation.

Two kinds of null responses:

- :func:`permuted_responses`: the response permuted across items (no relation to any feature),
  the null of "the features predict nothing".
- :func:`freedman_lane_responses`: the baseline's least-squares fit plus permuted residuals
  (Freedman & Lane 1983), the null of "the features add nothing to the baseline".

Permutations can be restricted to exchangeability blocks (``groups``, e.g. the words of one
sentence): each permutation then only moves items within their block, which stays valid when
items of a block share variance (Winkler et al. 2014, NeuroImage 92:381).
"""

from __future__ import annotations

import numpy as np

from neuroalign._check import check_range


def permutations(n_samples: int, n_perm: int, rng: np.random.Generator, groups=None) -> np.ndarray:
    """Draw permutations of ``n_samples`` items, within ``groups`` when given.

    Parameters
    ----------
    n_samples : int
    n_perm : int
    rng : numpy.random.Generator
    groups : array of shape (n_samples,), optional
        Exchangeability blocks: items only move within their block.

    Returns
    -------
    index : ndarray of int, shape (n_perm, n_samples)
        Row ``k`` is the ``k``-th permutation (``y[index[k]]`` is the permuted response).
    """
    check_range("n_perm", n_perm, 0)
    groups = np.zeros(n_samples, int) if groups is None else np.asarray(groups)
    if groups.shape != (n_samples,):
        raise ValueError(f"'groups' must have one label per sample ({n_samples}).")
    index = np.tile(np.arange(n_samples), (n_perm, 1))
    for label in np.unique(groups):
        rows = np.flatnonzero(groups == label)
        if rows.size > 1:
            index[:, rows] = rows[rng.permuted(np.tile(np.arange(rows.size), (n_perm, 1)), axis=1)]
    return index


def _stack(Y: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Columns ``k * n_targets + j`` = target ``j`` under permutation ``k``."""
    n, t = Y.shape
    return Y[index].transpose(1, 0, 2).reshape(n, index.shape[0] * t)


def permuted_responses(Y, index: np.ndarray) -> np.ndarray:
    """Permuted copies of every target, side by side.

    Parameters
    ----------
    Y : array of shape (n_samples, n_targets)
    index : array of int, shape (n_perm, n_samples)
        From :func:`permutations`.

    Returns
    -------
    Y_null : ndarray of shape (n_samples, n_perm * n_targets)
        Column ``k * n_targets + j`` is target ``j`` permuted by ``index[k]``
        (see :func:`unstack`).
    """
    Y = np.asarray(Y, float)
    return _stack(Y[:, None] if Y.ndim == 1 else Y, np.asarray(index))


def freedman_lane_responses(Y, X_baseline, index: np.ndarray) -> np.ndarray:
    """Null responses for the gain over a baseline: baseline fit plus permuted residuals.

    Parameters
    ----------
    Y : array of shape (n_samples, n_targets)
    X_baseline : array of shape (n_samples, n_baseline)
        Baseline predictors; an intercept is added. The fit is least squares on all samples.
    index : array of int, shape (n_perm, n_samples)

    Returns
    -------
    Y_null : ndarray of shape (n_samples, n_perm * n_targets)
        Laid out as in :func:`permuted_responses`.
    """
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    B = np.asarray(X_baseline, float)
    B = np.c_[np.ones(len(B)), B[:, None] if B.ndim == 1 else B]
    coef, *_ = np.linalg.lstsq(B, Y, rcond=None)
    fitted = B @ coef
    return np.tile(fitted, (1, len(index))) + _stack(Y - fitted, np.asarray(index))


def unstack(scores, n_perm: int) -> np.ndarray:
    """Reshape scores of stacked null responses to ``(n_perm, n_targets)``.

    Parameters
    ----------
    scores : array of shape (n_perm * n_targets,)
    n_perm : int

    Returns
    -------
    null : ndarray of shape (n_perm, n_targets)
    """
    scores = np.asarray(scores)
    return scores.reshape(n_perm, scores.size // n_perm)
