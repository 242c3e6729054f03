"""Run-aware finite-impulse-response delays and trimming of run edges."""

from __future__ import annotations

import numpy as np


def _runs(runs, n_samples: int) -> np.ndarray:
    if runs is None:
        return np.zeros(n_samples, int)
    runs = np.asarray(runs)
    if runs.shape != (n_samples,):
        raise ValueError(f"'runs' must have one label per sample ({n_samples}), got {runs.shape}.")
    return runs


def run_bounds(runs) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of each contiguous block of equal run labels, in order.

    Raises if a label appears in two separate blocks (runs must be stacked, not interleaved).
    """
    runs = np.asarray(runs)
    edges = np.flatnonzero(runs[1:] != runs[:-1]) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [runs.size]])
    if len(np.unique(runs)) != len(starts):
        raise ValueError("Each run label must cover one contiguous block of samples.")
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def delay(X, delays, runs=None) -> np.ndarray:
    """Stack delayed copies of ``X``; no delayed row reaches into another run.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    delays : sequence of int
        In samples; a positive delay ``d`` puts ``X[t - d]`` in row ``t`` (past input, as a
        hemodynamic lag). Negative delays look ahead.
    runs : array of shape (n_samples,), optional
        Run label of each sample (runs stacked one after the other). Rows whose delayed source
        lies outside the run are zero.

    Returns
    -------
    delayed : ndarray of shape (n_samples, n_delays * n_features)
        Delay-major: column ``i * n_features + f`` is feature ``f`` delayed by ``delays[i]``.

    Examples
    --------
    >>> delay(np.arange(4.0)[:, None], [0, 1], runs=[0, 0, 1, 1])[:, 1]
    array([0., 0., 0., 2.])
    """
    X = np.asarray(X, float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    delays = [int(d) for d in np.atleast_1d(delays)]
    labels = _runs(runs, X.shape[0])
    n, p = X.shape
    out = np.zeros((n, len(delays) * p))
    for start, stop in run_bounds(labels):
        for i, d in enumerate(delays):
            cols = slice(i * p, (i + 1) * p)
            if d >= 0 and d < stop - start:
                out[start + d : stop, cols] = X[start : stop - d]
            elif d < 0 and -d < stop - start:
                out[start : stop + d, cols] = X[start - d : stop]
    return out


def trim_mask(runs, n_start: int = 0, n_end: int = 0) -> np.ndarray:
    """Return a mask that drops the first ``n_start`` and last ``n_end`` samples of every run.

    Parameters
    ----------
    runs : array of shape (n_samples,)
    n_start, n_end : int

    Returns
    -------
    keep : ndarray of bool, shape (n_samples,)
    """
    runs = np.asarray(runs)
    keep = np.zeros(runs.size, bool)
    for start, stop in run_bounds(runs):
        keep[start + n_start : max(start + n_start, stop - n_end)] = True
    return keep


def zscore_runs(X, runs) -> np.ndarray:
    """Z-score every column within each run (constant columns become 0)."""
    X = np.asarray(X, float).copy()
    for start, stop in run_bounds(runs):
        block = X[start:stop]
        sd = block.std(0)
        X[start:stop] = (block - block.mean(0)) / np.where(sd > 0, sd, 1.0)
    return X
