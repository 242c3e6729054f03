"""Item-level sweeps: nested models with an unpenalized baseline, refit nulls, peak layers."""

import numpy as np
import pytest
from scipy import stats

from neuroalign._check import NeuroalignError
from neuroalign.encoding.cv import block_folds, group_folds
from neuroalign.encoding.evaluate import baseline_gain, cross_val_predict_over_baseline
from neuroalign.encoding.gain_sweep import gain_sweep, grouped_gain_sweep, zscore_columns

ALPHAS = np.logspace(-1, 4, 8)


def test_over_baseline_equals_the_direct_solution_with_no_penalty_on_the_baseline():
    rng = np.random.default_rng(0)
    n, alpha = 80, 7.0
    B = rng.standard_normal((n, 2))
    X = rng.standard_normal((n, 6)) + B[:, :1]
    Y = rng.standard_normal((n, 3)) + X[:, :2] @ [[1.0, 0, 2], [0, 1, 1]]
    Y += B @ [[1, 2, 0], [0, 1, 0]]
    folds = block_folds(n, 4)
    p_base, p_full, alphas = cross_val_predict_over_baseline(X, B, Y, [alpha], folds)
    assert alphas.shape == (4, 3) and np.all(alphas == alpha)
    for train, test in folds:
        D = np.c_[np.ones(n), B, X]
        penalty = np.diag([0, 0, 0, *[alpha] * 6])
        coef = np.linalg.solve(D[train].T @ D[train] + penalty, D[train].T @ Y[train])
        np.testing.assert_allclose(p_full[test], D[test] @ coef, rtol=1e-8, atol=1e-10)
        ols, *_ = np.linalg.lstsq(D[train, :3], Y[train], rcond=None)
        np.testing.assert_allclose(p_base[test], D[test, :3] @ ols, rtol=1e-8, atol=1e-10)


def test_unpenalized_baseline_is_not_shrunk_by_many_useless_features():
    rng = np.random.default_rng(1)
    n = 200
    B = rng.standard_normal((n, 1))
    noise = rng.standard_normal((n, 150))
    y = 2.0 * B[:, 0] + 0.5 * rng.standard_normal(n)
    folds = block_folds(n, 5)
    free = baseline_gain(noise, B, y, ALPHAS, folds, penalize_baseline=False)
    shared = baseline_gain(noise, B, y, ALPHAS, folds)
    # the baseline explains 94% of the variance; useless features cost at most a little
    assert free["r2_baseline"][0] > 0.9
    assert -0.01 < free["r2_gain"][0] < 0.005
    # a shared penalty shrinks the baseline with the 150 noise columns
    assert shared["r2_gain"][0] < free["r2_gain"][0] - 0.01


def _planted_sentences(seed=0, n=240, n_units=10):
    """Four layers that all encode sentence length; only layer 2 carries more of the response."""
    rng = np.random.default_rng(seed)
    length = rng.integers(4, 20, n).astype(float)
    z = (length - length.mean()) / length.std()
    layers = {}
    for k in range(4):
        X = rng.standard_normal((n, n_units))
        X[:, 0] = z + 0.3 * X[:, 0]
        layers[k] = X
    signal = layers[2][:, 1:6] @ rng.standard_normal(5)
    y = z + 0.6 * signal / signal.std() + 0.7 * rng.standard_normal(n)
    return layers, y, length


def test_sweep_peaks_at_the_planted_layer_and_credits_the_gain_only_there():
    layers, y, length = _planted_sentences()
    folds = group_folds(np.random.default_rng(0).permutation(np.arange(len(y)) % 5))
    s = gain_sweep(layers, y, length, folds, alphas=ALPHAS, n_perm=49, seed=0)
    assert s.labels == [0, 1, 2, 3] and s.r.shape == (4, 1) and s.null_r.shape == (4, 49, 1)
    # every layer knows the length, so every layer predicts the response on its own ...
    assert np.all(s.r[:, 0] > 0.6) and np.all(s.p[:, 0] == 0.02)
    # ... but only the planted layer adds to the length baseline
    assert s.peak[0] == 2 and s.peak_gain[0] == 2
    assert s.r2_gain[2, 0] > 0.15 and s.p_gain[2, 0] == 0.02 and s.p_peak_gain[0] == 0.02
    others = [0, 1, 3]
    assert np.all(np.abs(s.r2_gain[others, 0]) < 0.03) and np.all(s.p_gain[others, 0] > 0.2)
    assert s.r2_baseline[0] == pytest.approx(np.corrcoef(length, y)[0, 1] ** 2, abs=0.03)
    np.testing.assert_allclose(s.r_gain, s.r_full - s.r_baseline)
    np.testing.assert_allclose(s.r2_gain, s.r2_full - s.r2_baseline)
    assert s.n_items.tolist() == [len(y)]


def test_nulls_are_calibrated_when_nothing_is_planted():
    layers, _, length = _planted_sentences(seed=1)
    Y = np.random.default_rng(5).standard_normal((len(length), 60))
    folds = block_folds(len(length), 5)
    s = gain_sweep(
        {k: layers[k] for k in (0, 1)}, Y, length, folds, alphas=ALPHAS, n_perm=49, seed=3
    )
    for p in (s.p.ravel(), s.p_gain.ravel(), s.p_peak, s.p_peak_gain):
        assert 0.4 < p.mean() < 0.65
        assert np.mean(p <= 0.1) < 0.2
        assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.all(s.q > 0.5)  # nothing survives BH


def test_without_permutations_p_values_are_nan():
    layers, y, length = _planted_sentences(n=60)
    s = gain_sweep({0: layers[0]}, y, length, block_folds(60, 3), alphas=ALPHAS, n_perm=0)
    assert np.isnan(s.p).all() and np.isnan(s.p_gain).all() and np.isnan(s.p_peak).all()
    assert s.null_r.shape == (1, 0, 1) and np.isfinite(s.r).all()


def test_permutations_within_groups_stay_calibrated_where_free_ones_are_not():
    # Words share their sentence's level (a group effect in the response) and group-level
    # features: under the null, free permutations break the group structure the observed
    # statistic keeps, and reject too often; permutations within groups do not.
    rng = np.random.default_rng(1)
    n_groups, size, n_targets = 12, 20, 100
    groups = np.repeat(np.arange(n_groups), size)
    features = rng.standard_normal((n_groups, 5))[groups] + 0.2 * rng.standard_normal((240, 5))
    Y = rng.standard_normal((n_groups, n_targets))[groups] + 0.3 * rng.standard_normal(
        (240, n_targets)
    )
    base = rng.standard_normal(240)
    kwargs = dict(alphas=ALPHAS, n_perm=49, seed=1)
    within = grouped_gain_sweep({0: features}, Y, base, groups, n_folds=4, **kwargs)
    free = gain_sweep({0: features}, Y, base, group_folds(groups, n_folds=4), **kwargs)
    assert np.mean(within.p <= 0.05) < 0.09 and np.mean(within.p_gain <= 0.05) < 0.09
    assert np.mean(free.p <= 0.05) > 0.1


def test_grouped_sweep_uses_each_targets_valid_items():
    layers, y, length = _planted_sentences(n=120)
    groups = np.repeat(np.arange(30), 4)
    Y = np.c_[y, y, -y]
    Y[:8, 1] = np.nan  # target 1 misses two groups
    valid = np.ones(Y.shape, bool)
    valid[::4, 2] = False  # target 2 leaves out the first item of every group
    kwargs = dict(n_folds=5, alphas=ALPHAS, n_perm=9, seed=2)
    s = grouped_gain_sweep({2: layers[2]}, Y, length, groups, valid=valid, **kwargs)
    assert s.n_items.tolist() == [120, 112, 90]
    rows = np.flatnonzero(valid[:, 2])
    alone = gain_sweep(
        {2: layers[2][rows]},
        -y[rows],
        length[rows],
        group_folds(groups[rows], n_folds=5),
        blocks=groups[rows],
        alphas=ALPHAS,
        n_perm=9,
        seed=2,
    )
    np.testing.assert_allclose(s.r[:, 2], alone.r[:, 0])
    np.testing.assert_allclose(s.p_gain[:, 2], alone.p_gain[:, 0])
    with pytest.raises(NeuroalignError, match="at least 2 groups"):
        grouped_gain_sweep({0: layers[0]}, y, length, np.zeros(120), **kwargs)


def test_zscore_columns_keeps_constant_columns_at_zero():
    X = np.c_[np.arange(5.0), np.full(5, 3.0)]
    Z = zscore_columns(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    assert Z[:, 0].std() == pytest.approx(1) and np.all(Z[:, 1] == 0)
