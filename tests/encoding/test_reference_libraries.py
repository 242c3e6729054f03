"""Equality with himalaya (a test dependency) on the same folds and alphas."""

import numpy as np
import pytest

from neuroalign.encoding.banded import banded_ridge_cv, gamma_candidates
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.ridge import ridge_cv

himalaya_ridge = pytest.importorskip("himalaya.ridge")
himalaya_kernel = pytest.importorskip("himalaya.kernel_ridge")
himalaya_backend = pytest.importorskip("himalaya.backend")


def planted(n, p, t, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ (rng.standard_normal((p, t)) * np.logspace(-1.5, 0.5, t)) + rng.standard_normal((n, t))
    return X, Y


@pytest.mark.parametrize(("n", "p", "cls"), [(150, 20, "RidgeCV"), (60, 120, "KernelRidgeCV")])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_ridge_cv_equals_himalaya(n, p, cls, fit_intercept):
    himalaya_backend.set_backend("numpy", on_error="raise")
    X, Y = planted(n, p, 12, 0)
    X, Y = X + 0.3, Y + 1.0
    alphas = np.logspace(-2, 5, 15)
    folds = block_folds(n, 5)
    ours = ridge_cv(X, Y, alphas, folds, fit_intercept=fit_intercept, widen_fraction=None)
    if cls == "RidgeCV":
        ref = himalaya_ridge.RidgeCV(alphas=alphas, cv=folds, fit_intercept=fit_intercept)
        ref.fit(X, Y)
        coef = ref.coef_
    else:
        ref = himalaya_kernel.KernelRidgeCV(
            alphas=alphas, cv=folds, kernel="linear", fit_intercept=fit_intercept
        ).fit(X, Y)
        Xc = X - X.mean(0) if fit_intercept else X
        coef = Xc.T @ ref.dual_coef_
    np.testing.assert_allclose(ours.best_alphas, ref.best_alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.coef, coef, rtol=1e-6, atol=1e-8)
    if fit_intercept:
        np.testing.assert_allclose(ours.intercept, ref.intercept_, rtol=1e-6)


def test_banded_ridge_equals_himalaya_on_same_candidates():
    himalaya_backend.set_backend("numpy", on_error="raise")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 10))
    groups = np.r_[np.zeros(4, int), np.ones(6, int)]
    Y = X[:, :4] @ rng.standard_normal((4, 5)) + rng.standard_normal((200, 5))
    Y[:, 3:] += X[:, 4:] @ rng.standard_normal((6, 2))
    alphas = np.logspace(-1, 3, 9)
    folds = block_folds(200, 4)
    # himalaya divides by the weights, so the simplex corners (a zero weight) are left out
    gammas = gamma_candidates(2, 6, np.random.default_rng(3))[2:]
    ours = banded_ridge_cv(X, Y, groups, alphas, folds, candidates=gammas, fit_intercept=False)
    ref = himalaya_ridge.BandedRidgeCV(
        groups=groups,
        solver_params=dict(n_iter=gammas, alphas=alphas, progress_bar=False),
        cv=folds,
    ).fit(X, Y)
    np.testing.assert_allclose(ours.coef, ref.coef_, rtol=1e-6, atol=1e-8)
