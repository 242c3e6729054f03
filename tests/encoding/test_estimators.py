import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuroalign.encoding.banded import banded_ridge_cv
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.delays import delay
from neuroalign.encoding.estimators import BandedRidgeCV, LagRidgeCV, RidgeCV
from neuroalign.encoding.lagged import lag_ridge_cv
from neuroalign.encoding.scores import r2_score

ALPHAS = [0.1, 1.0, 10.0]
# With lags beyond 0 a prediction depends on the neighbouring rows, so predicting a subset or a
# reordering of the rows cannot equal the matching rows of the whole prediction.
TIME_ORDER_CHECKS = {
    "check_methods_subset_invariance": "predictions depend on neighbouring samples (lags)",
    "check_methods_sample_order_invariance": "predictions depend on the order of samples (lags)",
}


def _expected_failures(estimator):
    if isinstance(estimator, LagRidgeCV) and estimator.tmax > estimator.tmin:
        return TIME_ORDER_CHECKS
    return {}


@parametrize_with_checks(
    [
        RidgeCV(alphas=ALPHAS, cv=3),
        BandedRidgeCV(alphas=ALPHAS, cv=3, n_iter=2),
        LagRidgeCV(alphas=ALPHAS, cv=3),
        LagRidgeCV(alphas=ALPHAS, tmin=-1.0, tmax=2.0, cv=3),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_matches_sklearn_ridge_at_chosen_alpha():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((60, 3))
    folds = block_folds(60, 3)
    model = RidgeCV(alphas=np.logspace(-2, 2, 5), cv=folds).fit(X, Y)
    for k in range(3):
        ref = Ridge(alpha=model.best_alphas_[k]).fit(X, Y[:, k])
        np.testing.assert_allclose(model.coef_[k], ref.coef_, rtol=1e-9)
        np.testing.assert_allclose(model.intercept_[k], ref.intercept_, rtol=1e-9)
    np.testing.assert_allclose(model.predict(X)[:, 0], X @ model.coef_[0] + model.intercept_[0])


@pytest.fixture(scope="module")
def two_bands():
    """Band 0 (3 columns) drives targets 0-2, band 1 (5 columns) targets 3-5."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((240, 8))
    groups = np.r_[np.zeros(3, int), np.ones(5, int)]
    W = np.zeros((8, 6))
    W[:3, :3] = rng.standard_normal((3, 3))
    W[3:, 3:] = rng.standard_normal((5, 3))
    return X, X @ W + 0.5 * rng.standard_normal((240, 6)) + 2.0, groups


def test_banded_face_equals_the_solver(two_bands):
    X, Y, groups = two_bands
    alphas = np.logspace(-1, 3, 5)
    model = BandedRidgeCV(groups=groups, alphas=alphas, cv=4, n_iter=5, seed=3).fit(X, Y)
    res = banded_ridge_cv(X, Y, groups, alphas, block_folds(240, 4), n_iter=5, seed=3)
    np.testing.assert_array_equal(model.coef_, res.coef.T)
    np.testing.assert_array_equal(model.intercept_, res.intercept)
    np.testing.assert_array_equal(model.best_alphas_, res.best_alphas)
    np.testing.assert_array_equal(model.best_gammas_, res.best_gammas)
    np.testing.assert_array_equal(model.cv_scores_, res.cv_scores)
    np.testing.assert_allclose(model.predict(X), X @ res.coef + res.intercept)
    # each band is credited with its own targets, and the credits sum to R^2
    split = model.score_split(X, Y)
    np.testing.assert_allclose(split.sum(0), r2_score(Y, model.predict(X)), atol=1e-12)
    assert np.all(split[0, :3] > 0.9 * split[:, :3].sum(0))
    assert np.all(split[1, 3:] > 0.9 * split[:, 3:].sum(0))
    assert np.all(model.best_gammas_[:3, 0] > 0.8) and np.all(model.best_gammas_[3:, 1] > 0.8)


def test_banded_face_equals_sklearn_ridge_on_scaled_bands(two_bands):
    """One candidate and one alpha: ridge with penalty alpha / gamma_i on band i."""
    X, Y, groups = two_bands
    gamma = np.array([0.2, 0.8])
    model = BandedRidgeCV(groups=groups, alphas=[7.0], candidates=[gamma], cv=3).fit(X, Y[:, 4])
    scale = np.sqrt(gamma)[groups]
    ref = Ridge(alpha=7.0).fit(X * scale, Y[:, 4])
    np.testing.assert_allclose(model.coef_, ref.coef_ * scale, rtol=1e-9)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-9)
    assert model.best_gammas_.shape == (2,) and np.isscalar(model.best_alphas_)
    assert model.score_split(X, Y[:, 4]).shape == (2,)


def test_banded_groups_checked(two_bands):
    X, Y, _ = two_bands
    with pytest.raises(ValueError, match="band of every column"):
        BandedRidgeCV(groups=[0, 1]).fit(X, Y)


@pytest.fixture(scope="module")
def lagged_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 2))
    W = rng.standard_normal((2 * 2, 3)) * [1.0, 0.3, 0.0]
    Y = delay(X, [1, 2]) @ W + rng.standard_normal((300, 3)) + 1.0
    return X, Y, np.repeat([0, 1, 2, 3], 75)


def test_lag_face_equals_the_solver(lagged_data):
    X, Y, segments = lagged_data
    alphas = np.logspace(-1, 3, 5)
    model = LagRidgeCV(alphas=alphas, tmin=-0.1, tmax=0.3, sfreq=10.0).fit(X, Y, segments)
    res = lag_ridge_cv(X, Y, np.arange(-1, 4), alphas, segments)
    np.testing.assert_array_equal(model.lags_, res.lags)
    np.testing.assert_allclose(model.times_, [-0.1, 0.0, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(model.coef_, res.coef.transpose(2, 1, 0))
    np.testing.assert_array_equal(model.best_alphas_, res.best_alphas)
    np.testing.assert_array_equal(model.cv_scores_, res.cv_scores)
    assert len(set(model.best_alphas_)) > 1  # targets chose their own alphas
    D = delay(X, res.lags, runs=segments)
    expected = D @ res.coef.reshape(-1, 3) + res.intercept
    np.testing.assert_allclose(model.predict(X, segments), expected, rtol=1e-10)


def test_lag_face_equals_sklearn_ridge_at_chosen_alpha(lagged_data):
    X, Y, segments = lagged_data
    model = LagRidgeCV(alphas=np.logspace(-1, 3, 5), tmin=-1, tmax=3).fit(X, Y, segments)
    D = delay(X, np.arange(-1, 4), runs=segments)
    for k in range(3):
        ref = Ridge(alpha=model.best_alphas_[k]).fit(D, Y[:, k])
        # sklearn's columns are lag-major (lag, feature); ours are (feature, lag)
        np.testing.assert_allclose(model.coef_[k].T.ravel(), ref.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model.intercept_[k], ref.intercept_, rtol=1e-8)
    one = LagRidgeCV(alphas=[3.0], tmin=-1, tmax=3).fit(X, Y[:, 1], segments)
    np.testing.assert_allclose(one.coef_.T.ravel(), Ridge(alpha=3.0).fit(D, Y[:, 1]).coef_)
    assert one.predict(X).shape == (300,)


def test_lag_face_equals_mne_receptive_field():
    mne = pytest.importorskip("mne")
    from mne.decoding import ReceptiveField, TimeDelayingRidge

    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((400, 3)), rng.standard_normal((400, 2))
    tmin, tmax, sfreq = -0.02, 0.05, 100.0
    ours = LagRidgeCV(alphas=[5.0], tmin=tmin, tmax=tmax, sfreq=sfreq, cv=1, fit_intercept=False)
    ours.fit(X, Y)
    with mne.use_log_level("error"):
        tdr = TimeDelayingRidge(tmin, tmax, sfreq, alpha=5.0, fit_intercept=False).fit(X, Y)
        rf = ReceptiveField(tmin, tmax, sfreq, estimator=5.0, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, tdr.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.coef_, rf.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.times_, rf.delays_ / sfreq)
    np.testing.assert_allclose(ours.predict(X), tdr.predict(X), rtol=1e-6, atol=1e-9)
    valid = rf.valid_samples_
    np.testing.assert_allclose(ours.predict(X)[valid], rf.predict(X)[valid], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "estimator",
    [
        RidgeCV(alphas=ALPHAS, cv=3),
        BandedRidgeCV(groups=[0, 0, 1, 1], alphas=ALPHAS, cv=3, n_iter=3),
        LagRidgeCV(alphas=ALPHAS, tmin=0, tmax=2, cv=3),
    ],
)
def test_params_clone_pipeline_and_cross_val_score(estimator):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 4))
    y = X @ np.array([1.0, -0.5, 0.8, 0.0]) + 0.3 * rng.standard_normal(120)
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params().keys() == params.keys()
    assert twin.set_params(cv=4) is twin and twin.cv == 4 and estimator.cv == 3
    pipe = make_pipeline(StandardScaler(), twin)
    scores = cross_val_score(pipe, X, y, cv=KFold(3))
    assert scores.shape == (3,) and np.all(scores > 0.8)
    assert not hasattr(twin, "coef_")  # cross_val_score fits clones
    fitted = pipe.fit(X, y)[-1]
    assert fitted is twin and twin.n_features_in_ == 4 and not hasattr(estimator, "coef_")


def test_lag_face_checks_its_window():
    with pytest.raises(ValueError, match=r"tmin \(0.5\) must be at most tmax \(0.1\)"):
        LagRidgeCV(tmin=0.5, tmax=0.1).fit(np.ones((10, 1)), np.arange(10.0))
    with pytest.raises(ValueError, match="'sfreq' must be"):
        LagRidgeCV(sfreq=0).fit(np.ones((10, 1)), np.arange(10.0))
