"""MindEye's 2-way identification and top-1 retrieval on planted features."""

import numpy as np
import pytest

from neuroalign.vision.retrieval import bootstrap_ci, retrieval, two_way, two_way_scores


def _reference_two_way(real, pred):
    # MindEye's loop, written out literally
    n = len(real)
    r = np.corrcoef(real, pred)[:n, n:]
    success = 0
    for j in range(n):
        success += sum(r[i, j] < r[j, j] for i in range(n) if i != j) / (n - 1)
    return success / n


def test_identical_features_two_way_is_one():
    x = np.random.default_rng(0).standard_normal((50, 16))
    assert two_way(x, x) == 1.0


def test_independent_features_two_way_is_chance():
    rng = np.random.default_rng(1)
    real, pred = rng.standard_normal((2, 300, 32))
    assert two_way(real, pred) == pytest.approx(0.5, abs=0.05)


def test_two_way_matches_the_literal_loop():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((40, 10))
    pred = real + 2.0 * rng.standard_normal((40, 10))
    assert two_way(real, pred) == pytest.approx(_reference_two_way(real, pred), abs=1e-12)
    assert 0.6 < two_way(real, pred) < 1.0


def test_known_permutation_is_recovered():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((30, 12))
    perm = rng.permutation(30)
    scores = two_way_scores(real, real[perm])
    # each prediction j is real[perm[j]]: identification against real[j] fails ...
    assert two_way(real, real[perm]) < 0.7
    # ... and undoing the permutation restores it
    inverse = np.argsort(perm)
    assert two_way(real, real[perm][inverse]) == 1.0
    assert scores.shape == (30,)
    unit = real / np.linalg.norm(real, axis=1, keepdims=True)
    sim = unit[perm] @ unit.T
    assert np.array_equal(sim.argmax(axis=1), perm)
    # retrieval against the permuted predictions fails, and succeeds once they are reordered
    assert retrieval(real, real[perm], n_subsets=2).subset_forward.mean() < 0.2
    assert retrieval(real, real[perm][inverse], n_subsets=2).subset_forward.mean() == 1.0


def test_retrieval_identical_and_chance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((120, 16))
    res = retrieval(x, x, n_subsets=5)
    assert res.subset_size == 120 and res.chance == pytest.approx(1 / 120)
    assert res.subset_forward.mean() == 1.0 and res.subset_backward.mean() == 1.0
    y = rng.standard_normal((120, 16))
    res = retrieval(x, y, subset_size=20, n_subsets=30)
    assert res.subset_size == 20
    assert res.subset_forward.mean() < 0.2
    assert np.nanmean(res.forward) == pytest.approx(res.subset_forward.mean(), abs=0.1)


def test_retrieval_direction():
    # forward: predictions choose images; a prediction collapsed onto the mean image fails
    # forward but an image can still find its own distinct prediction backward
    rng = np.random.default_rng(5)
    real = rng.standard_normal((50, 8))
    pred = real.copy()
    pred[0] = real[1] * 1.0
    res = retrieval(real, pred, n_subsets=1)
    assert res.forward[0] == 0.0 and res.forward[1] == 1.0
    assert res.backward[0] == 0.0 and res.backward[1] in (0.0, 1.0)


def test_bootstrap_ci_brackets_the_mean():
    values = np.random.default_rng(6).uniform(size=200)
    low, high = bootstrap_ci(values, n_boot=500)
    assert low < values.mean() < high
    assert high - low < 0.15
