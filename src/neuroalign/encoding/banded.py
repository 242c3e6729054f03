"""Banded ridge: one penalty per feature space, chosen per target by cross-validation.

A penalty ``alpha / gamma_i`` on space ``i`` equals plain ridge ``alpha`` on that space's
columns scaled by ``sqrt(gamma_i)``, with ``gamma`` on the simplex. Candidates ``gamma`` are the
simplex corners, its centre and Dirichlet draws; every candidate is scored over the alpha grid
with :func:`~neuroalign.encoding.ridge.cv_scores`, and each target keeps its best (gamma, alpha).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.ridge import Fold, cv_scores, refit


@dataclass(frozen=True)
class BandedResult:
    """What :func:`banded_ridge_cv` returns.

    Attributes
    ----------
    coef : ndarray, shape (n_features, n_targets)
        Weights on the original (unscaled) columns.
    intercept : ndarray, shape (n_targets,)
    best_alphas : ndarray, shape (n_targets,)
    best_gammas : ndarray, shape (n_targets, n_spaces)
        Each target's share of the penalty budget per space (rows on the simplex).
    cv_scores : ndarray, shape (n_targets,)
        Best mean cross-validated score.
    candidates : ndarray, shape (n_candidates, n_spaces)
    """

    coef: np.ndarray
    intercept: np.ndarray
    best_alphas: np.ndarray
    best_gammas: np.ndarray
    cv_scores: np.ndarray
    candidates: np.ndarray


def gamma_candidates(
    n_spaces: int, n_iter: int, rng: np.random.Generator, concentration: float = 0.5
) -> np.ndarray:
    """Return candidate space weights: the simplex corners, its centre and Dirichlet draws.

    Returns
    -------
    gammas : ndarray of shape (n_spaces + 1 + n_iter, n_spaces)
    """
    corners = np.eye(n_spaces)
    centre = np.full((1, n_spaces), 1.0 / n_spaces)
    draws = rng.dirichlet(np.full(n_spaces, concentration), size=n_iter)
    gammas = np.concatenate([corners, centre, draws]) if n_spaces > 1 else centre
    return gammas


def _scale(X: np.ndarray, groups: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    return X * np.sqrt(gamma)[groups]


@fill_doc
def banded_ridge_cv(
    X,
    Y,
    groups,
    alphas,
    folds: Sequence[Fold],
    *,
    n_iter: int = 20,
    seed: int = 0,
    candidates=None,
    fit_intercept: bool = True,
    scoring: str = "neg_mse",
    n_targets_batch: int | None = 8192,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
    decomp_dtype: str | torch.dtype = "float64",
) -> BandedResult:
    """Banded ridge with per-target space weights and alpha chosen by cross-validation.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        All feature spaces side by side.
    {Y}
    {groups}
    {alphas}
    {folds}
    {n_iter}
    {seed_draws}
    {candidates}
    {fit_intercept}
    {scoring}
    {n_targets_batch}
    {device}
    {dtype}
    {decomp_dtype}

    Returns
    -------
    result : BandedResult
    """
    X = np.asarray(X, float)
    groups = np.asarray(groups, int)
    if groups.shape != (X.shape[1],) or groups.min() < 0:
        raise ValueError(
            f"'groups' must give a space index >= 0 for each of the {X.shape[1]} columns."
        )
    n_spaces = int(groups.max()) + 1
    if set(np.unique(groups)) != set(range(n_spaces)):
        raise ValueError("'groups' must use every space index from 0 to n_spaces - 1.")
    alphas = np.sort(np.atleast_1d(np.asarray(alphas, float)))
    if candidates is None:
        gammas = gamma_candidates(n_spaces, n_iter, np.random.default_rng(seed))
    else:
        gammas = np.atleast_2d(np.asarray(candidates, float))
        if gammas.shape[1] != n_spaces or np.any(gammas < 0) or np.any(gammas.sum(1) <= 0):
            raise ValueError(f"'candidates' must be non-negative rows of {n_spaces} weights.")
        gammas = gammas / gammas.sum(1, keepdims=True)
    common = dict(
        fit_intercept=fit_intercept,
        n_targets_batch=n_targets_batch,
        device=device,
        dtype=dtype,
        decomp_dtype=decomp_dtype,
    )
    n_targets = np.shape(Y)[1]
    best_score = np.full(n_targets, -np.inf)
    best_cand = np.zeros(n_targets, int)
    best_alpha = np.full(n_targets, alphas[0])
    for c, gamma in enumerate(gammas):
        scores, _ = cv_scores(_scale(X, groups, gamma), Y, alphas, folds, scoring=scoring, **common)
        idx = np.argmax(scores, axis=0)
        top = scores[idx, np.arange(n_targets)]
        better = top > best_score
        best_score[better], best_cand[better], best_alpha[better] = (
            top[better],
            c,
            alphas[idx][better],
        )
    coef = np.zeros((X.shape[1], n_targets))
    intercept = np.zeros(n_targets)
    Y = np.asarray(Y)
    for c in np.unique(best_cand):
        cols = best_cand == c
        scale = np.sqrt(gammas[c])[groups]
        w, b, _ = refit(X * scale, Y[:, cols], best_alpha[cols], **common)
        coef[:, cols] = w * scale[:, None]
        intercept[cols] = b
    return BandedResult(
        coef=coef,
        intercept=intercept,
        best_alphas=best_alpha,
        best_gammas=gammas[best_cand],
        cv_scores=best_score,
        candidates=gammas,
    )
