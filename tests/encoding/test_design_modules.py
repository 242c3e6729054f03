import numpy as np
import pytest

from neuroalign.encoding.cv import block_folds, block_labels, group_folds
from neuroalign.encoding.delays import delay, run_bounds, trim_mask, zscore_runs
from neuroalign.encoding.designs import eyetracking_design, fmri_design, meg_design
from neuroalign.encoding.resample import lanczos_resample
from neuroalign.encoding.ridge import ridge_cv
from neuroalign.encoding.scores import pearson_r


def test_no_delayed_row_crosses_a_run_boundary():
    runs = np.repeat([3, 1, 2], [5, 4, 6])
    X = np.arange(15.0)[:, None] + 1  # nonzero everywhere, value = source row + 1
    D = delay(X, [-1, 0, 1, 2], runs=runs)
    for col, d in enumerate([-1, 0, 1, 2]):
        for t in range(15):
            src = int(D[t, col]) - 1
            if D[t, col] == 0:
                assert not (0 <= t - d < 15 and runs[t - d] == runs[t])
            else:
                assert src == t - d and runs[src] == runs[t]


def test_trim_zscore_and_bounds():
    runs = np.repeat(["a", "b"], [6, 4])
    keep = trim_mask(runs, 2, 1)
    assert keep.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 1, 0]
    Z = zscore_runs(np.random.default_rng(0).standard_normal((10, 2)) + 5, runs)
    np.testing.assert_allclose(Z[:6].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[6:].std(0), 1)
    with pytest.raises(ValueError, match="contiguous"):
        run_bounds([0, 1, 0])


def test_group_folds_gap_purges_neighbours_in_the_same_run_only():
    groups = np.repeat([0, 1, 2], 10)
    runs = np.repeat([0, 0, 1], 10)
    folds = group_folds(groups, gap=3, runs=runs)
    train, test = folds[0]
    assert set(test) == set(range(10))
    assert min(train) == 13 and set(range(20, 30)) <= set(train)
    train, _ = folds[1]  # group 1: purge 7..9 of run 0; run 1 untouched
    assert set(train) == set(range(7)) | set(range(20, 30))
    assert len(group_folds(groups, n_folds=2)) == 2
    labels = block_labels(30, 3, runs=runs)
    assert labels.tolist() == [0] * 10 + [1] * 10 + [2] * 10 or len(set(labels)) == 2


def test_leakage_trap_shuffled_kfold_inflates_blocks_do_not():
    """Autocorrelated features and noise, no signal: shuffled folds find signal, ours do not."""
    rng = np.random.default_rng(1)
    n, p, t = 600, 30, 40

    def smooth(a):
        out = np.empty_like(a)
        out[0] = a[0]
        for i in range(1, len(a)):
            out[i] = 0.9 * out[i - 1] + a[i]
        return out

    X = smooth(rng.standard_normal((n, p)))
    Y = smooth(rng.standard_normal((n, t)))
    alphas = np.logspace(-1, 4, 6)

    def held_out_r(folds):
        rs = []
        for train, test in folds:
            inner = block_folds(len(train), 3)
            fit = ridge_cv(X[train], Y[train], alphas, inner, widen_fraction=None)
            rs.append(pearson_r(Y[test], X[test] @ fit.coef + fit.intercept).mean())
        return np.mean(rs)

    perm = rng.permutation(n)
    shuffled = [(np.setdiff1d(perm, chunk), chunk) for chunk in np.array_split(perm, 5)]
    assert held_out_r(shuffled) > 0.3
    assert abs(held_out_r(block_folds(n, 5, gap=20))) < 0.15


def test_resampler_gain_and_attenuation():
    tr, fs = 2.0, 20.0
    t = np.arange(0, 600, 1 / fs)
    grid = np.arange(10, 590, tr)
    nyquist = 1 / (2 * tr)
    dc = lanczos_resample(np.ones(t.size), t, grid, tr=tr)[:, 0].mean()
    np.testing.assert_allclose(dc, fs * tr, rtol=0.01)  # "sum": gain ~ inputs per TR

    def gain(f):
        wave = np.c_[np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]
        out = lanczos_resample(wave, t, grid, tr=tr)
        return np.sqrt((out**2).sum(1)).mean() / dc

    for f in np.linspace(0.05, 0.5, 4) * nyquist:
        assert abs(gain(f) - 1) < 0.02
    for f in (1.5 * nyquist, 2 * nyquist):
        assert 20 * np.log10(gain(f)) < -30
    mean = lanczos_resample(np.full(t.size, 3.0), t, grid, tr=tr, mode="mean")
    np.testing.assert_allclose(mean, 3.0)


def test_fmri_design_shapes_and_run_awareness():
    rng = np.random.default_rng(2)
    onsets = np.r_[np.sort(rng.uniform(0, 40, 30)), np.sort(rng.uniform(0, 30, 20))]
    runs = np.r_[np.zeros(30, int), np.ones(20, int)]
    X, row_runs = fmri_design(rng.standard_normal((50, 3)), onsets, runs, {0: 22, 1: 16}, tr=2.0)
    assert X.shape == (38, 12) and (row_runs == 1).sum() == 16
    assert np.all(X[22, 3:] == 0)  # first TR of run 1: delays 1-4 empty


def test_meg_design_impulses():
    X, _ = meg_design(
        np.array([[1.0], [2.0], [5.0]]), [0.01, 0.5, 0.02], [0, 0, 1], {0: 100, 1: 50}, sfreq=100
    )
    assert X.shape == (150, 1) and X[1, 0] == 1 and X[50, 0] == 2 and X[102, 0] == 5
    with pytest.raises(ValueError, match="outside"):
        meg_design(np.ones((1, 1)), [2.0], [0], {0: 100}, sfreq=100)


def test_eyetracking_design_groups():
    X, groups = eyetracking_design(np.arange(12.0).reshape(6, 2), np.arange(6.0))
    assert X.shape == (6, 3) and groups.tolist() == [0, 1, 1]
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
