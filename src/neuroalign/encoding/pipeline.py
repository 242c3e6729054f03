"""Fit on training runs, test on held-out runs: scores, ceilings, nulls and a layer sweep.

Lagged (MEG) models have no repeats: :func:`lag_fit_and_test` holds out contiguous segments of
the recording instead. Every fit goes through an estimator of
:mod:`~neuroalign.encoding.estimators` (:class:`~neuroalign.encoding.estimators.RidgeCV`,
:class:`~neuroalign.encoding.estimators.LagRidgeCV`), so ``solver`` and ``solver_params``
among the keyword options pick and tune the solver.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.ceilings import correlation_ceiling, explainable_variance, normalize
from neuroalign.encoding.estimators import LagRidgeCV, RidgeCV, make_estimator
from neuroalign.encoding.lagged import check_lags, lag_resolved_r
from neuroalign.encoding.ridge import Fold
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


def _two_d(Y) -> np.ndarray:
    Y = np.asarray(Y)
    return Y[:, None] if Y.ndim == 1 else Y


@fill_doc
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
    {folds}
        Over the training rows.
    X_test : array of shape (n_test, n_features)
    Y_test_repeats : array of shape (n_repeats, n_test, n_targets)
        Every repeat of the test stimulus; scores use their mean, ceilings their spread.
    {alphas_grid}
    {rng_null}
    {n_perm_shifts}
    min_shift : int
        Smallest circular shift (samples).
    {options}

    Returns
    -------
    result : HeldOut
    """
    repeats = np.asarray(Y_test_repeats, float)
    if repeats.ndim == 2:
        repeats = repeats[None]
    model = make_estimator(RidgeCV, options, alphas=alphas, cv=list(folds))
    model.fit(X_train, _two_d(Y_train))
    pred = model.predict(X_test)
    y = repeats.mean(0)
    r = pearson_r(y, pred)
    p, q = _null_pq(y, pred, r, rng=rng, n_perm=n_perm, min_shift=min_shift, device=model.device)
    if repeats.shape[0] >= 2:
        ev = explainable_variance(repeats)
        ceiling = correlation_ceiling(ev, repeats.shape[0])
    else:
        ev = ceiling = np.full(r.shape, np.nan)
    return HeldOut(
        r=r,
        r2=r2_score(y, pred),
        alpha=model.best_alphas_,
        cv_score=model.cv_scores_.max(0),
        p=p,
        q=q,
        explainable_variance=ev,
        ceiling=ceiling,
        normalized=normalize(r, ceiling, CEILING_CONVENTION),
        coef=model.coef_.T,
        intercept=model.intercept_,
        n_lower_edge=model.n_lower_edge_,
        n_upper_edge=model.n_upper_edge_,
        alphas=model.alphas_,
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


@fill_doc
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
    {X_undelayed}
    {Y}
    {lags}
    {alphas_grid}
    {segments}
    test_segments : sequence
        Labels of the held-out blocks; the others train (two or more for cross-validation).
    {rng_null}
    {n_perm_shifts}
    min_shift : int, optional
        Smallest circular shift (samples); default twice the lag window, beyond the
        prediction's own autocorrelation.
    {options_lag}

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
    X, Y = np.asarray(X, float), _two_d(np.asarray(Y, float))
    lags = check_lags(lags)
    model = make_estimator(
        LagRidgeCV, options, alphas=alphas, tmin=int(lags[0]), tmax=int(lags[-1]), sfreq=1.0
    )
    model.fit(X[~test], Y[~test], segments[~test])
    coef = model.coef_.transpose(2, 1, 0)  # (n_lags, n_features, n_targets)
    pred = model.predict(X[test], segments[test])
    r = pearson_r(Y[test], pred)
    shift = 2 * model.lags_.size if min_shift is None else min_shift
    p, q = _null_pq(Y[test], pred, r, rng=rng, n_perm=n_perm, min_shift=shift, device=model.device)
    where = dict(device=model.device, dtype=model.dtype)
    return LagHeldOut(
        r=r,
        r2=r2_score(Y[test], pred),
        p=p,
        q=q,
        r_by_lag=lag_resolved_r(X[test], Y[test], coef, model.lags_, segments[test], **where),
        alpha=model.best_alphas_,
        cv_score=model.cv_scores_.max(0),
        coef=coef,
        intercept=model.intercept_,
        lags=model.lags_,
        n_lower_edge=model.n_lower_edge_,
        n_upper_edge=model.n_upper_edge_,
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


@fill_doc
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
    Y_train : array of shape (n_train, n_targets)
    {folds}
        Over the training rows.
    Y_test_repeats : array of shape (n_repeats, n_test, n_targets)
        As in :func:`fit_and_test`.
    {alphas_grid}
    seed : int
        Seed of the null (the same shifts for every layer).
    **options
        Passed to :func:`fit_and_test`: ``n_perm``, ``min_shift``, and the options of the
        :class:`~neuroalign.encoding.estimators.RidgeCV` that fits (``device``, ``dtype``,
        ``solver``, ``solver_params``, ...; any other keyword joins ``solver_params``).

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
