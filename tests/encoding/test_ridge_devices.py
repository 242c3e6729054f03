"""Ridge with the targets split between devices equals the fit on one device."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.estimators import RidgeCV
from neuroalign.encoding.ridge import ridge_cv


def _problem(n=120, p=30, t=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, t)) * rng.uniform(0, 2, t)  # targets of very different SNR
    Y = X @ W + rng.standard_normal((n, t)) * rng.uniform(0.1, 20, t)
    return X, Y


@pytest.mark.parametrize("n_devices", [2, 3])
def test_targets_split_between_devices_give_the_single_device_fit(n_devices):
    X, Y = _problem()
    folds = block_folds(len(X), 4)
    # A narrow grid, so that the edge widening (decided on all targets together) runs.
    alphas = np.logspace(0, 1, 3)
    one = ridge_cv(X, Y, alphas, folds, device="cpu")
    split = ridge_cv(X, Y, alphas, folds, devices=["cpu"] * n_devices)
    assert len(one.alphas) > 3  # the grid was widened
    np.testing.assert_array_equal(split.alphas, one.alphas)
    np.testing.assert_array_equal(split.best_alphas, one.best_alphas)
    np.testing.assert_allclose(split.cv_scores, one.cv_scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(split.coef, one.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(split.intercept, one.intercept, rtol=1e-10, atol=1e-12)
    assert (split.n_lower_edge, split.n_upper_edge) == (one.n_lower_edge, one.n_upper_edge)


def test_estimator_takes_the_devices_through_its_solver_params():
    X, Y = _problem(seed=1)
    one = RidgeCV(alphas=np.logspace(-2, 4, 7), cv=4).fit(X, Y)
    split = RidgeCV(
        alphas=np.logspace(-2, 4, 7), cv=4, solver_params={"devices": ["cpu", "cpu"]}
    ).fit(X, Y)
    np.testing.assert_array_equal(split.best_alphas_, one.best_alphas_)
    np.testing.assert_allclose(split.predict(X), one.predict(X), rtol=1e-10, atol=1e-10)


def test_results_kept_on_one_device_only():
    X, Y = _problem()
    with pytest.raises(NeuroalignError, match="keep_on_device needs one device"):
        ridge_cv(
            X, Y, [1.0, 10.0], block_folds(len(X), 3), devices=["cpu", "cpu"], keep_on_device=True
        )
