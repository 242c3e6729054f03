import numpy as np
import pytest

from neuroalign.encoding.banded import banded_ridge_cv, gamma_candidates
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.ridge import refit
from neuroalign.encoding.scores import r2_score, r2_split


@pytest.fixture(scope="module")
def two_spaces():
    """Space 0 drives targets 0-5, space 1 drives targets 6-11."""
    rng = np.random.default_rng(0)
    n, p0, p1 = 400, 6, 8
    X = rng.standard_normal((n, p0 + p1))
    groups = np.r_[np.zeros(p0, int), np.ones(p1, int)]
    W = np.zeros((p0 + p1, 12))
    W[:p0, :6] = rng.standard_normal((p0, 6))
    W[p0:, 6:] = rng.standard_normal((p1, 6))
    Y = X @ W + 0.5 * rng.standard_normal((n, 12))
    return X, Y, groups


def test_each_space_credited_with_its_own_targets(two_spaces):
    X, Y, groups = two_spaces
    res = banded_ridge_cv(X, Y, groups, np.logspace(-2, 4, 13), block_folds(400, 4), n_iter=10)
    assert np.all(res.best_gammas[:6, 0] > 0.9) and np.all(res.best_gammas[6:, 1] > 0.9)
    parts = np.stack([X[:, groups == g] @ res.coef[groups == g] for g in (0, 1)])
    split = r2_split(Y, parts, res.intercept)
    joint = r2_score(Y, X @ res.coef + res.intercept)
    np.testing.assert_allclose(split.sum(0), joint, atol=1e-10)
    share = split / split.sum(0)
    assert np.all(share[0, :6] > 0.9) and np.all(share[1, 6:] > 0.9)
    # the wrong space's weights shrink towards zero
    assert np.abs(res.coef[groups == 1, :6]).max() < 0.05


def test_coef_is_refit_with_chosen_penalties(two_spaces):
    X, Y, groups = two_spaces
    res = banded_ridge_cv(X, Y, groups, [1.0, 100.0], block_folds(400, 4), n_iter=3)
    k = 3
    scale = np.sqrt(res.best_gammas[k])[groups]
    w, _, _ = refit(X * scale, Y[:, [k]], res.best_alphas[[k]])
    np.testing.assert_allclose(res.coef[:, k], w[:, 0] * scale, rtol=1e-10)
    assert res.candidates.shape == (2 + 1 + 3, 2)


def test_candidates_on_simplex_and_seeded():
    a = gamma_candidates(3, 5, np.random.default_rng(1))
    b = gamma_candidates(3, 5, np.random.default_rng(1))
    np.testing.assert_allclose(a.sum(1), 1)
    assert np.array_equal(a, b) and a.shape == (9, 3)


def test_groups_checked():
    with pytest.raises(ValueError, match="every space"):
        banded_ridge_cv(np.zeros((10, 2)), np.zeros((10, 1)), [0, 2], [1.0], block_folds(10, 2))
