import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.localize.alignment import compare_alignment, ridge_pearson
from neuroalign.localize.select import random_masks


def test_ridge_recovers_linear_target():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 5))
    y = x @ rng.standard_normal((5, 2)) + 0.1 * rng.standard_normal((100, 2))
    assert (ridge_pearson(x, y) > 0.95).all()
    groups = np.repeat(np.arange(20), 5)
    assert (ridge_pearson(x, y, groups=groups) > 0.95).all()
    with pytest.raises(NeuroalignError, match="items"):
        ridge_pearson(x, y[:10])


def test_planted_units_beat_95_percent_of_random_sets():
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((150, 3, 40))
    mask = np.zeros((3, 40), bool)
    mask[[0, 1, 2, 2], [3, 9, 0, 17]] = True
    voxel = acts[:, mask] @ rng.standard_normal(4) + 0.5 * rng.standard_normal(150)
    rand, _ = random_masks(mask, n_seeds=20, seed=1)
    res = compare_alignment(acts, voxel, mask, rand, n_splits=3, alphas=(0.1, 10.0, 1000.0))
    assert res.localized.shape == (1,) and res.random.shape == (20, 1)
    assert np.mean(res.random[:, 0] < res.localized[0]) >= 0.95
    assert res.percentile >= 95 and res.difference > 0.3


def test_default_grid_is_the_one_grid_and_options_reach_the_fit(monkeypatch):
    from neuroalign.localize import alignment
    from neuroalign.settings import alpha_grid

    seen = []
    real = alignment.cross_val_predict

    def spy(x, y, alphas, folds, **options):
        seen.append((np.asarray(alphas), options))
        return real(x, y, alphas, folds, **options)

    monkeypatch.setattr(alignment, "cross_val_predict", spy)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((60, 4))
    y = x @ rng.standard_normal(4)
    ridge_pearson(x, y, n_splits=3)
    np.testing.assert_array_equal(seen[-1][0], alpha_grid())
    assert seen[-1][1] == {}
    grid = {"start": -1, "stop": 2, "num": 4}
    ridge_pearson(x, y, n_splits=3, alphas=grid, inner_folds=3)
    np.testing.assert_array_equal(seen[-1][0], np.logspace(-1, 2, 4))
    assert seen[-1][1] == {"inner_folds": 3}
    mask = np.zeros((1, 4), bool)
    mask[0, :2] = True
    compare_alignment(x[:, None], y, mask, mask[None], n_splits=3, inner_folds=4)
    np.testing.assert_array_equal(seen[-1][0], alpha_grid())
    assert seen[-1][1] == {"inner_folds": 4}
