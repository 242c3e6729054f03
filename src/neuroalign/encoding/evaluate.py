"""Held-out evaluation: nested cross-validated predictions and the gain over a baseline.

The gain of model features over a baseline compares two nested models fitted on the same
training folds: the baseline alone, and the baseline plus the model features. With
``penalize_baseline=False`` the baseline columns carry no penalty (ordinary least squares) and
only the model features are shrunk, so a large penalty on many model columns cannot shrink a
few strong baseline predictors: by the Frisch-Waugh-Lovell theorem the full fit is ridge on
the model features and the response, both residualized on the baseline within the training
fold. Every ridge fit goes through :class:`~neuroalign.encoding.estimators.RidgeCV`, so
``solver`` and ``solver_params`` among the keyword options pick and tune the solver.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.estimators import RidgeCV, make_estimator
from neuroalign.encoding.ridge import Fold
from neuroalign.encoding.scores import pearson_r, r2_score


def _inner_fit(X, Y, alphas, n_train: int, inner_folds: int, options) -> RidgeCV:
    """RidgeCV fitted on one training set, its alphas chosen by inner contiguous blocks."""
    inner = block_folds(n_train, min(inner_folds, n_train))
    return make_estimator(RidgeCV, options, alphas=alphas, cv=inner).fit(X, Y)


@fill_doc
def cross_val_predict(
    X, Y, alphas, folds: Sequence[Fold], *, inner_folds: int = 5, **options
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions with alphas chosen by inner contiguous-block CV on each training set.

    Parameters
    ----------
    {X}
    {Y}
    {alphas_grid}
    {folds}
        Outer folds; every sample should be tested once.
    {inner_folds}
    {options}

    Returns
    -------
    pred : ndarray of shape (n_samples, n_targets)
        NaN for samples no fold tests.
    best_alphas : ndarray of shape (n_folds, n_targets)
    """
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    pred = np.full(Y.shape, np.nan)
    chosen = []
    for train, test in folds:
        model = _inner_fit(X[train], Y[train], alphas, len(train), inner_folds, options)
        pred[test] = model.predict(X[test])
        chosen.append(model.best_alphas_)
    return pred, np.asarray(chosen)


@fill_doc
def cross_val_predict_over_baseline(
    X, X_baseline, Y, alphas, folds: Sequence[Fold], *, inner_folds: int = 5, **options
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold predictions of an unpenalized baseline and of the baseline plus ridge features.

    In each outer fold the baseline (with an intercept) is fitted by least squares on the
    training rows; the model features and the response are residualized on it (training
    coefficients), ridge maps the residualized features to the residualized response with its
    alpha chosen by inner contiguous-block CV, and the test prediction is the baseline's plus
    the ridge prediction from the test features residualized with the training coefficients.
    This is the minimizer of ``||y - B b - X w||^2 + alpha ||w||^2`` (no penalty on ``b``).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Model features (penalized).
    X_baseline : array of shape (n_samples, n_baseline)
        Baseline predictors (not penalized; an intercept is added).
    {Y}
    {alphas_grid}
    {folds}
        Outer folds; every sample should be tested once.
    {inner_folds}
    {options}

    Returns
    -------
    pred_baseline, pred_full : ndarray of shape (n_samples, n_targets)
        NaN for samples no fold tests.
    best_alphas : ndarray of shape (n_folds, n_targets)
    """
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    B = np.asarray(X_baseline, float)
    B = np.c_[np.ones(len(B)), B[:, None] if B.ndim == 1 else B]
    pred_base = np.full(Y.shape, np.nan)
    pred_full = np.full(Y.shape, np.nan)
    chosen = []
    for train, test in folds:
        coef_y, *_ = np.linalg.lstsq(B[train], Y[train], rcond=None)
        coef_x, *_ = np.linalg.lstsq(B[train], X[train], rcond=None)
        residual_train = (X[train] - B[train] @ coef_x, Y[train] - B[train] @ coef_y)
        model = _inner_fit(*residual_train, alphas, len(train), inner_folds, options)
        pred_base[test] = B[test] @ coef_y
        pred_full[test] = pred_base[test] + model.predict(X[test] - B[test] @ coef_x)
        chosen.append(model.best_alphas_)
    return pred_base, pred_full, np.asarray(chosen)


@fill_doc
def baseline_gain(
    X_model,
    X_baseline,
    Y,
    alphas,
    folds: Sequence[Fold],
    *,
    penalize_baseline: bool = True,
    **options,
) -> dict[str, np.ndarray]:
    """Held-out scores of a baseline model and of baseline + model features, and the gain.

    Parameters
    ----------
    X_model : array of shape (n_samples, n_features)
    X_baseline : array of shape (n_samples, n_baseline)
    {Y}
    {alphas_grid}
    {folds}
        Outer folds; every sample should be tested once.
    penalize_baseline : bool
        True: both models are ridge with one alpha for all their columns (baseline included).
        False: the baseline is fitted by least squares and only the model features are
        penalized (:func:`cross_val_predict_over_baseline`).
    {options_nested}

    Returns
    -------
    scores : dict of str to ndarray of shape (n_targets,)
        ``r_baseline``, ``r_full``, ``r_gain``, ``r2_baseline``, ``r2_full``, ``r2_gain``
        (full minus baseline), over the tested samples.
    """
    base = np.asarray(X_baseline, float)
    base = base[:, None] if base.ndim == 1 else base
    full = np.concatenate([base, np.asarray(X_model, float)], axis=1)
    Y = np.asarray(Y, float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if penalize_baseline:
        p_base, _ = cross_val_predict(base, Y, alphas, folds, **options)
        p_full, _ = cross_val_predict(full, Y, alphas, folds, **options)
    else:
        p_base, p_full, _ = cross_val_predict_over_baseline(
            X_model, base, Y, alphas, folds, **options
        )
    tested = ~np.isnan(p_full[:, 0])
    out = {
        "r_baseline": pearson_r(Y[tested], p_base[tested]),
        "r_full": pearson_r(Y[tested], p_full[tested]),
        "r2_baseline": r2_score(Y[tested], p_base[tested]),
        "r2_full": r2_score(Y[tested], p_full[tested]),
    }
    out["r_gain"] = out["r_full"] - out["r_baseline"]
    out["r2_gain"] = out["r2_full"] - out["r2_baseline"]
    return out
