import numpy as np
import pytest

from neuroalign.encode.coefficients import signed_coefficient


def test_signed_coefficient_recovers_a_planted_negative_effect():
    rng = np.random.default_rng(0)
    n, groups = 600, np.repeat(np.arange(30), 20)
    base = rng.standard_normal((n, 2))
    x = 0.5 * base[:, 0] + rng.standard_normal(n)
    y = base @ [1.0, 0.5] - 0.4 * x + rng.standard_normal(n)
    beta, low, high = signed_coefficient(y, x, base, groups)
    # equal to least squares on the z-scored variables
    z = lambda a: (a - a.mean(0)) / a.std(0)  # noqa: E731
    X = np.column_stack([np.ones(n), z(base), z(x)])
    assert beta == pytest.approx(np.linalg.lstsq(X, z(y), rcond=None)[0][-1])
    truth = -0.4 * x.std() / y.std()
    assert low < truth < high < 0


def test_signed_coefficient_interval_covers_zero_about_95_percent():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), 10)
    hits = 0
    for _ in range(300):
        base = rng.standard_normal((400, 1))
        shared = np.repeat(rng.standard_normal(40), 10)  # within-group correlation
        x = rng.standard_normal(400) + shared
        y = base[:, 0] + np.repeat(rng.standard_normal(40), 10) + rng.standard_normal(400)
        _, low, high = signed_coefficient(y, x, base, groups)
        hits += low <= 0 <= high
    assert 0.91 <= hits / 300 <= 0.985
    assert np.isnan(signed_coefficient(np.ones(4), np.arange(4.0), np.ones((4, 0)), np.zeros(4))[0])
