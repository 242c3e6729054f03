"""Fit on training runs, test on held-out runs: scores, ceilings, nulls and a layer sweep.

Lagged (MEG) models have no repeats: :func:`lag_fit_and_test` holds out contiguous segments of
the recording instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neuroalign.encoding.ceilings import correlation_ceiling, explainable_variance, normalize
from neuroalign.encoding.lagged import lag_resolved_r, lag_ridge_cv, lagged_predict
from neuroalign.encoding.ridge import Fold, ridge_cv
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.encoding.stats import bh_qvalues, circular_shift_null, p_values

logger = logging.getLogger(__name__)

CEILING_CONVENTION = "r/c"


@dataclass(frozen=True)
class HeldOut:
    """Per-target results of :func:`fit_and_test` (arrays of shape (n_targets,) unless noted).

    Attributes
    ----------
    r, r2 : Pearson r and R^2 of the prediction with the mean of the test repeats.
    alpha : chosen penalty.
    cv_score : best mean cross-validated score on the training runs.
    p, q : circular-shift p-value of r (a normal fitted to each target's null) and its
        Benjamini-Hochberg q-value.
    explainable_variance : from the test repeats (NaN with one repeat).
    ceiling : correlation ceiling for the mean of the repeats (NaN with one repeat).
    normalized : r / ceiling (the ``"r/c"`` convention).
    coef : ndarray of shape (n_features, n_targets).
    intercept : ndarray of shape (n_targets,).
    n_lower_edge, n_upper_edge : targets at the alpha grid's edges.
    alphas : the alpha grid after any widening.
    """

    r: np.ndarray
    r2: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray
    p: np.ndarray
    q: np.ndarray
    explainable_variance: np.ndarray
    ceiling: np.ndarray
    normalized: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_lower_edge: int
    n_upper_edge: int
    alphas: np.ndarray


def fit_and_test(
    X_train,
    Y_train,
    folds: Sequence[Fold],
    X_test,
    Y_test_repeats,
    *,
    alphas,
    rng: np.random.Generator,
    n_perm: int = 200,
    min_shift: int = 10,
    **options,
) -> HeldOut:
    """Choose alphas by CV on the training runs, refit, and score on the held-out repeats.

    Parameters
    ----------
    X_train : array of shape (n_train, n_features)
    Y_train : array of shape (n_train, n_targets)
    folds : sequence of (train, test) over the training rows
    X_test : array of shape (n_test, n_features)
    Y_test_repeats : array of shape (n_repeats, n_test, n_targets)
        Every repeat of the test stimulus; scores use their mean, ceilings their spread.
    alphas : array of shape (n_alphas,)
    rng : numpy.random.Generator
        For the circular-shift null.
    n_perm : int
        Shifts in the null (0 skips p and q, which become NaN).
    min_shift : int
        Smallest circular shift (samples).
    **options
        Passed to :func:`~neuroalign.encoding.ridge.ridge_cv` (device, dtype, ...).

    Returns
    -------
    result : HeldOut
    """
    repeats = np.asarray(Y_test_repeats, float)
    if repeats.ndim == 2:
        repeats = repeats[None]
    fit = ridge_cv(X_train, Y_train, alphas, folds, **options)
    pred = np.asarray(X_test, float) @ fit.coef + fit.intercept
    y = repeats.mean(0)
    r = pearson_r(y, pred)
    p, q = _null_pq(
        y, pred, r, rng=rng, n_perm=n_perm, min_shift=min_shift, device=options.get("device", "cpu")
    )
    if repeats.shape[0] >= 2:
        ev = explainable_variance(repeats)
        ceiling = correlation_ceiling(ev, repeats.shape[0])
    else:
        ev = ceiling = np.full(r.shape, np.nan)
    best = fit.cv_scores.max(0)
    return HeldOut(
        r=r,
        r2=r2_score(y, pred),
        alpha=fit.best_alphas,
        cv_score=best,
        p=p,
        q=q,
        explainable_variance=ev,
        ceiling=ceiling,
        normalized=normalize(r, ceiling, CEILING_CONVENTION),
        coef=fit.coef,
        intercept=fit.intercept,
        n_lower_edge=fit.n_lower_edge,
        n_upper_edge=fit.n_upper_edge,
        alphas=fit.alphas,
    )


def _null_pq(Y, pred, r, *, rng, n_perm: int, min_shift: int, device) -> tuple:
    """Circular-shift p-values (a normal fitted to each null) and BH q-values of ``r``."""
    if n_perm <= 0:
        nan = np.full(r.shape, np.nan)
        return nan, nan
    null = circular_shift_null(
        Y, pred, n_perm=n_perm, rng=rng, min_shift=min(min_shift, Y.shape[0] // 2), device=device
    )
    p = p_values(r, null, method="gaussian")
    return p, bh_qvalues(p)


@dataclass(frozen=True)
class LagHeldOut:
    """Per-target results of :func:`lag_fit_and_test` (arrays of shape (n_targets,) unless noted).

    Attributes
    ----------
    r, r2 : Pearson r and R^2 of the prediction of the test segments.
    p, q : circular-shift p-value of r (a normal fitted to each target's null) and its
        Benjamini-Hochberg q-value.
    r_by_lag : ndarray of shape (n_lags, n_targets); r on the test segments of the prediction
        carried by each lag alone (:func:`~neuroalign.encoding.lagged.lag_resolved_r`).
    alpha : penalty chosen by leave-one-segment-out CV over the training segments.
    cv_score : its mean cross-validated score.
    coef : ndarray of shape (n_lags, n_features, n_targets), the TRFs fitted on the training
        segments (the model that is tested).
    intercept : ndarray of shape (n_targets,).
    lags : ndarray of shape (n_lags,), in samples.
    n_lower_edge, n_upper_edge : targets at the alpha grid's edges.
    """

    r: np.ndarray
    r2: np.ndarray
    p: np.ndarray
    q: np.ndarray
    r_by_lag: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    lags: np.ndarray
    n_lower_edge: int
    n_upper_edge: int


def lag_fit_and_test(
    X,
    Y,
    lags,
    alphas,
    segments,
    test_segments,
    *,
    rng: np.random.Generator,
    n_perm: int = 200,
    min_shift: int | None = None,
    **options,
) -> LagHeldOut:
    """Fit TRFs on training segments (alpha by CV over them), score them on held-out segments.

    One model predicts every test segment, so its held-out predictions are independent of the
    test data and a circular shift of them against the response is a valid null. (Pooled
    out-of-fold predictions of K-fold cross-validation are not: each fold's model has seen the
    other test folds, which widens the spread of their r beyond that null.)

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Undelayed features (impulses at word onsets).
    Y : array of shape (n_samples, n_targets)
    lags : array of int, shape (n_lags,)
    alphas : array of shape (n_alphas,)
    segments : array of shape (n_samples,)
        Contiguous block labels; delays never cross a block edge.
    test_segments : sequence
        Labels of the held-out blocks; the others train (two or more for cross-validation).
    rng : numpy.random.Generator
        For the circular-shift null.
    n_perm : int
        Shifts in the null (0 skips p and q, which become NaN).
    min_shift : int, optional
        Smallest circular shift (samples); default twice the lag window, beyond the
        prediction's own autocorrelation.
    **options
        Passed to :func:`~neuroalign.encoding.lagged.lag_ridge_cv` (fit_intercept, scoring,
        device, dtype).

    Returns
    -------
    result : LagHeldOut
    """
    segments = np.asarray(segments)
    test = np.isin(segments, np.asarray(test_segments))
    if not test.any() or test.all():
        raise ValueError(
            f"'test_segments' {list(test_segments)} must name some, but not all, of the "
            f"segments {np.unique(segments).tolist()}."
        )
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    fit = lag_ridge_cv(X[~test], Y[~test], lags, alphas, segments[~test], **options)
    device, dtype = options.get("device", "cpu"), options.get("dtype", "float64")
    where = dict(device=device, dtype=dtype)
    pred = lagged_predict(X[test], fit.coef, fit.intercept, fit.lags, segments[test], **where)
    r = pearson_r(Y[test], pred)
    shift = 2 * fit.lags.size if min_shift is None else min_shift
    p, q = _null_pq(Y[test], pred, r, rng=rng, n_perm=n_perm, min_shift=shift, device=device)
    return LagHeldOut(
        r=r,
        r2=r2_score(Y[test], pred),
        p=p,
        q=q,
        r_by_lag=lag_resolved_r(X[test], Y[test], fit.coef, fit.lags, segments[test], **where),
        alpha=fit.best_alphas,
        cv_score=fit.cv_scores.max(0),
        coef=fit.coef,
        intercept=fit.intercept,
        lags=fit.lags,
        n_lower_edge=fit.n_lower_edge,
        n_upper_edge=fit.n_upper_edge,
    )


@dataclass(frozen=True)
class LayerSweep:
    """What :func:`layer_sweep` returns.

    Attributes
    ----------
    layers : list
        Layer labels in the order given.
    r_by_layer : ndarray of shape (n_layers, n_targets)
        Held-out r of every layer.
    cv_by_layer : ndarray of shape (n_layers, n_targets)
        Best cross-validated score of every layer (training runs only).
    best_layer : ndarray of shape (n_targets,)
        Index of the layer with the best cross-validated score, per target.
    selected : int
        Index of the layer with the best mean cross-validated score over targets; its
        full results are in ``result``.
    result : HeldOut
    """

    layers: list
    r_by_layer: np.ndarray
    cv_by_layer: np.ndarray
    best_layer: np.ndarray
    selected: int
    result: HeldOut


def layer_sweep(
    designs: Mapping[object, tuple[np.ndarray, np.ndarray]],
    Y_train,
    folds: Sequence[Fold],
    Y_test_repeats,
    *,
    alphas,
    seed: int = 0,
    **options,
) -> LayerSweep:
    """Run :func:`fit_and_test` for every layer; the layer is chosen on training data only.

    Parameters
    ----------
    designs : mapping of layer label to (X_train, X_test)
    Y_train, folds, Y_test_repeats, alphas
        As in :func:`fit_and_test`.
    seed : int
        Seed of the null (the same shifts for every layer).
    **options
        Passed to :func:`fit_and_test`.

    Returns
    -------
    sweep : LayerSweep
    """
    results = {}
    for label, (X_train, X_test) in designs.items():
        logger.info("layer %s", label)
        results[label] = fit_and_test(
            X_train,
            Y_train,
            folds,
            X_test,
            Y_test_repeats,
            alphas=alphas,
            rng=np.random.default_rng(seed),
            **options,
        )
    layers = list(results)
    cv = np.stack([results[k].cv_score for k in layers])
    selected = int(np.argmax(cv.mean(1)))
    return LayerSweep(
        layers=layers,
        r_by_layer=np.stack([results[k].r for k in layers]),
        cv_by_layer=cv,
        best_layer=np.argmax(cv, axis=0),
        selected=selected,
        result=results[layers[selected]],
    )
