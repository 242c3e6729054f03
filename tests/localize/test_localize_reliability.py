import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.localize import reliability as rel
from neuroalign.localize.select import select_units
from neuroalign.localize.settings import LocalizeSettings


def selector(t, q):
    return select_units(t, rule="global_topk", fraction=0.05)


def test_overlap_measures():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert rel.dice(a, b) == 0.5
    assert rel.jaccard(a, b) == pytest.approx(1 / 3)
    assert np.isnan(rel.dice(np.zeros(3, bool), np.zeros(3, bool)))
    assert rel.chance_overlap(0.01) == pytest.approx((0.01, 0.01 / 1.99))


def test_planted_effect_is_reliable(planted):
    acts, positive, split, mask = planted
    res = rel.split_halves(acts, positive, split, selector)
    assert res.dice == pytest.approx(1.0)
    np.testing.assert_array_equal(res.masks[0], mask)
    assert res.cv_effect > 5
    assert res.spearman_t > 0


def test_permuted_labels_are_at_chance(planted):
    acts, positive, split, _ = planted
    rng = np.random.default_rng(3)
    dices, n_sig = [], []
    for _ in range(20):
        shuffled = rng.permutation(positive)
        res = rel.split_halves(acts, shuffled, split, selector)
        dices.append(res.dice)
        from neuroalign.localize.stats import contrast

        n_sig.append((contrast(acts, shuffled).q < 0.05).sum())
    assert np.mean(dices) < 0.2  # chance is 0.05; planted gives 1
    assert np.mean(n_sig) < 1


def test_bootstrap_ci_contains_estimate(planted):
    acts, positive, split, _ = planted
    boot = rel.bootstrap_splits(
        acts, positive, split, selector, n_boot=20, rng=np.random.default_rng(0)
    )
    assert boot["dice"].shape == (20,)
    lo, hi = rel.percentile_ci(boot["dice"])
    assert lo <= 1.0 <= hi + 1e-12 and lo > 0.5
    again = rel.bootstrap_splits(
        acts, positive, split, selector, n_boot=20, rng=np.random.default_rng(0)
    )
    np.testing.assert_array_equal(boot["spearman_t"], again["spearman_t"])


def test_needs_two_splits(planted):
    acts, positive, _, _ = planted
    with pytest.raises(NeuroalignError, match="two splits"):
        rel.split_halves(acts, positive, np.ones(len(acts)), selector)


def test_settings_validate():
    with pytest.raises(NeuroalignError, match="scheme"):
        LocalizeSettings.from_config({"localizer": "language", "schemes": ["uniform", "matched"]})
