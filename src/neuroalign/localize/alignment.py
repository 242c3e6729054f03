"""Brain alignment of a unit set: cross-validated ridge from the units to brain responses.

The localized set and each random set of the same size are scored the same way, so the
difference says whether the localizer picks units that are more brain-like than chance. The
regression is the encoding engine's nested ridge (:func:`neuroalign.encoding.evaluate.
cross_val_predict`: the penalty is chosen by inner contiguous-block cross-validation inside each
training fold) on z-scored units, with contiguous outer folds by default or folds that keep
groups (e.g. passages) together; the score is the Pearson r of the out-of-fold predictions, per
brain target. The penalties default to the one grid of every stage,
:func:`neuroalign.settings.alpha_grid`; keyword options reach the ridge estimator that fits
(``solver``, ``solver_params``, ``device``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroalign._check import NeuroalignError, check_range
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.cv import block_folds, group_folds
from neuroalign.encoding.evaluate import cross_val_predict
from neuroalign.encoding.scores import pearson_r
from neuroalign.settings import alpha_grid

Alphas = Sequence[float] | Mapping[str, Any] | None


@fill_doc
def ridge_pearson(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = 5,
    alphas: Alphas = None,
    groups: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Out-of-fold Pearson r of a ridge regression from ``x`` to each column of ``y``.

    Parameters
    ----------
    x : array of shape (n_items, n_features)
        Unit activations (z-scored here; constant units become 0).
    y : array of shape (n_items, n_targets)
        Brain responses (voxels, fROIs or a network mean).
    {n_splits}
    {alphas_grid}
        Chosen per target by inner cross-validation in each training fold.
    {groups_items}
    {options_nested}

    Returns
    -------
    r : array of shape (n_targets,)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if len(x) != len(y):
        raise NeuroalignError(f"{len(x)} items of activations but {len(y)} brain responses")
    check_range("n_splits", n_splits, 2, len(x))
    sd = x.std(0)
    x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    if groups is None:
        folds = block_folds(len(x), n_splits)
    else:
        folds = group_folds(groups, n_folds=n_splits)
    pred, _ = cross_val_predict(x, y, alpha_grid(alphas), folds, **options)
    return pearson_r(y, pred)


@dataclass(frozen=True)
class AlignmentResult:
    """Brain scores of the localized set and of each random set.

    Attributes
    ----------
    localized : array of shape (n_targets,)
        Pearson r per target from the localized units.
    random : array of shape (n_seeds, n_targets)
        The same from each random set.
    difference : float
        Mean r of the localized set minus the mean over random sets of their mean r.
    difference_sd : float
        Standard deviation over random sets of (localized mean r - that set's mean r).
    percentile : float
        Percent of random sets whose mean r is below the localized set's.
    """

    localized: np.ndarray
    random: np.ndarray
    difference: float
    difference_sd: float
    percentile: float


@fill_doc
def compare_alignment(
    acts: np.ndarray,
    brain: np.ndarray,
    mask: np.ndarray,
    random_masks: np.ndarray,
    *,
    n_splits: int = 5,
    alphas: Alphas = None,
    groups: np.ndarray | None = None,
    **options: Any,
) -> AlignmentResult:
    """Score the localized units and every equal-size random set against brain responses.

    Parameters
    ----------
    acts : array of shape (n_items, n_layers, n_units)
        Activations for the items the brain saw.
    brain : array of shape (n_items,) or (n_items, n_targets)
        Brain responses.
    mask : bool array of shape (n_layers, n_units)
        The localized units.
    random_masks : bool array of shape (n_seeds, n_layers, n_units)
        Random sets of the same size.
    {n_splits}
    {alphas_grid}
    {groups_items}
    {options_nested}

    Returns
    -------
    result : AlignmentResult
    """
    acts = np.asarray(acts)
    flat = acts.reshape(len(acts), -1)
    if not np.asarray(mask).any():
        raise NeuroalignError("the localized set is empty; nothing to align")

    def score(m: np.ndarray) -> np.ndarray:
        return ridge_pearson(
            flat[:, np.asarray(m, bool).ravel()],
            brain,
            n_splits=n_splits,
            alphas=alphas,
            groups=groups,
            **options,
        )

    loc = score(mask)
    rand = np.stack([score(m) for m in random_masks])
    gap = np.nanmean(loc) - np.nanmean(rand, axis=1)
    return AlignmentResult(
        localized=loc,
        random=rand,
        difference=float(np.mean(gap)),
        difference_sd=float(np.std(gap, ddof=1)) if len(gap) > 1 else float("nan"),
        percentile=float(100 * np.mean(gap > 0)),
    )
