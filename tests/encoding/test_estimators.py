import numpy as np
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.estimators import RidgeCV


@parametrize_with_checks([RidgeCV(alphas=[0.1, 1.0, 10.0], cv=3)])
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
