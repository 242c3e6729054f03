"""The recovery methods: scores and ceilings are the encoding engine's."""

import numpy as np
import pytest

from neuroalign.encoding import ceilings
from neuroalign.encoding.scores import pearson_r
from neuroalign.recovery import (
    correlation,
    dice,
    explainable_variance,
    logistic_fit,
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
    with pytest.raises(ValueError, match="n_repeats >= 2"):
        explainable_variance((signal + noise)[:1])


def test_explainable_variance_is_the_engine_ceiling_of_z_scored_repeats():
    """Same numbers as the per-repeat z-scored formula the recovery used before."""
    rng = np.random.default_rng(1)
    repeats = rng.standard_normal((3, 50, 7)) * rng.uniform(0.5, 2.0, (3, 1, 7))
    z = (repeats - repeats.mean(1, keepdims=True)) / repeats.std(1, keepdims=True)
    ev = z.mean(0).var(0)
    expected = ev - (1 - ev) / (3 - 1)
    np.testing.assert_allclose(explainable_variance(repeats), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        explainable_variance(repeats), ceilings.explainable_variance(z), rtol=0, atol=0
    )


def test_dice_and_top_mask():
    assert dice([1, 1, 0, 0], [1, 0, 1, 0]) == 0.5
    assert dice([0, 0], [0, 0]) == 1.0
    assert top_mask(np.array([0.1, 0.9, 0.5, 0.7]), 2).tolist() == [False, True, False, True]


def test_correlations():
    a = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    b = np.array([[2.0, 1.0], [4.0, 5.0], [6.0, 0.0]])
    assert pearson_r(a, b).tolist() == [1.0, 0.0]
    assert np.isclose(correlation([1, 2, 3], [3, 2, 1]), -1.0)


def test_logistic_fit_recovers_coefficients():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(20000), rng.standard_normal((20000, 2))])
    coef = np.array([-0.5, 1.0, -0.3])
    y = (rng.random(20000) < 1 / (1 + np.exp(-(x @ coef)))).astype(float)
    assert np.allclose(logistic_fit(x, y), coef, atol=0.06)
