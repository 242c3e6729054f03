import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.localize.select import (
    n_select,
    per_layer_top,
    random_masks,
    select_units,
    top_k,
)


def test_ties_give_exactly_k_stably():
    t = np.ones((3, 10))
    mask = top_k(t, 7)
    assert mask.sum() == 7
    assert mask.ravel()[:7].all()  # ties broken by layer then unit index


def test_constant_units_never_selected():
    t = np.full((2, 5), np.nan)
    t[0, :2] = [1.0, 2.0]
    assert top_k(t, 2).sum() == 2
    with pytest.raises(NeuroalignError, match="finite t"):
        top_k(t, 3)
    q = np.zeros_like(t)
    assert not select_units(t, rule="fdr", q=q)[np.isnan(t)].any()


def test_bottom_k():
    t = np.arange(12.0).reshape(3, 4)
    assert np.flatnonzero(top_k(t, 2, largest=False).ravel()).tolist() == [0, 1]


def test_per_layer_and_fdr():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((4, 50))
    mask = per_layer_top(t, 0.1)
    assert (mask.sum(1) == 5).all()
    q = np.where(t > 1.5, 0.01, 0.5)
    fdr = select_units(t, rule="fdr", q=q, alpha=0.05)
    np.testing.assert_array_equal(fdr, t > 1.5)
    with pytest.raises(NeuroalignError, match="q values"):
        select_units(t, rule="fdr")
    with pytest.raises(ValueError, match="rule"):
        select_units(t, rule="top")


@pytest.mark.parametrize("scheme", ["uniform", "layer_matched"])
def test_random_masks(scheme):
    rng = np.random.default_rng(0)
    mask = np.zeros((4, 30), bool)
    mask[0, :5] = True
    mask[2, rng.choice(30, 3, replace=False)] = True
    masks, seeds = random_masks(mask, n_seeds=10, scheme=scheme, seed=42)
    assert masks.shape == (10, 4, 30) and seeds.tolist() == list(range(42, 52))
    assert (masks.sum((1, 2)) == 8).all()
    assert not (masks & mask).any()  # disjoint from the localized set
    again, _ = random_masks(mask, n_seeds=10, scheme=scheme, seed=42)
    np.testing.assert_array_equal(masks, again)  # seeded
    assert len({m.tobytes() for m in masks}) == 10
    if scheme == "layer_matched":
        assert (masks.sum(2) == mask.sum(1)).all()
    else:
        assert not (masks.sum(2) == mask.sum(1)).all()


def test_layer_matched_needs_room():
    mask = np.zeros((2, 4), bool)
    mask[0, :3] = True
    with pytest.raises(NeuroalignError, match="complement"):
        random_masks(mask, scheme="layer_matched")


def test_n_select_rounding():
    assert n_select(100, 0.07) == 7
    assert n_select(32 * 4096, 0.00125) == 163


def test_random_controls_default_to_layer_matched():
    from neuroalign.localize.settings import LocalizeSettings

    settings = LocalizeSettings.from_config({"localizer": "language"})
    assert settings.schemes[0] == "layer_matched" and settings.ablation_scheme == "layer_matched"
    assert LocalizeSettings(localizer="language").ablation_scheme == "layer_matched"
    mask = np.zeros((3, 10), bool)
    mask[0, :3] = True
    drawn, _ = random_masks(mask, n_seeds=4)
    np.testing.assert_array_equal(drawn.sum(axis=2), np.tile([3, 0, 0], (4, 1)))
