"""Word-level regressions recover planted effects; the lag diagnostic finds a planted shift."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.reading.lags import check_alignment, lag_profiles, shift_measures
from neuroalign.reading.regress import delta_loglik, mixed_effects, ols_effects

PLANTED = {"length": 6.0, "frequency": -4.0, "surprisal": 3.0}


def _words(seed, n_texts=40, n_words=30):
    rng = np.random.default_rng(seed)
    n = n_texts * n_words
    length = rng.integers(1, 12, n).astype(float)
    frequency = 7 - 0.3 * length + rng.normal(0, 1, n)
    surprisal = 8 - 0.8 * frequency + rng.normal(0, 2, n)
    X = pd.DataFrame({"length": length, "frequency": frequency, "surprisal": surprisal})
    texts = np.repeat([f"t{i}" for i in range(n_texts)], n_words)
    text_effect = rng.normal(0, 10, n_texts)[np.repeat(np.arange(n_texts), n_words)]
    mean = 200 + sum(b * X[c].to_numpy() for c, b in PLANTED.items()) + text_effect
    return X, texts, mean, rng


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_surprisal_effect_recovered_with_sign_and_covering_interval(seed):
    X, texts, mean, rng = _words(seed)
    y = mean + rng.normal(0, 25, len(mean))
    effects, _ = ols_effects(y, X, groups=texts)
    for name, beta in PLANTED.items():
        row = effects.loc[name]
        assert np.sign(row["beta"]) == np.sign(beta)
        assert row["ci_low"] < beta < row["ci_high"], (name, row.to_dict())
    s = effects.loc["surprisal"]
    assert s["std_low"] < s["beta_std"] < s["std_high"] and s["beta_std"] > 0


def test_ols_equals_statsmodels_and_lstsq():
    import statsmodels.api as sm

    X, _texts, mean, rng = _words(3)
    y = mean + rng.normal(0, 25, len(mean))
    effects, ll = ols_effects(y, X)
    D = np.column_stack([np.ones(len(y)), X.to_numpy()])
    coef, *_ = np.linalg.lstsq(D, y, rcond=None)
    np.testing.assert_allclose(effects["beta"], coef[1:], rtol=1e-10)
    direct = sm.OLS(y, D).fit()
    np.testing.assert_allclose(effects["ci_low"], direct.conf_int()[1:, 0], rtol=1e-10)
    assert ll == pytest.approx(direct.llf)
    z = lambda v: (v - v.mean(0)) / v.std(0)  # noqa: E731
    std, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(y)), z(X.to_numpy())]), z(y), rcond=None)
    np.testing.assert_allclose(effects["beta_std"], std[1:], rtol=1e-8)


def test_delta_loglik_of_the_planted_predictor_and_of_noise():
    X, texts, mean, rng = _words(4)
    y = mean + rng.normal(0, 25, len(mean))
    base = X[["length", "frequency"]]
    real = delta_loglik(y, base, X[["surprisal"]], texts)
    noise = delta_loglik(y, base, pd.DataFrame({"z": rng.normal(size=len(y))}), texts)
    assert real["delta_loglik"] > 20 and real["lr_p"] < 1e-10
    assert real["delta_loglik_heldout"] > 0.02
    assert noise["lr_p"] > 0.001 and noise["delta_loglik_heldout"] < 0.005
    assert real["loglik_full"] - real["loglik_base"] == pytest.approx(real["delta_loglik"])


@pytest.mark.parametrize("crossed", [True, False])
def test_mixed_model_recovers_fixed_effects_and_participant_variance(crossed):
    rng = np.random.default_rng(6)
    n_part, n_texts, n_words = 12, 10, 20
    X, texts, mean, _ = _words(6, n_texts=n_texts, n_words=n_words)
    part_sd = 30.0
    rows = []
    for p in range(n_part):
        y = mean + rng.normal(0, part_sd) + rng.normal(0, 25, len(mean))
        rows.append(pd.DataFrame({"y": y, "participant": f"p{p}", "text": texts}).join(X))
    data = pd.concat(rows, ignore_index=True)
    res = mixed_effects(
        data["y"].to_numpy(),
        data[list(PLANTED)],
        data["participant"].to_numpy(),
        data["text"].to_numpy(),
        crossed_max_rows=10_000 if crossed else 100,
    )
    assert ("crossed random" in res.structure) == crossed
    assert ("left out" in res.structure) != crossed
    s = res.effects.loc["surprisal"]
    assert s["beta"] > 0 and abs(s["beta"] - PLANTED["surprisal"]) < 0.75
    if crossed:  # without the by-item component the intervals ignore the texts' effects
        assert s["ci_low"] < PLANTED["surprisal"] < s["ci_high"]
        for name, beta in PLANTED.items():
            assert abs(res.effects.loc[name, "beta"] - beta) < 3 * res.effects.loc[name, "se"]
    assert 0.3 * part_sd**2 < res.variances["participant"] < 3 * part_sd**2
    assert res.variances["residual"] == pytest.approx(625, rel=0.2)


def _reading_table(seed, shift=0, n_texts=30, n_words=40):
    rng = np.random.default_rng(seed)
    n = n_texts * n_words
    texts = np.repeat([f"t{i}" for i in range(n_texts)], n_words)
    length = rng.integers(1, 12, n).astype(float)
    prev = pd.Series(length).groupby(texts).shift(1).fillna(length.mean()).to_numpy()
    rt = 200 + 12 * length + 3 * prev + rng.normal(0, 30, n)  # spillover keeps lag -1 alive
    table = pd.DataFrame({"story": texts, "length": length, "rt": rt})
    return shift_measures(table, ["rt"], "story", shift)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_unshifted_table_is_not_flagged(seed):
    t = _reading_table(seed)
    prof = lag_profiles(t["rt"], t["length"], t["story"])
    assert prof.peak == 0 and not prof.misaligned
    assert prof.flagged.sum() == 0
    check_alignment(prof, "error", what="table", prop="length", measure="rt")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [1, -1])
def test_planted_one_word_shift_is_flagged(seed, shift):
    t = _reading_table(seed, shift=shift)
    prof = lag_profiles(t["rt"], t["length"], t["story"])
    assert prof.misaligned and prof.peak == -shift
    assert prof.flagged.mean() > 0.5
    with pytest.raises(
        NeuroalignError, match=re.escape(f"peaks at offset {-shift:+d}") + f".*set shift: {-shift} "
    ):
        check_alignment(prof, "error", what="table", prop="length", measure="rt")
    with pytest.warns(UserWarning, match="lag profile peaks"):
        check_alignment(prof, "warn", what="table", prop="length", measure="rt")
    fixed = shift_measures(t, ["rt"], "story", -shift)
    assert lag_profiles(fixed["rt"], fixed["length"], fixed["story"]).peak == 0


def test_only_the_shifted_text_is_flagged():
    t = _reading_table(7)
    bad = t["story"] == "t3"
    t.loc[bad, "rt"] = t.loc[bad, "rt"].shift(1)
    prof = lag_profiles(t["rt"], t["length"], t["story"])
    assert not prof.misaligned
    assert prof.texts[prof.flagged].tolist() == ["t3"]
