import numpy as np
import pytest

from neuroalign.episodic.compare import compare_heads, jensen_shannon, normalized

LAGS = np.arange(-8, 9)
HUMAN_LAGS = np.arange(-15, 16)


def test_identical_curves_have_zero_divergence():
    human = np.exp(-np.abs(HUMAN_LAGS) / 2.0) * np.where(HUMAN_LAGS > 0, 1.5, 1.0)
    head = np.exp(-np.abs(LAGS) / 2.0) * np.where(LAGS > 0, 1.5, 1.0)
    heads = np.stack([head, head[::-1]])[None]  # (layer, head, lag)
    out = compare_heads(heads, LAGS, human, HUMAN_LAGS)
    assert out["jsd"][0, 0] == pytest.approx(0, abs=1e-12)
    assert out["cmr_distance"][0, 0] == pytest.approx(0, abs=1e-12)
    assert out["asym_diff"][0, 0] == pytest.approx(0)
    assert out["asym_diff"][0, 1] == pytest.approx(-0.4)
    assert out["jsd"][0, 1] > 0


def test_normalized_drops_lag_zero_and_sums_to_one():
    curve = normalized(np.arange(17.0), LAGS, 5)
    assert curve.shape == (10,)
    assert curve.sum() == pytest.approx(1)
    assert jensen_shannon(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(np.log(2))
