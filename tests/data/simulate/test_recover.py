import numpy as np
import pytest

from neuroalign.data.simulate.recover import (
    correlation,
    dice,
    explainable_variance,
    logistic_fit,
    pearson_columns,
    top_mask,
)


@pytest.mark.parametrize("n_rep", [2, 5])
def test_explainable_variance_is_unbiased(n_rep):
    rng = np.random.default_rng(0)
    n_t, n_v = 400, 2000
    planted = np.linspace(0.0, 0.8, n_v)
    signal = rng.standard_normal((n_t, n_v)) * np.sqrt(planted)
    noise = rng.standard_normal((n_rep, n_t, n_v)) * np.sqrt(1 - planted)
    ev = explainable_variance(signal + noise)
    assert abs((ev - planted).mean()) < 0.01
    assert np.corrcoef(ev, planted)[0, 1] > 0.9
    with pytest.raises(ValueError, match="at least 2"):
        explainable_variance((signal + noise)[:1])


def test_dice_and_top_mask():
    assert dice([1, 1, 0, 0], [1, 0, 1, 0]) == 0.5
    assert dice([0, 0], [0, 0]) == 1.0
    assert top_mask(np.array([0.1, 0.9, 0.5, 0.7]), 2).tolist() == [False, True, False, True]


def test_correlations():
    a = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    b = np.array([[2.0, 1.0], [4.0, 5.0], [6.0, 0.0]])
    assert pearson_columns(a, b).tolist() == [1.0, 0.0]
    assert np.isclose(correlation([1, 2, 3], [3, 2, 1]), -1.0)


def test_logistic_fit_recovers_coefficients():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(20000), rng.standard_normal((20000, 2))])
    coef = np.array([-0.5, 1.0, -0.3])
    y = (rng.random(20000) < 1 / (1 + np.exp(-(x @ coef)))).astype(float)
    assert np.allclose(logistic_fit(x, y), coef, atol=0.06)
