"""scikit-learn estimators, the ridge engine's face, over the solvers of the solver registry.

Each estimator only validates, calls its solver through the registry
(:func:`~neuroalign.encoding.solvers.call_solver`: ``solver`` names it, ``solver_params`` are
its extra keywords, as in himalaya) and stores what it returns: :class:`RidgeCV` (family
``ridge``, default :func:`~neuroalign.encoding.ridge.ridge_cv`), :class:`BandedRidgeCV`
(``banded``, :func:`~neuroalign.encoding.banded.banded_ridge_cv`) and :class:`LagRidgeCV`
(``lagged``, :func:`~neuroalign.encoding.lagged.lag_ridge_cv`). An estimator's defaults are
its default solver's. A 1-D ``y`` gives 1-D attributes and predictions, as in scikit-learn.
The pipeline functions (:mod:`~neuroalign.encoding.pipeline`,
:mod:`~neuroalign.encoding.evaluate`, :mod:`~neuroalign.encoding.gain_sweep`) fit through
these estimators, built by :func:`make_estimator` from their keyword options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neuroalign._check import check_range
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.cv import block_folds, block_labels
from neuroalign.encoding.lagged import lagged_predict
from neuroalign.encoding.scores import r2_split
from neuroalign.encoding.solvers import call_solver
from neuroalign.settings import alpha_grid


def _fit_data(estimator, X, y) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate ``X`` and ``y``; return X, a 2-D Y and whether ``y`` was 1-D."""
    X, y = validate_data(
        estimator, X, y, multi_output=True, y_numeric=True, dtype=(np.float64, np.float32)
    )
    if X.shape[0] < 2:
        name = type(estimator).__name__
        raise ValueError(f"{name} needs at least 2 samples; got n_samples = {X.shape[0]}.")
    return X, (y[:, None] if y.ndim == 1 else y), y.ndim == 1


def _per_target(values: np.ndarray, one: bool):
    """Per-target values as stored: the single target's float when ``y`` was 1-D."""
    return float(values[0]) if one else values


def _folds(cv, n_samples: int):
    return block_folds(n_samples, min(cv, n_samples)) if np.isscalar(cv) else cv


def _alphas(alphas):
    """The grid to fit: :func:`~neuroalign.settings.alpha_grid` of None or a mapping."""
    return alpha_grid(alphas) if alphas is None or isinstance(alphas, Mapping) else alphas


def make_estimator(estimator_class: type, options: Mapping[str, Any], **params: Any):
    """Build an estimator from fixed parameters and a caller's keyword options.

    Options that are parameters of ``estimator_class`` set it; any other option is a solver
    parameter and joins ``solver_params``. This is how the pipeline functions pass their
    ``**options`` on.

    Parameters
    ----------
    estimator_class : type
        :class:`RidgeCV`, :class:`BandedRidgeCV` or :class:`LagRidgeCV`.
    options : mapping
        Keyword options (``device``, ``dtype``, ``solver``, ``solver_params``,
        ``tf32_scoring``, ...).
    **params
        Parameters the caller fixes (``alphas``, ``cv``, ...).

    Returns
    -------
    estimator : BaseEstimator
        Unfitted.

    Raises
    ------
    ValueError
        If a solver parameter is given both as an option and in ``solver_params``.
    """
    names = set(estimator_class._get_param_names())
    direct = {k: v for k, v in options.items() if k in names}
    extra = {k: v for k, v in options.items() if k not in names}
    if extra:
        given = dict(direct.get("solver_params") or {})
        twice = sorted(set(given) & set(extra))
        if twice:
            raise ValueError(f"{twice} given as keywords and in solver_params; give each once.")
        direct["solver_params"] = {**given, **extra}
    return estimator_class(**params, **direct)


class _LinearPredict:
    """``predict`` of a fitted linear estimator (``coef_`` of shape (n_targets, n_features))."""

    @fill_doc
    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        {X}

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_


@fill_doc
class RidgeCV(_LinearPredict, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ridge regression with one alpha per target chosen by cross-validation.

    Parameters
    ----------
    {alphas_grid}
    {cv}
    {fit_intercept}
    {scoring}
    {route}
    {widen_fraction}
    {n_targets_batch}
    {device}
    {dtype}
    {solver}
    {solver_params}

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
    intercept_ : ndarray of shape (n_targets,) or float
    best_alphas_ : ndarray of shape (n_targets,) or float
    cv_scores_ : ndarray of shape (n_alphas, n_targets)
    alphas_ : ndarray of shape (n_alphas,)
        The grid after any widening.
    n_lower_edge_, n_upper_edge_ : int
        Targets whose best alpha is the grid's smallest (largest, counted only where it
        beats the mean predictor).
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(50)
    >>> model = RidgeCV(alphas=[0.01, 1, 100]).fit(X, y)
    >>> round(model.score(X, y), 2)
    1.0
    """

    def __init__(
        self,
        alphas=None,
        *,
        cv=5,
        fit_intercept=True,
        scoring="neg_mse",
        route="auto",
        widen_fraction=0.05,
        n_targets_batch=8192,
        device="cpu",
        dtype="float64",
        solver="ridge_cv",
        solver_params=None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.route = route
        self.widen_fraction = widen_fraction
        self.n_targets_batch = n_targets_batch
        self.device = device
        self.dtype = dtype
        self.solver = solver
        self.solver_params = solver_params

    @fill_doc
    def fit(self, X, y):
        """Choose alphas by cross-validation and refit on all samples.

        Parameters
        ----------
        {X}
        {y}

        Returns
        -------
        self : RidgeCV
        """
        X, Y, one = _fit_data(self, X, y)
        res = call_solver(
            self.solver,
            "ridge",
            self.solver_params,
            X=X,
            Y=Y,
            alphas=_alphas(self.alphas),
            folds=_folds(self.cv, X.shape[0]),
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            route=self.route,
            widen_fraction=self.widen_fraction,
            n_targets_batch=self.n_targets_batch,
            device=self.device,
            dtype=self.dtype,
        )
        self.coef_ = res.coef[:, 0] if one else res.coef.T
        self.intercept_ = _per_target(res.intercept, one)
        self.best_alphas_ = _per_target(res.best_alphas, one)
        self.cv_scores_ = res.cv_scores
        self.alphas_ = res.alphas
        self.n_lower_edge_, self.n_upper_edge_ = res.n_lower_edge, res.n_upper_edge
        return self


@fill_doc
class BandedRidgeCV(_LinearPredict, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Banded ridge: one penalty per feature space (band) and target, chosen by cross-validation.

    Band ``i`` of target ``t`` is penalized by ``alpha_t / gamma_ti``, with each target's band
    weights ``gamma_t`` on the simplex; candidates are the simplex corners, its centre and
    Dirichlet draws (:func:`~neuroalign.encoding.banded.banded_ridge_cv`).

    Parameters
    ----------
    {groups_or_none}
    {alphas_grid}
    {cv}
    {n_iter}
    {seed_draws}
    {candidates}
    {fit_intercept}
    {scoring}
    {n_targets_batch}
    {device}
    {dtype}
    {solver}
    {solver_params}

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
    intercept_ : ndarray of shape (n_targets,) or float
    best_alphas_ : ndarray of shape (n_targets,) or float
    best_gammas_ : ndarray of shape (n_targets, n_bands) or (n_bands,)
        Each target's band weights: its share of the penalty budget per band (a band with a
        larger weight is penalized less).
    cv_scores_ : ndarray of shape (n_targets,) or float
        Best mean cross-validated score.
    candidates_ : ndarray of shape (n_candidates, n_bands)
    groups_ : ndarray of int, shape (n_features,)
    n_features_in_ : int

    See Also
    --------
    score_split : R^2 credited to each band.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((80, 4))
    >>> y = X[:, :2] @ np.array([1.0, -1.0]) + 0.1 * rng.standard_normal(80)
    >>> model = BandedRidgeCV(groups=[0, 0, 1, 1], alphas=[0.1, 10], n_iter=4).fit(X, y)
    >>> model.best_gammas_.round(2)
    array([1., 0.])
    """

    def __init__(
        self,
        groups=None,
        alphas=None,
        *,
        cv=5,
        n_iter=20,
        seed=0,
        candidates=None,
        fit_intercept=True,
        scoring="neg_mse",
        n_targets_batch=8192,
        device="cpu",
        dtype="float64",
        solver="banded_ridge_cv",
        solver_params=None,
    ):
        self.groups = groups
        self.alphas = alphas
        self.cv = cv
        self.n_iter = n_iter
        self.seed = seed
        self.candidates = candidates
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.n_targets_batch = n_targets_batch
        self.device = device
        self.dtype = dtype
        self.solver = solver
        self.solver_params = solver_params

    @fill_doc
    def fit(self, X, y):
        """Choose band weights and alphas by cross-validation and refit on all samples.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            All bands side by side, as ``groups`` says.
        {y}

        Returns
        -------
        self : BandedRidgeCV
        """
        X, Y, one = _fit_data(self, X, y)
        groups = np.zeros(X.shape[1], int) if self.groups is None else np.asarray(self.groups)
        if groups.shape != (X.shape[1],):
            raise ValueError(
                f"'groups' has {groups.size} entries but X has {X.shape[1]} columns; give the "
                "band of every column."
            )
        res = call_solver(
            self.solver,
            "banded",
            self.solver_params,
            X=X,
            Y=Y,
            groups=groups,
            alphas=_alphas(self.alphas),
            folds=_folds(self.cv, X.shape[0]),
            n_iter=self.n_iter,
            seed=self.seed,
            candidates=self.candidates,
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            n_targets_batch=self.n_targets_batch,
            device=self.device,
            dtype=self.dtype,
        )
        self.coef_ = res.coef[:, 0] if one else res.coef.T
        self.intercept_ = _per_target(res.intercept, one)
        self.best_alphas_ = _per_target(res.best_alphas, one)
        self.best_gammas_ = res.best_gammas[0] if one else res.best_gammas
        self.cv_scores_ = _per_target(res.cv_scores, one)
        self.candidates_ = res.candidates
        self.groups_ = groups.astype(int)
        return self

    @fill_doc
    def score_split(self, X, y):
        """R^2 of each target credited to each band; the bands' parts sum to the target's R^2.

        Uses the product measure (:func:`~neuroalign.encoding.scores.r2_split`) on the
        predictions of ``X``; pass held-out data for a held-out credit.

        Parameters
        ----------
        {X}
        {y}

        Returns
        -------
        r2 : ndarray of shape (n_bands, n_targets) or (n_bands,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        y = np.asarray(y, float)
        W = np.atleast_2d(self.coef_)  # (n_targets, n_features)
        n_bands = int(self.groups_.max()) + 1
        parts = np.stack(
            [X[:, self.groups_ == g] @ W[:, self.groups_ == g].T for g in range(n_bands)]
        )
        split = r2_split(y[:, None] if y.ndim == 1 else y, parts, np.atleast_1d(self.intercept_))
        return split[:, 0] if y.ndim == 1 else split


@fill_doc
class LagRidgeCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Temporal response functions: ridge on lagged features, one alpha per target by CV.

    The delayed design is never built (:func:`~neuroalign.encoding.lagged.lag_ridge_cv`);
    cross-validation leaves one contiguous segment out at a time. With ``fit_intercept=False``
    the fit equals MNE's ``TimeDelayingRidge`` and ``ReceptiveField`` at the same alpha.

    Parameters
    ----------
    {alphas_grid}
    tmin, tmax : float
        First and last lag (s); positive lags are past input (the response follows the
        feature). The lags are ``round(tmin * sfreq) .. round(tmax * sfreq)`` samples.
    sfreq : float
        Sampling rate (Hz).
    {cv_lag}
    {fit_intercept}
    {scoring}
    {device}
    {dtype}
    {solver}
    {solver_params}

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features, n_lags) or (n_features, n_lags)
        The TRFs, in MNE's layout.
    intercept_ : ndarray of shape (n_targets,) or float
    best_alphas_ : ndarray of shape (n_targets,) or float
    cv_scores_ : ndarray of shape (n_alphas, n_targets)
        Mean over held-out segments (NaN with one segment).
    alphas_ : ndarray of shape (n_alphas,)
    lags_ : ndarray of int, shape (n_lags,)
        In samples.
    times_ : ndarray of shape (n_lags,)
        In seconds.
    n_lower_edge_, n_upper_edge_ : int
        Targets whose best alpha is the grid's smallest (largest, counted only where it
        beats the mean predictor).
    n_features_in_ : int

    Notes
    -----
    Predictions depend on neighbouring samples: rows must be in time order, and a subset of
    rows is not predicted as it is within the whole series.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((400, 1))
    >>> y = 2.0 * np.roll(x[:, 0], 2)  # the response follows the input by 2 samples
    >>> model = LagRidgeCV(alphas=[1e-3], tmin=0, tmax=4, sfreq=1.0).fit(x, y)
    >>> int(model.lags_[np.argmax(model.coef_[0])])
    2
    """

    def __init__(
        self,
        alphas=None,
        *,
        tmin=0.0,
        tmax=0.0,
        sfreq=1.0,
        cv=5,
        fit_intercept=True,
        scoring="neg_mse",
        device="cpu",
        dtype="float64",
        solver="lag_ridge_cv",
        solver_params=None,
    ):
        self.alphas = alphas
        self.tmin = tmin
        self.tmax = tmax
        self.sfreq = sfreq
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.device = device
        self.dtype = dtype
        self.solver = solver
        self.solver_params = solver_params

    def _lags(self) -> np.ndarray:
        check_range("sfreq", self.sfreq, 0, None, closed="neither")
        if self.tmin > self.tmax:
            raise ValueError(f"tmin ({self.tmin}) must be at most tmax ({self.tmax}).")
        return np.arange(round(self.tmin * self.sfreq), round(self.tmax * self.sfreq) + 1)

    @fill_doc
    def fit(self, X, y, segments=None):
        """Choose alphas by leave-one-segment-out CV and refit on all samples.

        Parameters
        ----------
        {X_undelayed}
        {y}
        segments : array of shape (n_samples,), optional
            Contiguous block label of each sample (runs); lags never cross a block edge and
            each block is held out once. Default: ``cv`` blocks of equal length.

        Returns
        -------
        self : LagRidgeCV
        """
        X, Y, one = _fit_data(self, X, y)
        lags = self._lags()
        if segments is None:
            segments = block_labels(X.shape[0], min(self.cv, X.shape[0]))
        res = call_solver(
            self.solver,
            "lagged",
            self.solver_params,
            X=X,
            Y=Y,
            lags=lags,
            alphas=_alphas(self.alphas),
            segments=segments,
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            device=self.device,
            dtype=self.dtype,
        )
        coef = res.coef.transpose(2, 1, 0)  # (n_targets, n_features, n_lags)
        self.coef_ = coef[0] if one else coef
        self.intercept_ = _per_target(res.intercept, one)
        self.best_alphas_ = _per_target(res.best_alphas, one)
        self.cv_scores_ = res.cv_scores
        self.alphas_ = res.alphas
        self.lags_ = res.lags
        self.times_ = res.lags / self.sfreq
        self.n_lower_edge_, self.n_upper_edge_ = res.n_lower_edge, res.n_upper_edge
        return self

    @fill_doc
    def predict(self, X, segments=None):
        """Predict targets from undelayed features, on the estimator's device and dtype.

        Parameters
        ----------
        {X_undelayed}
        {segments_optional}

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        one = self.coef_.ndim == 2
        coef = (self.coef_[None] if one else self.coef_).transpose(2, 1, 0)
        intercept = np.atleast_1d(self.intercept_)
        pred = lagged_predict(
            X, coef, intercept, self.lags_, segments, device=self.device, dtype=self.dtype
        )
        return pred[:, 0] if one else pred
