"""Per-target statistics of lagged (MEG) models on planted TRFs: held-out r, nulls, q, lags."""

import numpy as np
import pytest
from scipy import signal, stats

from neuroalign.encoding.lagged import lag_ridge_cv, lagged_predict
from neuroalign.encoding.pipeline import lag_fit_and_test
from neuroalign.encoding.scores import pearson_r, r2_score

SFREQ = 100
N_PLANTED, N_NULL = 10, 40


@pytest.fixture(scope="module")
def planted_sensors():
    """Word-like impulses (~3 per second); 10 sensors carry a TRF peaking at 150 ms, 40 do not.

    Noise is smooth in time (AR(1)) as MEG noise is, so a null that ignores autocorrelation
    would fail.
    """
    rng = np.random.default_rng(0)
    n = 10000
    onsets = np.cumsum(rng.uniform(20, 45, size=n // 20))
    onsets = onsets[onsets < n - 1].astype(int)
    X = np.zeros((n, 2))
    X[onsets, 0] = 1.0
    X[onsets, 1] = rng.standard_normal(onsets.size)
    t = np.arange(0, 41) / SFREQ
    kernel = np.exp(-((t - 0.15) ** 2) / (2 * 0.04**2))
    gains = rng.uniform(0.5, 1.0, N_PLANTED)
    evoked = np.convolve(X[:, 1], kernel)[:n]
    noise = signal.lfilter([1.0], [1.0, -0.8], rng.standard_normal((n, N_PLANTED + N_NULL)), axis=0)
    Y = 0.6 * noise / noise.std(0)
    Y[:, :N_PLANTED] += evoked[:, None] * gains
    segments = np.repeat(np.arange(5), n // 5)
    return X, Y, segments, kernel


@pytest.fixture(scope="module")
def held_out(planted_sensors):
    X, Y, segments, _ = planted_sensors
    return lag_fit_and_test(
        X,
        Y,
        np.arange(-5, 46),
        np.logspace(-1, 4, 6),
        segments,
        [4],
        rng=np.random.default_rng(1),
        n_perm=300,
        scoring="r",
    )


def test_planted_sensors_significant_null_sensors_uniform(held_out):
    res = held_out
    assert np.all(res.q[:N_PLANTED] < 0.05)
    assert np.all(res.r[:N_PLANTED] > 0.1)
    null_p = res.p[N_PLANTED:]
    assert stats.kstest(null_p, "uniform").pvalue > 0.05
    assert 0.35 < null_p.mean() < 0.65
    assert np.sum(res.q[N_PLANTED:] < 0.05) <= 1
    # held out means no fitting advantage: null sensors' r is centred on zero
    assert abs(res.r[N_PLANTED:].mean()) < 0.01


def test_scores_come_from_one_training_fit_on_the_test_block(planted_sensors, held_out):
    X, Y, segments, _ = planted_sensors
    lags, alphas = np.arange(-5, 46), np.logspace(-1, 4, 6)
    train, test = segments < 4, segments == 4
    fit = lag_ridge_cv(X[train], Y[train], lags, alphas, segments[train], scoring="r")
    pred = lagged_predict(X[test], fit.coef, fit.intercept, lags)
    np.testing.assert_allclose(held_out.r, pearson_r(Y[test], pred))
    np.testing.assert_allclose(held_out.r2, r2_score(Y[test], pred))
    np.testing.assert_array_equal(held_out.alpha, fit.best_alphas)
    np.testing.assert_allclose(held_out.coef, fit.coef)
    np.testing.assert_allclose(held_out.cv_score, fit.cv_scores.max(0))


def test_time_resolved_scores_peak_at_the_planted_latency(planted_sensors, held_out):
    kernel = planted_sensors[3]
    lags = held_out.lags
    peak = lags[np.argmax(held_out.r_by_lag[:, :N_PLANTED], axis=0)]
    assert np.all(np.abs(peak - np.argmax(kernel)) <= 1)
    assert (
        held_out.r_by_lag[:, :N_PLANTED].max(0).min()
        > 5 * np.abs(held_out.r_by_lag[:, N_PLANTED:]).mean()
    )
    # TRF of the planted feature (column 1) follows the kernel
    trf = held_out.coef[:, 1, :N_PLANTED].mean(1)
    assert np.corrcoef(trf[lags >= 0][: kernel.size], kernel)[0, 1] > 0.95


def test_no_permutations_leave_p_and_q_empty_and_test_blocks_checked(planted_sensors):
    X, Y, _, _ = planted_sensors
    segments = np.repeat(np.arange(4), 500)
    X, Y = X[:2000], Y[:2000, :3]
    res = lag_fit_and_test(
        X, Y, [0, 1], [1.0, 10.0], segments, [3], rng=np.random.default_rng(0), n_perm=0
    )
    assert np.all(np.isnan(res.p)) and np.all(np.isnan(res.q)) and res.r_by_lag.shape == (2, 3)
    with pytest.raises(ValueError, match="some, but not all"):
        lag_fit_and_test(X, Y, [0], [1.0], segments, [7], rng=np.random.default_rng(0))
