import numpy as np
import pytest
from scipy import stats as sps

from neuroalign.encoding.ceilings import (
    across_subject_ceiling,
    correlation_ceiling,
    explainable_variance,
    normalize,
    spearman_brown,
    split_half_reliability,
)
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.evaluate import baseline_gain, cross_val_predict
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.encoding.stats import (
    bh_qvalues,
    block_permutation_null,
    circular_shift_null,
    p_values,
)


def repeats_with_ev(ev, n_rep, n_samples, rng):
    """Signal variance ev, noise variance 1 - ev in each repeat."""
    signal = rng.standard_normal((n_samples, ev.size)) * np.sqrt(ev)
    noise = rng.standard_normal((n_rep, n_samples, ev.size)) * np.sqrt(1 - ev)
    return signal[None] + noise, signal


@pytest.mark.parametrize("n_rep", [2, 5, 10])
def test_explainable_variance_unbiased(n_rep):
    rng = np.random.default_rng(n_rep)
    ev = np.linspace(0, 0.8, 9).repeat(200)
    repeats, _ = repeats_with_ev(ev, n_rep, 1000, rng)
    est = explainable_variance(repeats)
    for level in np.unique(ev):
        assert abs(est[ev == level].mean() - level) < 0.01


def test_ceilings_agree_and_perfect_model_scores_one():
    rng = np.random.default_rng(0)
    ev = np.full(200, 0.3)
    repeats, signal = repeats_with_ev(ev, 6, 400, rng)
    cc = correlation_ceiling(explainable_variance(repeats), 6)
    split = np.sqrt(split_half_reliability(repeats, n_splits=10, rng=rng))
    assert abs(cc.mean() - split.mean()) < 0.02
    perfect = pearson_r(repeats.mean(0), signal)
    np.testing.assert_allclose(normalize(perfect, cc, "r/c").mean(), 1, atol=0.03)
    r2 = r2_score(repeats[0], signal)
    np.testing.assert_allclose(normalize(r2, ev, "r2/ev").mean(), 1, atol=0.05)
    assert normalize(np.array([0.5]), np.array([0.0]))[0] != normalize(0.5, 1.0)
    np.testing.assert_allclose(spearman_brown(0.5), 2 / 3)


def test_across_subject_ceiling():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((500, 50))
    subjects = signal[None] + rng.standard_normal((8, 500, 50))
    # each subject: var 2, covariance with the mean of 7 others: 1, var of that mean 1 + 1/7
    expected = 1 / np.sqrt(2 * (1 + 1 / 7))
    assert abs(across_subject_ceiling(subjects).mean() - expected) < 0.02


def test_null_targets_uniform_p_and_bh_matches_scipy():
    rng = np.random.default_rng(2)
    n, t = 400, 300
    Y = rng.standard_normal((n, t))
    pred = rng.standard_normal((n, t))
    observed = pearson_r(Y, pred)
    null = circular_shift_null(Y, pred, n_perm=199, rng=rng, min_shift=10)
    p = p_values(observed, null)
    assert sps.kstest(p, "uniform").pvalue > 0.01
    assert sps.kstest(p_values(observed, null, method="gaussian"), "uniform").pvalue > 0.01
    lo, hi = sps.binom.interval(0.99, t, 0.05)
    assert lo <= (p < 0.05).sum() <= hi
    assert abs(observed.mean()) < 2 / np.sqrt(n)
    q = bh_qvalues(p)
    np.testing.assert_allclose(q, sps.false_discovery_control(p, method="bh"))
    p_nan = np.r_[p[:5], np.nan]
    assert np.isnan(bh_qvalues(p_nan)[-1])
    np.testing.assert_allclose(bh_qvalues(p_nan)[:5], sps.false_discovery_control(p[:5]))


def test_bh_is_scipys_over_every_entry_and_leaves_nan_out():
    rng = np.random.default_rng(5)
    p = rng.uniform(size=(4, 25)) ** 3
    p[0, :3] = p[0, 3]  # ties
    np.testing.assert_array_equal(
        bh_qvalues(p).ravel(), sps.false_discovery_control(p, axis=None, method="bh")
    )
    p_nan = p.copy()
    p_nan[1, ::4] = np.nan
    q = bh_qvalues(p_nan)
    ok = ~np.isnan(p_nan)
    assert q.shape == p.shape and np.isnan(q[~ok]).all()
    np.testing.assert_array_equal(q[ok], sps.false_discovery_control(p_nan[ok]))
    # NaNs do not count in m: the finite entries get exactly what they get alone
    assert (q[ok] <= bh_qvalues(np.where(ok, p_nan, 1.0))[ok]).all()
    assert np.isnan(bh_qvalues(np.full(3, np.nan))).all()
    assert bh_qvalues(np.array([])).shape == (0,)
    np.testing.assert_array_equal(bh_qvalues([np.nan, 0.2]), [np.nan, 0.2])


def test_nulls_detect_signal_and_block_permutation():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((300, 4))
    pred = Y + rng.standard_normal((300, 4))
    null = block_permutation_null(Y, pred, block=20, n_perm=99, rng=rng)
    assert null.shape == (99, 4)
    assert np.all(p_values(pearson_r(Y, pred), null) == 0.01)
    again = block_permutation_null(Y, pred, block=20, n_perm=99, rng=np.random.default_rng(3))
    assert again.shape == null.shape


def test_baseline_gain_credits_only_new_information():
    rng = np.random.default_rng(4)
    n = 300
    base = rng.standard_normal((n, 2))
    model = rng.standard_normal((n, 5))
    y = np.c_[base @ [1.0, 0.5] + model @ rng.standard_normal(5), base @ [1.0, 0.5]]
    y = y + 0.5 * rng.standard_normal((n, 2))
    out = baseline_gain(model, base, y, np.logspace(-2, 3, 6), block_folds(n, 5))
    assert out["r2_gain"][0] > 0.3 and abs(out["r2_gain"][1]) < 0.03
    pred, alphas = cross_val_predict(base, y, [1.0], block_folds(n, 5))
    assert alphas.shape == (5, 2) and not np.isnan(pred).any()
