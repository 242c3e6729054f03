"""Design matrices on arrays for fMRI, MEG and eye-tracking encoding models.

Each builder takes word-level features plus timing and returns the design and the run label of
each row; readers and file formats stay in the command-line layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neuroalign._check import check_range
from neuroalign.encoding.delays import delay, zscore_runs
from neuroalign.encoding.resample import lanczos_resample


def _by_run(word_runs, n_words: int) -> np.ndarray:
    word_runs = np.asarray(word_runs)
    if word_runs.shape != (n_words,):
        raise ValueError(f"'word_runs' needs one run label per word ({n_words}).")
    return word_runs


def fmri_design(
    features,
    onsets,
    word_runs,
    n_scans: Mapping[object, int],
    *,
    tr: float,
    delays: Sequence[int] = (1, 2, 3, 4),
    mode: str = "sum",
    zscore: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample word features to each run's TR grid, z-score per run, add run-aware delays.

    Parameters
    ----------
    features : array of shape (n_words, n_features)
    onsets : array of shape (n_words,)
        Word onsets in seconds from the start of their run.
    word_runs : array of shape (n_words,)
        Run label of each word.
    n_scans : mapping of run label to int
        Scans per run, in the order the runs are stacked (scan ``k`` is at ``k * tr``).
    tr : float
        Repetition time (s).
    delays : sequence of int
        FIR delays in TRs (positive: the response follows the word).
    mode : {"sum", "mean"}
        Resampling mode, see :mod:`neuroalign.encoding.resample`.
    zscore : bool
        Z-score every column within each run before delaying.

    Returns
    -------
    X : ndarray of shape (sum(n_scans), n_delays * n_features)
    runs : ndarray of shape (sum(n_scans),)
    """
    features = np.asarray(features, float)
    onsets = np.asarray(onsets, float)
    word_runs = _by_run(word_runs, features.shape[0])
    blocks, labels = [], []
    for run, n in n_scans.items():
        sel = word_runs == run
        grid = np.arange(int(n)) * tr
        blocks.append(lanczos_resample(features[sel], onsets[sel], grid, tr=tr, mode=mode))
        labels.append(np.full(int(n), run, dtype=object))
    runs = np.concatenate(labels)
    X = np.concatenate(blocks)
    if zscore:
        X = zscore_runs(X, runs)
    return delay(X, delays, runs), runs


def meg_design(
    features,
    onsets,
    word_runs,
    n_samples: Mapping[object, int],
    *,
    sfreq: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Word features as impulses at the sample nearest each word onset (for the lag solver).

    Parameters
    ----------
    features : array of shape (n_words, n_features)
    onsets : array of shape (n_words,)
        Seconds from the start of the run's recording.
    word_runs : array of shape (n_words,)
    n_samples : mapping of run label to int
        Samples per run, in stacking order.
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    X : ndarray of shape (sum(n_samples), n_features)
        Zero except at word onsets (words falling on the same sample add up).
    runs : ndarray of shape (sum(n_samples),)
    """
    check_range("sfreq", sfreq, 0, None, closed="neither")
    features = np.asarray(features, float)
    word_runs = _by_run(word_runs, features.shape[0])
    onsets = np.asarray(onsets, float)
    blocks, labels = [], []
    for run, n in n_samples.items():
        sel = word_runs == run
        idx = np.round(onsets[sel] * sfreq).astype(int)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"Run {run!r}: word onsets fall outside its {n} samples.")
        block = np.zeros((int(n), features.shape[1]))
        np.add.at(block, idx, features[sel])
        blocks.append(block)
        labels.append(np.full(int(n), run, dtype=object))
    return np.concatenate(blocks), np.concatenate(labels)


def eyetracking_design(model_features, baseline_features) -> tuple[np.ndarray, np.ndarray]:
    """Stack baseline predictors (length, frequency, position) and model features per word.

    Both blocks are z-scored over words, so a banded or nested fit can credit the model with
    only what the baseline does not already explain.

    Parameters
    ----------
    model_features : array of shape (n_words, n_features)
    baseline_features : array of shape (n_words, n_baseline)

    Returns
    -------
    X : ndarray of shape (n_words, n_baseline + n_features)
        Baseline columns first.
    groups : ndarray of int, shape (n_baseline + n_features,)
        0 for baseline columns, 1 for model columns.
    """
    model = np.asarray(model_features, float)
    base = np.asarray(baseline_features, float)
    if base.ndim == 1:
        base = base[:, None]
    if model.shape[0] != base.shape[0]:
        raise ValueError(
            f"Model features have {model.shape[0]} words but the baseline has {base.shape[0]}."
        )
    z = lambda a: (a - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1.0)  # noqa: E731
    X = np.concatenate([z(base), z(model)], axis=1)
    groups = np.concatenate([np.zeros(base.shape[1], int), np.ones(model.shape[1], int)])
    return X, groups


def pca_reduce(features, n_components: int) -> np.ndarray:
    """Project centred features on their first principal components (scaled to unit variance).

    Keeps lagged designs small: ``n_components * n_lags`` columns instead of
    ``n_units * n_lags``.

    Parameters
    ----------
    features : array of shape (n_items, n_units)
    n_components : int

    Returns
    -------
    scores : ndarray of shape (n_items, min(n_components, n_items, n_units))
    """
    check_range("n_components", n_components, 1)
    F = np.asarray(features, float)
    F = F - F.mean(0)
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    k = min(n_components, s.size)
    scores = U[:, :k] * s[:k]
    sd = scores.std(0)
    return scores / np.where(sd > 0, sd, 1.0)
