"""The strongest of several standard baselines, chosen on each training set, and the gain over it.

A gain over a baseline flatters the model when the baseline is weak: a response driven by word
frequency is "explained" by any model that encodes frequency unless frequency is in the
baseline. Each analysis therefore offers its field's standard baselines as named candidates
(for example ``length``, ``frequency``, ``all``) and, by default, uses the strongest: in every
outer fold, each candidate (least squares with an intercept) is scored by inner contiguous-block
cross-validation on that fold's training rows only, and the candidate with the highest mean
held-out R^2 over the observed targets is the fold's baseline. The test rows never take part in
the choice; ties go to the candidate named first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.evaluate import cross_val_predict_over_baseline
from neuroalign.encoding.ridge import Fold
from neuroalign.encoding.scores import pearson_r, r2_score

__all__ = [
    "STRONGEST",
    "baseline_cv_scores",
    "choose_baseline",
    "choose_per_fold",
    "gain_over_baselines",
    "most_chosen",
    "union_baseline",
]

#: The value of a baseline option that asks for the strongest standard candidate.
STRONGEST = "strongest"


def _columns(B, n: int) -> np.ndarray:
    B = np.asarray(B, float)
    B = B[:, None] if B.ndim == 1 else B
    if B.shape[0] != n:
        raise NeuroalignError(f"a baseline has {B.shape[0]} rows for {n} responses.")
    return B


def baseline_cv_scores(
    candidates: Mapping[str, np.ndarray], Y, *, inner_folds: int = 5
) -> dict[str, float]:
    """Mean over targets of each candidate's held-out R^2 (least squares, contiguous blocks).

    Parameters
    ----------
    candidates : mapping of str to array of shape (n_samples, n_baseline)
        The baselines (an intercept is added to each).
    Y : array of shape (n_samples, n_targets)
        The responses of the rows to choose on (a training set).
    inner_folds : int
        Contiguous-block folds of the rows.

    Returns
    -------
    scores : dict of str to float
    """
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    n = len(Y)
    folds = block_folds(n, max(2, min(inner_folds, n)))
    scores = {}
    for name, B in candidates.items():
        B = np.c_[np.ones(n), _columns(B, n)]
        pred = np.empty_like(Y)
        for train, test in folds:
            coef, *_ = np.linalg.lstsq(B[train], Y[train], rcond=None)
            pred[test] = B[test] @ coef
        scores[name] = float(np.mean(r2_score(Y, pred)))
    return scores


def choose_baseline(candidates: Mapping[str, np.ndarray], Y, *, inner_folds: int = 5) -> str:
    """The candidate with the highest inner-CV R^2 on these rows (the first among equals).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> freq, length = rng.normal(size=(2, 200))
    >>> y = 2 * freq + rng.normal(size=200)
    >>> choose_baseline({"length": length, "frequency": freq}, y)
    'frequency'
    """
    if not candidates:
        raise NeuroalignError("no baseline candidate to choose from.")
    scores = baseline_cv_scores(candidates, Y, inner_folds=inner_folds)
    best = max(scores.values())
    return next(name for name, s in scores.items() if s >= best - 1e-12)


def union_baseline(candidates: Mapping[str, np.ndarray]) -> np.ndarray:
    """Every candidate's columns side by side, each distinct column once."""
    cols: list[np.ndarray] = []
    for B in candidates.values():
        B = np.asarray(B, float)
        for c in (B[:, None] if B.ndim == 1 else B).T:
            if not any(np.array_equal(c, d, equal_nan=True) for d in cols):
                cols.append(c)
    return np.column_stack(cols)


def choose_per_fold(
    candidates: Mapping[str, np.ndarray], Y, folds: Sequence[Fold], *, inner_folds: int = 5
) -> list[str]:
    """:func:`choose_baseline` on the training rows of each outer fold, in fold order."""
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    cands = {k: _columns(B, len(Y)) for k, B in candidates.items()}
    if len(cands) == 1:
        return [next(iter(cands))] * len(folds)
    return [
        choose_baseline({c: B[train] for c, B in cands.items()}, Y[train], inner_folds=inner_folds)
        for train, _ in folds
    ]


def most_chosen(chosen: Sequence[str]) -> tuple[str, float]:
    """The baseline most folds chose (the first among equals) and the share of folds choosing it.

    Examples
    --------
    >>> most_chosen(["all", "length", "all", "all"])
    ('all', 0.75)
    """
    names = list(dict.fromkeys(chosen))
    counts = [list(chosen).count(c) for c in names]
    best = names[int(np.argmax(counts))]
    return best, max(counts) / len(chosen)


@fill_doc
def gain_over_baselines(
    X_model,
    candidates: Mapping[str, np.ndarray],
    Y,
    alphas,
    folds: Sequence[Fold],
    *,
    n_select: int | None = None,
    chosen: Sequence[str] | None = None,
    inner_folds: int = 5,
    **options,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The gain of model features over the strongest baseline of each training set.

    Like :func:`~neuroalign.encoding.evaluate.baseline_gain` with ``penalize_baseline=False``,
    but each outer fold's baseline is the candidate :func:`choose_baseline` picks on that
    fold's training rows (and observed targets) only.

    Parameters
    ----------
    X_model : array of shape (n_samples, n_features)
        Model features (penalized).
    candidates : mapping of str to array of shape (n_samples, n_baseline)
        The standard baselines (least squares, with an intercept; not penalized).
    {Y}
    {alphas_grid}
    {folds}
        Outer folds; every sample should be tested once.
    n_select : int, optional
        Choose on the first ``n_select`` targets only (the observed responses when null
        responses follow them); None: all targets.
    chosen : sequence of str, optional
        The baseline of each outer fold, already chosen (:func:`choose_per_fold`).
    {inner_folds}
    {options}

    Returns
    -------
    scores : dict of str to ndarray of shape (n_targets,)
        ``r_baseline``, ``r_full``, ``r_gain``, ``r2_baseline``, ``r2_full``, ``r2_gain``.
    chosen : list of str
        The baseline of each outer fold, in fold order.
    """
    X = np.asarray(X_model, float)
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    n = len(Y)
    cands = {k: _columns(B, n) for k, B in candidates.items()}
    if chosen is None:
        k = Y.shape[1] if n_select is None else n_select
        chosen = choose_per_fold(cands, Y[:, :k], folds, inner_folds=inner_folds)
    chosen = list(chosen)
    p_base = np.full(Y.shape, np.nan)
    p_full = np.full(Y.shape, np.nan)
    for name in dict.fromkeys(chosen):
        sub = [f for f, c in zip(folds, chosen, strict=True) if c == name]
        b, f, _ = cross_val_predict_over_baseline(
            X, cands[name], Y, alphas, sub, inner_folds=inner_folds, **options
        )
        for _, test in sub:
            p_base[test], p_full[test] = b[test], f[test]
    tested = ~np.isnan(p_full[:, 0])
    out = {
        "r_baseline": pearson_r(Y[tested], p_base[tested]),
        "r_full": pearson_r(Y[tested], p_full[tested]),
        "r2_baseline": r2_score(Y[tested], p_base[tested]),
        "r2_full": r2_score(Y[tested], p_full[tested]),
    }
    out["r_gain"] = out["r_full"] - out["r_baseline"]
    out["r2_gain"] = out["r2_full"] - out["r2_baseline"]
    return out, chosen
