"""Hemodynamic response and event-to-scan convolution for simulated fMRI."""

from __future__ import annotations

import numpy as np
from scipy import signal, stats

from neuroalign._check import check_range, check_same_length


def spm_hrf(dt: float, length: float = 32.0) -> np.ndarray:
    """Return the canonical double-gamma HRF (SPM shape) sampled every ``dt`` seconds.

    Peak gamma with shape 6, undershoot gamma with shape 16 and ratio 1/6, unit sum.

    Parameters
    ----------
    dt : float
        Sampling step (s).
    length : float
        Kernel length (s).

    Returns
    -------
    hrf : ndarray, shape (ceil(length / dt),)
    """
    check_range("dt", dt, 0, None, closed="neither")
    t = np.arange(0, length, dt)
    hrf = stats.gamma.pdf(t, 6) - stats.gamma.pdf(t, 16) / 6
    return hrf / hrf.sum()


def convolve_events(
    onsets: np.ndarray,
    values: np.ndarray,
    n_scans: int,
    tr: float,
    *,
    durations: np.ndarray | None = None,
    dt: float = 0.1,
) -> np.ndarray:
    """Convolve weighted events with the canonical HRF and sample at scan onsets.

    Parameters
    ----------
    onsets : ndarray, shape (n_events,)
        Event onsets (s from the first scan).
    values : ndarray, shape (n_events,) or (n_events, n_regressors)
        Each event's weight per regressor.
    n_scans : int
        Number of scans; scan ``k`` is sampled at ``k * tr``.
    tr : float
        Repetition time (s).
    durations : ndarray, shape (n_events,), optional
        Event durations (s); events last one ``dt`` step when omitted (sticks).
    dt : float
        Time step of the high-resolution grid (s).

    Returns
    -------
    regressors : ndarray, shape (n_scans, n_regressors)
        In continuous-time units: a stick (no duration) of weight 1 adds the HRF density (unit
        area, peak about 0.17 per s); a long block of weight 1 plateaus at 1. So the result
        does not depend on ``dt``.
    """
    values = np.asarray(values, float)
    values = values[:, None] if values.ndim == 1 else values
    check_same_length(onsets=onsets, values=values)
    n_fine = int(np.ceil(n_scans * tr / dt)) + 1
    grid = np.zeros((n_fine, values.shape[1]))
    start = np.round(np.asarray(onsets, float) / dt).astype(int)
    if durations is None:
        steps = np.ones(len(start), int)
        values = values / dt
    else:
        steps = np.maximum(1, np.round(np.asarray(durations, float) / dt).astype(int))
    for s, n, v in zip(start, steps, values, strict=True):
        if 0 <= s < n_fine:
            grid[s : s + n] += v
    hrf = spm_hrf(dt)
    fine = signal.fftconvolve(grid, hrf[:, None], axes=0)[:n_fine]
    index = np.round(np.arange(n_scans) * tr / dt).astype(int)
    return fine[index]
