"""Sweep feature sets (layers, or single predictors) against items, with a baseline and nulls.

For item-level data with no repeated test stimulus (sentences with one response each, words
with a reading measure each), every item is scored out of fold: nested cross-validation
(:func:`~neuroalign.encoding.evaluate.cross_val_predict`) gives each feature set's held-out r
on its own, and :func:`~neuroalign.encoding.evaluate.baseline_gain` with an unpenalized
baseline gives the gain of baseline + features over the baseline alone. Both get refit
permutation nulls (:mod:`neuroalign.encoding.permutation`): the same permutations for every
feature set, so the maximum over sets has a null too, which tests the peak without the
optimism of picking it. Every ridge fit goes through
:class:`~neuroalign.encoding.estimators.RidgeCV` (``solver``, ``solver_params`` among the
keyword options).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.baselines import (
    choose_per_fold,
    gain_over_baselines,
    most_chosen,
    union_baseline,
)
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.evaluate import cross_val_predict
from neuroalign.encoding.permutation import (
    freedman_lane_responses,
    permutations,
    permuted_responses,
    unstack,
)
from neuroalign.encoding.ridge import Fold
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.encoding.stats import bh_qvalues, p_values

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GainSweep:
    """What :func:`gain_sweep` and :func:`grouped_gain_sweep` return.

    Arrays have a last axis of targets (``n_targets``); ``n_sets`` counts the feature sets.

    Attributes
    ----------
    labels : list
        Feature-set labels in the order given.
    n_perm : int
        Permutations in the nulls (0: p-values are NaN).
    n_items : ndarray of shape (n_targets,)
        Items scored for each target.
    r, r2 : ndarray of shape (n_sets, n_targets)
        Held-out Pearson r and R^2 of each feature set alone.
    p, q : ndarray of shape (n_sets, n_targets)
        Permutation p of ``r`` (response permuted, whole procedure refitted) and its
        Benjamini-Hochberg q over the table.
    r_baseline, r2_baseline : ndarray of shape (n_targets,)
        Held-out scores of the baseline alone (least squares).
    r_full, r2_full : ndarray of shape (n_sets, n_targets)
        Held-out scores of baseline + feature set (only the features penalized).
    r_gain, r2_gain : ndarray of shape (n_sets, n_targets)
        Full minus baseline.
    p_gain, q_gain : ndarray of shape (n_sets, n_targets)
        Freedman-Lane permutation p of ``r2_gain`` and its BH q over the table.
    peak, peak_gain : ndarray of int, shape (n_targets,)
        Index of the set with the highest ``r`` (``r2_gain``).
    p_peak, p_peak_gain : ndarray of shape (n_targets,)
        p of that highest value against the null of the maximum over sets.
    null_r, null_gain : ndarray of shape (n_sets, n_perm, n_targets)
        The null ``r`` and ``r2_gain`` of every set.
    baseline, baseline_share : ndarray of shape (n_targets,)
        The baseline candidate most outer folds chose (object array of names; the given
        baseline's name when there is one candidate) and the share of folds choosing it.
    """

    labels: list
    n_perm: int
    n_items: np.ndarray
    r: np.ndarray
    r2: np.ndarray
    p: np.ndarray
    q: np.ndarray
    r_baseline: np.ndarray
    r2_baseline: np.ndarray
    r_full: np.ndarray
    r2_full: np.ndarray
    r_gain: np.ndarray
    r2_gain: np.ndarray
    p_gain: np.ndarray
    q_gain: np.ndarray
    peak: np.ndarray
    p_peak: np.ndarray
    peak_gain: np.ndarray
    p_peak_gain: np.ndarray
    null_r: np.ndarray
    null_gain: np.ndarray
    baseline: np.ndarray
    baseline_share: np.ndarray


def zscore_columns(X) -> np.ndarray:
    """Columns scaled to mean 0 and SD 1 (constant columns become 0)."""
    X = np.asarray(X, float)
    X = X[:, None] if X.ndim == 1 else X
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)


def _p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    if null.shape[0] == 0:
        return np.full(observed.shape, np.nan)
    return p_values(observed, null, method="empirical")


@fill_doc
def gain_sweep(
    designs: Mapping[object, np.ndarray],
    Y,
    baseline,
    folds: Sequence[Fold],
    *,
    alphas,
    n_perm: int = 1000,
    seed: int = 0,
    blocks=None,
    inner_folds: int = 5,
    **options,
) -> GainSweep:
    """Score every feature set alone and over a baseline, with refit permutation nulls.

    Parameters
    ----------
    {designs_items}
    Y : array of shape (n_items, n_targets) or (n_items,)
    {baseline_items}
    {folds}
        Outer folds; every item should be tested once.
    {alphas_grid}
    {n_perm_refit}
    seed : int
        Seed of the permutations.
    blocks : array of shape (n_items,), optional
        Exchangeability blocks: permutations move items only within their block.
    {inner_folds}
    {options}

    Returns
    -------
    sweep : GainSweep
    """
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    n, t = Y.shape
    cands = _candidates(baseline)
    base = union_baseline(cands)
    if base.shape[0] != n or any(np.shape(X)[0] != n for X in designs.values()):
        raise NeuroalignError(
            f"{n} responses, but the baseline or a feature set has a different number of items."
        )
    if not designs:
        raise NeuroalignError("no feature set to sweep.")
    index = permutations(n, n_perm, np.random.default_rng(seed), blocks)
    Y_r = np.c_[Y, permuted_responses(Y, index)]
    # Freedman-Lane under the union of the candidates, which nests every fold's baseline
    Y_g = np.c_[Y, freedman_lane_responses(Y, base, index)]
    chosen = choose_per_fold(cands, Y, folds, inner_folds=inner_folds)
    out: dict[str, list] = {k: [] for k in ("r", "r2", "r_full", "r2_full", "null_r", "null_g")}
    for label, X in designs.items():
        logger.info("feature set %s", label)
        X = zscore_columns(X)
        pred, _ = cross_val_predict(X, Y_r, alphas, folds, inner_folds=inner_folds, **options)
        tested = ~np.isnan(pred[:, 0])
        r_all = pearson_r(Y_r[tested], pred[tested])
        out["r"].append(r_all[:t])
        out["r2"].append(r2_score(Y[tested], pred[tested, :t]))
        out["null_r"].append(unstack(r_all[t:], n_perm) if n_perm else np.zeros((0, t)))
        gain, _ = gain_over_baselines(
            X, cands, Y_g, alphas, folds, chosen=chosen, inner_folds=inner_folds, **options
        )
        out["r_full"].append(gain["r_full"][:t])
        out["r2_full"].append(gain["r2_full"][:t])
        null_g = gain["r2_gain"][t:]
        out["null_g"].append(unstack(null_g, n_perm) if n_perm else np.zeros((0, t)))
        r_baseline, r2_baseline = gain["r_baseline"][:t], gain["r2_baseline"][:t]
    r, r_full, r2_full = (np.stack(out[k]) for k in ("r", "r_full", "r2_full"))
    null_r, null_gain = np.stack(out["null_r"]), np.stack(out["null_g"])
    r2_gain = r2_full - r2_baseline
    p = np.stack([_p(r[i], null_r[i]) for i in range(len(r))])
    p_gain = np.stack([_p(r2_gain[i], null_gain[i]) for i in range(len(r))])
    name, share = most_chosen(chosen)
    return GainSweep(
        labels=list(designs),
        n_perm=int(n_perm),
        n_items=np.full(t, int(tested.sum())),
        r=r,
        r2=np.stack(out["r2"]),
        p=p,
        q=bh_qvalues(p),
        r_baseline=r_baseline,
        r2_baseline=r2_baseline,
        r_full=r_full,
        r2_full=r2_full,
        r_gain=r_full - r_baseline,
        r2_gain=r2_gain,
        p_gain=p_gain,
        q_gain=bh_qvalues(p_gain),
        peak=np.argmax(r, axis=0),
        p_peak=_p(r.max(0), null_r.max(0)),
        peak_gain=np.argmax(r2_gain, axis=0),
        p_peak_gain=_p(r2_gain.max(0), null_gain.max(0)),
        null_r=null_r,
        null_gain=null_gain,
        baseline=np.full(t, name, dtype=object),
        baseline_share=np.full(t, share),
    )


def _candidates(baseline) -> dict[str, np.ndarray]:
    """Named baseline candidates: a mapping as given, an array as the one ``baseline``."""
    if isinstance(baseline, Mapping):
        if not baseline:
            raise NeuroalignError("no baseline candidate.")
        out = {}
        for k, B in baseline.items():
            B = np.asarray(B, float)
            out[str(k)] = B[:, None] if B.ndim == 1 else B
        return out
    B = np.asarray(baseline, float)
    return {"baseline": B[:, None] if B.ndim == 1 else B}


@fill_doc
def grouped_gain_sweep(
    designs: Mapping[object, np.ndarray],
    Y,
    baseline,
    groups,
    *,
    valid=None,
    n_folds: int = 10,
    alphas,
    n_perm: int = 200,
    seed: int = 0,
    inner_folds: int = 5,
    **options,
) -> GainSweep:
    """:func:`gain_sweep` per target on its own valid items, with folds that keep groups whole.

    Items are grouped (the words of a sentence or a text): cross-validation leaves whole
    groups out (:func:`~neuroalign.encoding.cv.group_folds`, groups merged in order into
    ``n_folds``) and permutations stay within groups. Targets with the same valid items are
    fitted together.

    Parameters
    ----------
    {designs_items}
    Y : array of shape (n_items, n_targets)
        NaN where a target is missing.
    {baseline_items}
    groups : array of shape (n_items,)
        Group of each item (sentence, text).
    valid : bool array of shape (n_items, n_targets), optional
        Items to use per target (exclusions); items with a missing response, baseline or
        feature are always left out.
    n_folds : int
        Outer folds (at most the number of groups with valid items).
    {alphas_grid}
    {n_perm_refit}
    seed : int
        Seed of the permutations (within groups).
    {inner_folds}
    {options}

    Returns
    -------
    sweep : GainSweep
        Over all targets; ``q`` and ``q_gain`` are recomputed over the whole table.
    """
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    cands = _candidates(baseline)
    groups = np.asarray(groups)
    finite = np.isfinite(union_baseline(cands)).all(1)
    for X in designs.values():
        finite &= np.isfinite(np.asarray(X, float).reshape(len(Y), -1)).all(1)
    ok = np.isfinite(Y) & finite[:, None]
    if valid is not None:
        ok &= np.asarray(valid, bool)
    patterns = {}
    for j in range(Y.shape[1]):
        patterns.setdefault(ok[:, j].tobytes(), []).append(j)
    parts = []
    for cols in patterns.values():
        rows = np.flatnonzero(ok[:, cols[0]])
        n_groups = len(np.unique(groups[rows]))
        if n_groups < 2:
            raise NeuroalignError(
                f"target(s) {cols}: {rows.size} valid items in {n_groups} group(s); "
                "cross-validation by group needs at least 2 groups."
            )
        folds = group_folds(groups[rows], n_folds=min(n_folds, n_groups))
        part = gain_sweep(
            {k: np.asarray(X)[rows] for k, X in designs.items()},
            Y[np.ix_(rows, cols)],
            {k: B[rows] for k, B in cands.items()},
            folds,
            alphas=alphas,
            n_perm=n_perm,
            seed=seed,
            blocks=groups[rows],
            inner_folds=inner_folds,
            **options,
        )
        parts.append((cols, part))
    return _merge(parts, Y.shape[1])


def _merge(parts: list[tuple[list[int], GainSweep]], n_targets: int) -> GainSweep:
    """Put the per-pattern sweeps back in target order; recompute the q-values."""
    first = parts[0][1]
    merged = {}
    for field in fields(GainSweep):
        value = getattr(first, field.name)
        if not isinstance(value, np.ndarray):
            continue
        full = np.empty((*value.shape[:-1], n_targets), dtype=value.dtype)
        for cols, part in parts:
            full[..., cols] = getattr(part, field.name)
        merged[field.name] = full
    merged["q"] = bh_qvalues(merged["p"])
    merged["q_gain"] = bh_qvalues(merged["p_gain"])
    return replace(first, **merged)
