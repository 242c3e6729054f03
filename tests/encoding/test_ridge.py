import numpy as np
import pytest
from scipy import linalg
from sklearn.linear_model import Ridge

from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.ridge import cv_scores, edge_counts, pick_route, refit, ridge_cv, widen
from neuroalign.encoding.solvers import SOLVERS


def closed_form(X, Y, alphas, fit_intercept=True):
    """Reference: solve (Xc^T Xc + a_t I) w_t = Xc^T y_t target by target (float64)."""
    xm = X.mean(0) if fit_intercept else np.zeros(X.shape[1])
    ym = Y.mean(0) if fit_intercept else np.zeros(Y.shape[1])
    Xc, Yc = X - xm, Y - ym
    W = np.column_stack(
        [
            linalg.solve(Xc.T @ Xc + a * np.eye(X.shape[1]), Xc.T @ Yc[:, t], assume_a="pos")
            for t, a in enumerate(alphas)
        ]
    )
    return W, ym - xm @ W


@pytest.mark.parametrize("n, p", [(80, 12), (30, 60)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_refit_matches_closed_form_per_target_alphas(n, p, fit_intercept):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((n, p)) + 0.5, rng.standard_normal((n, 7)) + 2
    alphas = 10.0 ** rng.uniform(-2, 3, 7)
    coef, intercept, route = refit(X, Y, alphas, fit_intercept=fit_intercept, n_targets_batch=3)
    assert route == ("primal" if n >= p else "dual")
    W, b = closed_form(X, Y, alphas, fit_intercept)
    np.testing.assert_allclose(coef, W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("route", ["primal", "dual"])
def test_routes_agree_and_float32_close(route):
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((50, 20)), rng.standard_normal((50, 4))
    a = np.array([0.1, 1, 10, 100.0])
    coef64, _, _ = refit(X, Y, a, route=route)
    coef32, _, _ = refit(X, Y, a, route=route, dtype="float32", decomp_dtype="float32")
    W, _ = closed_form(X, Y, a)
    np.testing.assert_allclose(coef64, W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(coef32, W, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("n, p", [(90, 10), (40, 70)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_cv_scores_equal_sklearn_ridge_per_fold(n, p, fit_intercept):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, 3)) + rng.standard_normal((n, 3)) + 1.5
    alphas = np.logspace(-2, 3, 6)
    folds = block_folds(n, 4)
    scores, baseline = cv_scores(
        X, Y, alphas, folds, scoring="neg_mse", fit_intercept=fit_intercept
    )
    expected = np.zeros((len(alphas), 3))
    for i, a in enumerate(alphas):
        for tr, te in folds:
            pred = Ridge(alpha=a, fit_intercept=fit_intercept).fit(X[tr], Y[tr]).predict(X[te])
            expected[i] += -((Y[te] - pred) ** 2).mean(0) / len(folds)
    np.testing.assert_allclose(scores, expected, rtol=1e-9)
    mean = (lambda tr: Y[tr].mean(0)) if fit_intercept else (lambda tr: 0.0)
    base = np.mean([-((Y[te] - mean(tr)) ** 2).mean(0) for tr, te in folds], axis=0)
    np.testing.assert_allclose(baseline, base, rtol=1e-9)
    r2, _ = cv_scores(X, Y, alphas, folds, scoring="r2")
    r, _ = cv_scores(X, Y, alphas, folds, scoring="r")
    tr, te = folds[0]
    pred = Ridge(alpha=alphas[2]).fit(X[tr], Y[tr]).predict(X[te])
    one, _ = cv_scores(X, Y, alphas[2:3], folds[:1], scoring="r")
    np.testing.assert_allclose(one[0], [np.corrcoef(Y[te, k], pred[:, k])[0, 1] for k in range(3)])
    assert r2.shape == r.shape == (6, 3)


def test_ridge_cv_picks_best_alpha_and_refits():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 15))
    Y = X @ rng.standard_normal((15, 5)) * [[3, 1, 0.3, 0.1, 0]] + rng.standard_normal((120, 5))
    alphas = np.logspace(-1, 4, 11)
    folds = block_folds(120, 5)
    res = ridge_cv(X, Y, alphas, folds, widen_fraction=None)
    scores, _ = cv_scores(X, Y, alphas, folds)
    np.testing.assert_array_equal(res.best_alphas, alphas[scores.argmax(0)])
    W, _ = closed_form(X, Y, res.best_alphas)
    np.testing.assert_allclose(res.coef, W, rtol=1e-8, atol=1e-12)
    # weaker signal asks for more regularization
    assert res.best_alphas[0] <= res.best_alphas[2] <= res.best_alphas[4]
    assert SOLVERS["ridge_cv"] is ridge_cv


def test_bayes_optimal_alpha():
    rng = np.random.default_rng(4)
    n, p, t = 2000, 20, 60
    X = rng.standard_normal((n, p))
    tau = 10.0 ** rng.uniform(-1.5, 0, t)
    sigma = 10.0 ** rng.uniform(-0.3, 0.3, t)
    Y = X @ (rng.standard_normal((p, t)) * tau) + rng.standard_normal((n, t)) * sigma
    alphas = np.logspace(-2, 4, 25)
    res = ridge_cv(X, Y, alphas, block_folds(n, 5), fit_intercept=False, widen_fraction=None)
    optimal = sigma**2 / tau**2
    close = np.abs(np.log10(res.best_alphas) - np.log10(optimal)) <= 0.5
    assert close.mean() >= 0.8


def test_grid_edges_counted_and_widened():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 5))
    Y = X @ rng.standard_normal((5, 10)) + 0.01 * rng.standard_normal((200, 10))
    narrow = np.logspace(2, 4, 5)
    fixed = ridge_cv(X, Y, narrow, block_folds(200, 4), widen_fraction=None)
    assert fixed.n_lower_edge == 10
    grown = ridge_cv(X, Y, narrow, block_folds(200, 4), widen_fraction=0.05, max_widen=2)
    assert grown.alphas.size == 11 and grown.alphas.min() < narrow.min()
    np.testing.assert_allclose(widen(np.array([1.0, 10.0]), True, True, 1), [0.1, 1, 10, 100])
    scores = np.array([[0.0, 1.0], [1.0, 0.5]])
    assert edge_counts(scores, np.array([0.0, 0.0]), np.array([1, 0])) == (1, 1)


def test_validation_errors():
    X, Y = np.zeros((10, 2)), np.zeros((10, 1))
    with pytest.raises(ValueError, match="alphas"):
        ridge_cv(X, Y, [-1.0], block_folds(10, 2))
    with pytest.raises(ValueError, match="overlap"):
        cv_scores(X, Y, [1.0], [(np.arange(6), np.arange(5, 10))])
    with pytest.raises(ValueError, match="route"):
        pick_route(10, 2, "svd")
    with pytest.raises(ValueError, match="samples"):
        cv_scores(X, np.zeros((9, 1)), [1.0], block_folds(10, 2))


def test_same_seed_same_numbers():
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((60, 8)), rng.standard_normal((60, 3))
    a = ridge_cv(X, Y, np.logspace(-1, 2, 4), block_folds(60, 3))
    b = ridge_cv(X, Y, np.logspace(-1, 2, 4), block_folds(60, 3))
    assert np.array_equal(a.coef, b.coef) and np.array_equal(a.cv_scores, b.cv_scores)


def test_backend_precision_restored_and_dtypes():
    import torch

    from neuroalign.encoding.backend import matmul_precision, resolve_dtype

    before = torch.get_float32_matmul_precision()
    with pytest.raises(RuntimeError), matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
        raise RuntimeError
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("float16")
    coef, _, _ = refit(np.eye(3), np.eye(3), 1.0, dtype="float32")
    assert coef.dtype == np.float32


@pytest.mark.parametrize("pred_elements", [2**27, 1])
@pytest.mark.parametrize("scoring", ["r", "r2", "neg_mse"])
def test_every_scoring_equals_sklearn_predictions(scoring, pred_elements, monkeypatch):
    """Scores come from sums over the test samples, alphas scored in groups of any size."""
    from sklearn.metrics import mean_squared_error, r2_score

    from neuroalign.encoding import ridge

    monkeypatch.setattr(ridge, "_PRED_ELEMENTS", pred_elements)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((70, 30))
    Y = X @ rng.standard_normal((30, 4)) * [1, 0.3, 0.1, 0] + rng.standard_normal((70, 4)) + 3
    alphas = np.logspace(-1, 4, 5)
    folds = block_folds(70, 3)
    metric = {
        "r": lambda y, p: np.corrcoef(y, p)[0, 1],
        "r2": r2_score,
        "neg_mse": lambda y, p: -mean_squared_error(y, p),
    }[scoring]
    expected = np.zeros((len(alphas), 4))
    for i, a in enumerate(alphas):
        for tr, te in folds:
            pred = Ridge(alpha=a).fit(X[tr], Y[tr]).predict(X[te])
            expected[i] += [metric(Y[te, k], pred[:, k]) / len(folds) for k in range(4)]
    scores, _ = cv_scores(X, Y, alphas, folds, scoring=scoring)
    np.testing.assert_allclose(scores, expected, rtol=1e-8, atol=1e-12)


def test_weights_kept_on_device_and_tf32_scoring_option():
    import torch

    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((60, 10)), rng.standard_normal((60, 5))
    alphas, folds = np.logspace(-1, 2, 4), block_folds(60, 3)
    host = ridge_cv(X, Y, alphas, folds)
    before = torch.get_float32_matmul_precision()
    kept = ridge_cv(X, Y, alphas, folds, keep_on_device=True, tf32_scoring=True)
    assert torch.get_float32_matmul_precision() == before
    assert isinstance(kept.coef, torch.Tensor) and isinstance(kept.intercept, torch.Tensor)
    np.testing.assert_array_equal(kept.coef.numpy(), host.coef)
    np.testing.assert_array_equal(kept.intercept.numpy(), host.intercept)
    np.testing.assert_array_equal(kept.best_alphas, host.best_alphas)  # no TF32 on a CPU
