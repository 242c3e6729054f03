"""Cross-validation splits that respect time: by run or story, or by contiguous blocks, with a gap.

Every splitter returns a list of ``(train_indices, test_indices)``. A ``gap`` drops from the
training set every sample within ``gap`` samples of a test sample of the same run, so that
autocorrelated noise and hemodynamic (or filter) lags cannot carry test information into training.
"""

from __future__ import annotations

import numpy as np

from neuroalign._check import check_range
from neuroalign.encoding.delays import run_bounds


def _purge(train: np.ndarray, test: np.ndarray, runs: np.ndarray, gap: int) -> np.ndarray:
    if gap <= 0:
        return train
    near = np.zeros(runs.size, bool)
    is_test = np.zeros(runs.size, bool)
    is_test[test] = True
    for start, stop in run_bounds(runs):
        block = is_test[start:stop].astype(float)
        # dilate the test mask by `gap` samples inside this run
        widened = np.convolve(block, np.ones(2 * gap + 1), mode="same") > 0
        near[start:stop] = widened
    return train[~near[train]]


def group_folds(groups, *, n_folds: int | None = None, gap: int = 0, runs=None):
    """Leave groups (runs, stories, sentences' passages) out, optionally merged into ``n_folds``.

    Parameters
    ----------
    groups : array of shape (n_samples,)
        Group label of each sample; all samples of a group are tested together.
    n_folds : int, optional
        Merge the groups, in order of first appearance, into this many folds of near-equal
        group counts. Default: one fold per group.
    gap : int
        Samples purged from training on each side of test samples of the same run.
    runs : array of shape (n_samples,), optional
        Run labels for the gap (default: one continuous run).

    Returns
    -------
    folds : list of (train_indices, test_indices)
    """
    groups = np.asarray(groups)
    runs = np.zeros(groups.size, int) if runs is None else np.asarray(runs)
    _, first = np.unique(groups, return_index=True)
    order = groups[np.sort(first)]
    n_folds = len(order) if n_folds is None else int(n_folds)
    check_range("n_folds", n_folds, 2, len(order))
    idx = np.arange(groups.size)
    folds = []
    for chunk in np.array_split(order, n_folds):
        test = idx[np.isin(groups, chunk)]
        train = _purge(idx[~np.isin(groups, chunk)], test, runs, gap)
        folds.append((train, test))
    return folds


def block_labels(n_samples: int, n_blocks: int, runs=None) -> np.ndarray:
    """Label contiguous blocks of near-equal length (within runs when given).

    Returns
    -------
    labels : ndarray of int, shape (n_samples,)
    """
    check_range("n_blocks", n_blocks, 1, n_samples)
    runs = np.zeros(n_samples, int) if runs is None else np.asarray(runs)
    bounds = run_bounds(runs)
    labels = np.empty(n_samples, int)
    if len(bounds) >= n_blocks:
        for k, chunk in enumerate(np.array_split(np.arange(len(bounds)), n_blocks)):
            labels[bounds[chunk[0]][0] : bounds[chunk[-1]][1]] = k
        return labels
    for k, part in enumerate(np.array_split(np.arange(n_samples), n_blocks)):
        labels[part] = k
    return labels


def block_folds(n_samples: int, n_folds: int, *, gap: int = 0, runs=None):
    """Contiguous-block K-fold (no shuffling) with a purge gap around each test block.

    Parameters
    ----------
    n_samples : int
    n_folds : int
    gap : int
        Samples purged from training on each side of the test block (same run only).
    runs : array of shape (n_samples,), optional

    Returns
    -------
    folds : list of (train_indices, test_indices)
    """
    check_range("n_folds", n_folds, 2, n_samples)
    runs_arr = np.zeros(n_samples, int) if runs is None else np.asarray(runs)
    labels = np.zeros(n_samples, int)
    for k, part in enumerate(np.array_split(np.arange(n_samples), n_folds)):
        labels[part] = k
    return group_folds(labels, gap=gap, runs=runs_arr)
