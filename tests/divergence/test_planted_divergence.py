"""Acceptance: a planted divergence is found, closed by the missing feature, and never invented."""

from __future__ import annotations

import numpy as np
import pytest
from _divergence_sim import INTERVAL, model_features, planted_words, predict

from neuroalign.divergence.analysis import category_tests, extreme_shares, word_errors

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("planted")


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_planted_category_ranks_first_and_the_missing_feature_closes_the_gap(root, seed):
    observed, surprisal, masks, truth = planted_words(root, "social", seed)
    assert truth.attrs["divergent_category"] == "social"
    np.testing.assert_array_equal(truth["divergent_word"].values, masks["social"])
    rng = np.random.default_rng(seed)

    lacking = word_errors(
        predict(model_features(surprisal, seed), observed), observed, interval=INTERVAL
    )
    tests = category_tests(lacking, masks, n_perm=500, n_boot=200, rng=rng)
    social = tests.sel(category="social")
    assert int(social["rank"]) == 1
    assert bool(social["significant"]) and float(social["q"]) < 0.01
    assert float(social["ci_low"]) > 0
    assert not tests["significant"].drop_sel(category="social").any()
    shares = extreme_shares(lacking, masks, fraction=0.1).sel(category="social")
    assert float(shares["top"]) > 2 * float(shares["overall"]) > float(shares["bottom"])

    given = model_features(surprisal, seed, extra=masks["social"])
    closed = word_errors(predict(given, observed), observed, interval=INTERVAL)
    after = category_tests(closed, masks, n_perm=500, n_boot=200, rng=rng)
    assert not after["significant"].any()
    assert float(after.sel(category="social")["p"]) > 0.05
    assert float(after.sel(category="social")["difference"]) < 0.3 * float(social["difference"])


@pytest.mark.parametrize("seed", SEEDS)
def test_without_a_planted_divergence_no_category_passes(root, seed):
    observed, surprisal, masks, truth = planted_words(root, None, seed)
    assert "divergent_word" not in truth
    errors = word_errors(
        predict(model_features(surprisal, seed), observed), observed, interval=INTERVAL
    )
    tests = category_tests(errors, masks, n_perm=500, n_boot=200, rng=np.random.default_rng(seed))
    assert not tests["significant"].any()
    assert (tests["q"] > 0.05).all()
