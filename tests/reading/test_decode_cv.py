"""Grouped folds of the three regimes (no leakage), balanced accuracy and its intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from neuroalign.reading.decode_cv import balanced_accuracy, bootstrap_ci, regime_folds


def _crossed(n_people=7, n_items=8):
    people, items = np.meshgrid(np.arange(n_people), np.arange(n_items), indexing="ij")
    return pd.DataFrame(
        {"participant": [f"p{p}" for p in people.ravel()], "item_group": items.ravel().astype(str)}
    )


@pytest.mark.parametrize("regime", ["item", "participant", "both"])
@pytest.mark.parametrize("n_folds", [2, 3])
def test_folds_hold_out_unseen_groups_and_test_every_trial_once(regime, n_folds):
    trials = _crossed()
    folds = regime_folds(trials, regime, n_folds, seed=1)
    tested = np.concatenate([test for _, test in folds])
    assert np.sort(tested).tolist() == list(range(len(trials)))
    for train, test in folds:
        tr, te = trials.iloc[train], trials.iloc[test]
        if regime in ("item", "both"):
            assert not set(tr["item_group"]) & set(te["item_group"])
        if regime in ("participant", "both"):
            assert not set(tr["participant"]) & set(te["participant"])
        if regime == "both":
            # The crossed trials are dropped: training has neither a test item nor a test reader.
            other = np.setdiff1d(np.arange(len(trials)), np.concatenate([train, test]))
            dropped = trials.iloc[other]
            assert (
                dropped["item_group"].isin(te["item_group"])
                | dropped["participant"].isin(te["participant"])
            ).all()
    assert len(folds) == (n_folds**2 if regime == "both" else n_folds)


def test_one_group_cannot_be_held_out():
    from neuroalign._check import NeuroalignError

    trials = _crossed(n_people=1)
    with pytest.raises(NeuroalignError, match="1 distinct participants"):
        regime_folds(trials, "participant")


def test_balanced_accuracy_equals_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        pred = rng.integers(0, 2, 50)
        assert balanced_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred))
    assert np.isnan(balanced_accuracy(np.ones(5), np.ones(5)))


def test_bootstrap_interval_covers_the_estimate_and_clusters_widen_it():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.8, y, 1 - y)
    ba = balanced_accuracy(y, pred)
    low, high = bootstrap_ci(y, pred, n_bootstrap=500)
    assert low < ba < high and 0.7 < low and high < 0.9
    # Whole participants resampled: errors shared within readers make the interval wider.
    groups = np.repeat(np.arange(10), 20)
    shared = np.where(np.repeat(rng.random(10) < 0.3, 20), 1 - y, y)
    narrow = np.diff(bootstrap_ci(y, shared, n_bootstrap=500))[0]
    wide = np.diff(bootstrap_ci(y, shared, groups=groups, n_bootstrap=500))[0]
    assert wide > narrow
