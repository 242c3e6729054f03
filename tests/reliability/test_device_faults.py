"""The device running out of memory during a ridge fit, simulated on the CPU.

An injected allocation failure (``torch.OutOfMemoryError``, what CUDA raises) for every block of
targets wider than a limit: the solver splits the block in halves until it fits, and the fit
equals the unconstrained one. (Out of memory during extraction: ``models/test_extract.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign._check import NeuroalignError
from neuroalign.encoding import ridge
from neuroalign.encoding.estimators import BandedRidgeCV, RidgeCV

ALPHAS = np.logspace(-2, 4, 13)


def _data(n_samples=60, n_features=8, n_targets=11, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, n_targets)) * np.linspace(0.05, 2, n_targets)
    Y = X @ W + rng.standard_normal((n_samples, n_targets))
    return X, Y


@pytest.fixture
def small_memory(monkeypatch):
    """Blocks of more than ``limit`` targets fail to allocate; returns the widths tried."""
    tried: list[int] = []
    limit = 3
    real_scores, real_refit = ridge._fold_scores, ridge._refit_block

    def check(Yc):
        tried.append(int(Yc.shape[1]))
        if Yc.shape[1] > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def fold_scores(spec, y_train, y_test, alphas, scoring):
        check(y_train)
        return real_scores(spec, y_train, y_test, alphas, scoring)

    def refit_block(spec, Yc, a, fit_intercept):
        check(Yc)
        return real_refit(spec, Yc, a, fit_intercept)

    monkeypatch.setattr(ridge, "_fold_scores", fold_scores)
    monkeypatch.setattr(ridge, "_refit_block", refit_block)
    return tried


@pytest.mark.parametrize("route", ["primal", "dual"])
def test_out_of_memory_in_a_ridge_fit_halves_the_target_blocks(route, small_memory, caplog):
    X, Y = _data(n_features=8 if route == "primal" else 80)
    kwargs = {"alphas": ALPHAS, "cv": 4, "route": route, "n_targets_batch": 8}
    expected = RidgeCV(**kwargs).fit(X, Y)
    small_memory.clear()
    with caplog.at_level("WARNING", logger="neuroalign.encoding.ridge"):
        got = RidgeCV(**kwargs).fit(X, Y)
    # 8 -> 4 -> 2: every block of 8 and 4 failed, blocks of 2 (and the 1 left over) did it.
    assert {8, 4} <= set(small_memory) and max(w for w in small_memory if w <= 3) == 2
    assert "target blocks now 2" in caplog.text
    np.testing.assert_array_equal(got.best_alphas_, expected.best_alphas_)
    np.testing.assert_array_equal(got.alphas_, expected.alphas_)
    np.testing.assert_allclose(got.cv_scores_, expected.cv_scores_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.coef_, expected.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.intercept_, expected.intercept_, rtol=1e-12, atol=1e-14)


def test_out_of_memory_in_a_banded_fit_gives_the_same_fit(small_memory):
    X, Y = _data(n_features=6)
    groups = np.repeat([0, 1, 2], 2)
    kwargs = {"groups": groups, "alphas": ALPHAS, "cv": 3, "n_iter": 5, "n_targets_batch": 16}
    expected = BandedRidgeCV(**kwargs).fit(X, Y)
    small_memory.clear()
    got = BandedRidgeCV(**kwargs).fit(X, Y)
    assert 11 in small_memory and max(w for w in small_memory if w <= 3) == 2
    np.testing.assert_array_equal(got.best_alphas_, expected.best_alphas_)
    np.testing.assert_array_equal(got.best_gammas_, expected.best_gammas_)
    np.testing.assert_allclose(got.coef_, expected.coef_, rtol=1e-12, atol=1e-14)


def test_a_target_that_does_not_fit_is_one_line(monkeypatch):
    def no_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ridge, "_fold_scores", no_memory)
    X, Y = _data(n_targets=3)
    with pytest.raises(NeuroalignError, match="one target does not fit in cpu memory") as info:
        RidgeCV(alphas=ALPHAS, cv=3).fit(X, Y)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def test_other_errors_in_a_block_are_not_retried(monkeypatch):
    calls = []

    def broken(*args):
        calls.append(1)
        raise RuntimeError("shape mismatch (a bug)")

    monkeypatch.setattr(ridge, "_fold_scores", broken)
    X, Y = _data()
    with pytest.raises(RuntimeError, match="shape mismatch"):
        RidgeCV(alphas=ALPHAS, cv=3).fit(X, Y)
    assert calls == [1]
