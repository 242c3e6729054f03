"""The strongest standard baseline, chosen on training rows only, and the gain over it."""

import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.encoding.baselines import (
    baseline_cv_scores,
    choose_baseline,
    choose_per_fold,
    gain_over_baselines,
    most_chosen,
    union_baseline,
)
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.evaluate import baseline_gain
from neuroalign.encoding.gain_sweep import gain_sweep

ALPHAS = np.logspace(-1, 4, 8)


def _frequency_driven(seed=0, n=300, n_units=12):
    """A response driven by log frequency; a layer that encodes frequency (and noise)."""
    rng = np.random.default_rng(seed)
    freq = rng.normal(4.0, 1.0, n)
    length = np.round(12 - 1.5 * freq + rng.normal(0, 2, n))  # frequent words are short
    y = 1.5 * freq + 0.5 * rng.standard_normal(n)
    X = rng.standard_normal((n, n_units))
    X[:, :3] += 2.0 * (freq - freq.mean())[:, None]
    return {"length": length, "frequency": freq, "all": np.c_[length, freq]}, X, y


def test_cv_scores_match_a_direct_least_squares_cross_validation():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((60, 2))
    y = B @ [1.0, -2.0] + rng.standard_normal(60)
    folds = block_folds(60, 5)
    pred = np.empty(60)
    for train, test in folds:
        D = np.c_[np.ones(60), B]
        coef, *_ = np.linalg.lstsq(D[train], y[train], rcond=None)
        pred[test] = D[test] @ coef
    expected = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    got = baseline_cv_scores({"b": B}, y[:, None])["b"]
    assert got == pytest.approx(expected, rel=1e-10)


def test_a_frequency_driven_response_is_explained_by_the_frequency_baseline():
    cands, X, y = _frequency_driven()
    folds = block_folds(len(y), 5)
    over_length = baseline_gain(X, cands["length"], y, ALPHAS, folds, penalize_baseline=False)
    scores, chosen = gain_over_baselines(X, cands, y, ALPHAS, folds)
    # a length baseline leaves the frequency the model encodes as a large "gain"
    assert over_length["r2_gain"][0] > 0.3
    # the strongest standard baseline contains frequency: the model adds about nothing
    assert set(chosen) <= {"frequency", "all"}
    assert abs(scores["r2_gain"][0]) < 0.02
    assert scores["r2_baseline"][0] > 0.85


def test_the_choice_uses_the_training_rows_only():
    cands, _, y = _frequency_driven(seed=1)
    folds = block_folds(len(y), 4)
    # wreck the response on the first fold's test rows: its choice must not change
    y2 = y.copy()
    test0 = folds[0][1]
    y2[test0] = np.random.default_rng(9).standard_normal(len(test0)) * 50
    a = choose_per_fold(cands, y, folds)
    b = choose_per_fold(cands, y2, folds)
    assert a[0] == b[0]
    train0 = folds[0][0]
    assert choose_baseline({k: B[train0] for k, B in cands.items()}, y[train0]) == a[0]


def test_one_candidate_gives_the_fixed_baseline_gain_exactly():
    cands, X, y = _frequency_driven(seed=2)
    folds = block_folds(len(y), 5)
    fixed = baseline_gain(X, cands["length"], y, ALPHAS, folds, penalize_baseline=False)
    scores, chosen = gain_over_baselines(X, {"length": cands["length"]}, y, ALPHAS, folds)
    assert chosen == ["length"] * 5
    for k in fixed:
        np.testing.assert_allclose(scores[k], fixed[k], rtol=1e-10)


def test_sweep_over_candidates_reports_the_baseline_it_used():
    cands, X, y = _frequency_driven(seed=4, n=200)
    folds = block_folds(len(y), 5)
    sweep = gain_sweep({"layer": X}, y, cands, folds, alphas=ALPHAS, n_perm=9)
    assert sweep.baseline[0] in {"frequency", "all"} and sweep.baseline_share[0] >= 0.6
    assert abs(sweep.r2_gain[0, 0]) < 0.03
    weak = gain_sweep({"layer": X}, y, cands["length"], folds, alphas=ALPHAS, n_perm=0)
    assert weak.baseline[0] == "baseline" and weak.r2_gain[0, 0] > 0.3


def test_helpers():
    assert most_chosen(["a", "b", "b"]) == ("b", pytest.approx(2 / 3))
    a = np.arange(6.0)
    assert union_baseline({"x": a, "y": np.c_[a, a**2]}).shape == (6, 2)
    with pytest.raises(NeuroalignError):
        choose_baseline({}, a)
