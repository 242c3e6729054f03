import numpy as np
import pytest
from scipy import stats

from neuroalign._check import NeuroalignError
from neuroalign.encoding.stats import bh_qvalues
from neuroalign.localize.select import n_select, select_units
from neuroalign.localize.stats import contrast, welch


def test_welch_matches_scipy(planted):
    acts, positive, _, _ = planted
    for absolute in (False, True):
        sel = contrast(acts, positive, absolute=absolute)
        a, b = acts[positive], acts[~positive]
        if absolute:
            a, b = np.abs(a), np.abs(b)
        ref = stats.ttest_ind(a, b, axis=0, equal_var=False)
        np.testing.assert_allclose(sel.t, ref.statistic, rtol=0, atol=1e-10)
        np.testing.assert_allclose(sel.p, ref.pvalue, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(sel.df, ref.df, rtol=1e-10)


def test_cohens_d_and_q():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 2, (30, 5)), rng.normal(0, 1, (50, 5))
    sel = welch(a, b)
    pooled = np.sqrt((29 * a.var(0, ddof=1) + 49 * b.var(0, ddof=1)) / 78)
    np.testing.assert_allclose(sel.d, (a.mean(0) - b.mean(0)) / pooled)
    np.testing.assert_allclose(sel.q, stats.false_discovery_control(sel.p))


def test_bh_ignores_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    q = bh_qvalues(p)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], stats.false_discovery_control(p[[0, 2, 3]]))


def test_q_of_a_unit_map_is_bh_over_its_finite_units():
    # a (layers, units) map with constant units (NaN p): q is BH over the finite units only
    rng = np.random.default_rng(4)
    acts = rng.standard_normal((40, 3, 7))
    acts[:, 1, 2] = 0.0
    acts[:, 2, 5] = 1.0
    sel = contrast(acts, np.arange(40) < 20)
    finite = np.isfinite(sel.p)
    assert sel.q.shape == (3, 7) and finite.sum() == 19
    assert np.isnan(sel.q[~finite]).all()
    np.testing.assert_allclose(sel.q[finite], stats.false_discovery_control(sel.p[finite]))


def test_constant_units_have_nan_t():
    acts = np.zeros((10, 1, 3))
    acts[:, 0, 1] = np.arange(10)
    sel = contrast(acts, np.arange(10) < 5)
    assert np.isnan(sel.t[0, 0]) and np.isnan(sel.t[0, 2]) and np.isfinite(sel.t[0, 1])


def test_bad_inputs():
    with pytest.raises(NeuroalignError, match="at least 2 items"):
        welch(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(NeuroalignError, match="labels"):
        contrast(np.zeros((4, 3)), np.array([True, False]))


def test_planted_units_recovered_exactly_k(planted):
    acts, positive, _, mask = planted
    sel = contrast(acts, positive, absolute=False)
    chosen = select_units(sel.t, rule="global_topk", fraction=6 / 120)
    assert chosen.sum() == 6
    assert (chosen & mask).sum() == 6  # precision@k = 1
    assert n_select(12 * 768, 0.01) == 92


def test_abs_and_raw_diverge():
    """A unit at -3 for positives vs 0 for negatives is selective only on |a|."""
    rng = np.random.default_rng(2)
    acts = rng.standard_normal((200, 1, 20)) * 0.5
    positive = np.arange(200) < 100
    acts[positive, 0, 4] -= 3.0
    raw = contrast(acts, positive, absolute=False)
    mag = contrast(acts, positive, absolute=True)
    assert not select_units(raw.t, fraction=0.05)[0, 4]
    assert select_units(mag.t, fraction=0.05)[0, 4]
