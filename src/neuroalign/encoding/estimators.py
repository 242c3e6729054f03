"""scikit-learn estimators over the pure solvers in :mod:`neuroalign.encoding.solvers`."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.ridge import ridge_cv


class RidgeCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ridge regression with one alpha per target chosen by cross-validation.

    Parameters
    ----------
    alphas : array of shape (n_alphas,) or None
        Candidate penalties (``alpha * ||w||^2``); None means ``np.logspace(-3, 6, 19)``.
    cv : int or sequence of (train, test)
        Number of contiguous blocks (no shuffling), or explicit folds (e.g. from
        :func:`~neuroalign.encoding.cv.group_folds`).
    fit_intercept : bool
    scoring : {"neg_mse", "r2", "r"}
        Per-fold score used to choose alphas.
    route : {"auto", "primal", "dual"}
    widen_fraction : float or None
        Widen the grid when more than this fraction of targets sits at an edge.
    n_targets_batch : int or None
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    dtype : {"float32", "float64"}

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
    intercept_ : ndarray of shape (n_targets,) or float
    best_alphas_ : ndarray of shape (n_targets,) or float
    cv_scores_ : ndarray of shape (n_alphas, n_targets)
    alphas_ : ndarray of shape (n_alphas,)
        The grid after any widening.
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
        widen_fraction=None,
        n_targets_batch=8192,
        device="cpu",
        dtype="float64",
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

    def fit(self, X, y):
        """Choose alphas by cross-validation and refit on all samples.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : RidgeCV
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        if X.shape[0] < 2:
            raise ValueError(f"RidgeCV needs at least 2 samples; got n_samples = {X.shape[0]}.")
        Y = y[:, None] if y.ndim == 1 else y
        alphas = np.logspace(-3, 6, 19) if self.alphas is None else self.alphas
        folds = (
            block_folds(X.shape[0], min(self.cv, X.shape[0])) if np.isscalar(self.cv) else self.cv
        )
        res = ridge_cv(
            X,
            Y,
            alphas,
            folds,
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            route=self.route,
            widen_fraction=self.widen_fraction,
            n_targets_batch=self.n_targets_batch,
            device=self.device,
            dtype=self.dtype,
        )
        one = y.ndim == 1
        self.coef_ = res.coef[:, 0] if one else res.coef.T
        self.intercept_ = float(res.intercept[0]) if one else res.intercept
        self.best_alphas_ = float(res.best_alphas[0]) if one else res.best_alphas
        self.cv_scores_ = res.cv_scores
        self.alphas_ = res.alphas
        return self

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_
