import numpy as np
import pytest
from sklearn.linear_model import Ridge

from neuroalign.encoding.delays import delay
from neuroalign.encoding.lagged import (
    check_lags,
    lag_resolved_r,
    lag_ridge_cv,
    lagged_gram,
    lagged_predict,
)
from neuroalign.encoding.scores import pearson_r


def test_lagged_gram_equals_explicit_design():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    for lags in (np.arange(-3, 6), np.arange(0, 1), np.arange(2, 7)):
        D = delay(X, lags)
        np.testing.assert_allclose(lagged_gram(X, lags), D.T @ D, rtol=1e-10, atol=1e-9)


def test_matches_mne_time_delaying_ridge():
    mne_decoding = pytest.importorskip("mne.decoding")
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((400, 32)), rng.standard_normal((400, 3))
    lags = np.arange(-2, 6)
    mne = pytest.importorskip("mne")
    with mne.use_log_level("error"):
        ref = mne_decoding.TimeDelayingRidge(
            lags[0], lags[-1], 1.0, alpha=5.0, fit_intercept=False
        ).fit(X, Y)
    ours = lag_ridge_cv(X, Y, lags, [5.0], np.zeros(400), fit_intercept=False)
    # ours: (lag, feature, target); MNE: (target, feature, lag)
    np.testing.assert_allclose(ours.coef.transpose(2, 1, 0), ref.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scoring", ["neg_mse", "r2", "r"])
def test_cv_equals_explicit_delayed_ridge(scoring):
    rng = np.random.default_rng(2)
    n, p = 240, 3
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n, 2)) + delay(X, [1, 2]) @ rng.standard_normal((2 * p, 2))
    segments = np.repeat([0, 1, 2], 80)
    lags = np.arange(-1, 4)
    alphas = np.array([0.1, 10.0, 1000.0])
    res = lag_ridge_cv(X, Y, lags, alphas, segments, scoring=scoring)
    D = delay(X, lags, runs=segments)
    expected = np.zeros((3, 2))
    for i, a in enumerate(alphas):
        for s in range(3):
            tr, te = segments != s, segments == s
            pred = Ridge(alpha=a).fit(D[tr], Y[tr]).predict(D[te])
            yt = Y[te]
            if scoring == "neg_mse":
                expected[i] += -((yt - pred) ** 2).mean(0) / 3
            elif scoring == "r2":
                expected[i] += (1 - ((yt - pred) ** 2).sum(0) / ((yt - yt.mean(0)) ** 2).sum(0)) / 3
            else:
                expected[i] += (
                    np.array([np.corrcoef(yt[:, k], pred[:, k])[0, 1] for k in range(2)]) / 3
                )
    np.testing.assert_allclose(res.cv_scores, expected, rtol=1e-8, atol=1e-10)
    for k in range(2):
        ref = Ridge(alpha=res.best_alphas[k]).fit(D, Y[:, k])
        np.testing.assert_allclose(res.coef[:, :, k].ravel(), ref.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(res.intercept[k], ref.intercept_, rtol=1e-8)


def test_planted_trf_recovered_with_right_peak_lag():
    rng = np.random.default_rng(3)
    sfreq, n = 100, 6000
    X = np.zeros((n, 1))
    X[rng.choice(n, 400, replace=False), 0] = rng.standard_normal(400)
    t = np.arange(0, 41) / sfreq
    kernel = (t / 0.1) ** 4 * np.exp(-(t - 0.1) / 0.025)  # gamma-shaped, peak at 100 ms
    y = np.convolve(X[:, 0], kernel)[:n] + 0.05 * rng.standard_normal(n)
    lags = np.arange(-5, 41)
    res = lag_ridge_cv(X, y[:, None], lags, np.logspace(-3, 2, 6), np.repeat(np.arange(5), n // 5))
    trf = res.coef[:, 0, 0]
    assert lags[np.argmax(trf)] == 10
    assert np.corrcoef(trf[5:], kernel)[0, 1] > 0.95


def test_input_checks():
    with pytest.raises(ValueError, match="contiguous"):
        check_lags([0, 2, 3])
    with pytest.raises(ValueError, match="single alpha"):
        lag_ridge_cv(np.zeros((10, 1)), np.zeros((10, 1)), [0, 1], [1, 2], np.zeros(10))
    with pytest.raises(ValueError, match="contiguous block"):
        lag_ridge_cv(np.ones((6, 1)), np.ones((6, 1)), [0], [1, 2], [0, 1, 0, 1, 0, 1])


def test_lagged_predict_equals_explicit_delayed_design():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 3))
    lags = np.arange(-2, 4)
    coef = rng.standard_normal((lags.size, 3, 2))
    intercept = rng.standard_normal(2)
    segments = np.repeat([5, 1, 7], 30)
    expected = delay(X, lags, runs=segments) @ coef.reshape(-1, 2) + intercept
    np.testing.assert_allclose(lagged_predict(X, coef, intercept, lags, segments), expected)
    whole = delay(X, lags) @ coef.reshape(-1, 2) + intercept
    np.testing.assert_allclose(lagged_predict(X, coef, intercept, lags), whole)
    with pytest.raises(ValueError, match="n_lags=6"):
        lagged_predict(X, coef[1:], intercept, lags)


def test_lag_resolved_r_equals_explicit_partial_predictions():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((150, 2))
    lags = np.arange(-1, 3)
    coef = rng.standard_normal((lags.size, 2, 3))
    segments = np.repeat([0, 1, 2], 50)
    D = delay(X, lags, runs=segments)
    Y = D[:, 2:4] @ coef[1] + rng.standard_normal((150, 3))  # lag 0 carries the signal
    expected = np.stack([pearson_r(Y, D[:, 2 * i : 2 * i + 2] @ coef[i]) for i in range(lags.size)])
    got = lag_resolved_r(X, Y, coef, lags, segments)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert np.all(np.argmax(got, axis=0) == 1)
    with pytest.raises(ValueError, match="n_lags=4"):
        lag_resolved_r(X, Y, coef[:2], lags)
