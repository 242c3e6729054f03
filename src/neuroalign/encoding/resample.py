"""Word-level features onto a regular grid (fMRI TRs) with a Lanczos-windowed sinc kernel.

``out[j] = sum_i h(T_j - t_i) v_i`` with ``h(t) = sinc(f t) sinc(f t / window)`` for
``|f t| < window`` (``sinc(x) = sin(pi x) / (pi x)``), ``f = cutoff / tr``; the default
``cutoff = 1`` puts the low-pass edge at the grid's Nyquist frequency.

The two modes differ in what the output means:

``"sum"``
    The raw kernel sum. Its gain at zero frequency equals the number of input samples per
    ``1 / f`` seconds, so the output scales with the word rate (as in Huth-lab pipelines).
``"mean"``
    The sum divided by ``sum_i h(T_j - t_i)``: a local weighted mean of the words around
    ``T_j`` that does not depend on the word rate (zero where no word is within reach).
"""

from __future__ import annotations

import numpy as np

from neuroalign._check import check_option, check_range

MODES = ("sum", "mean")


def lanczos_kernel(t, freq: float, window: int = 3) -> np.ndarray:
    """Return the Lanczos-windowed sinc ``sinc(freq t) sinc(freq t / window)`` (0 beyond)."""
    x = freq * np.asarray(t, float)
    h = np.sinc(x) * np.sinc(x / window)
    return np.where(np.abs(x) < window, h, 0.0)


def lanczos_resample(
    values,
    times,
    grid,
    *,
    tr: float,
    mode: str = "sum",
    window: int = 3,
    cutoff: float = 1.0,
) -> np.ndarray:
    """Resample irregular samples (word features at word times) onto ``grid``.

    Parameters
    ----------
    values : array of shape (n_words, n_features)
    times : array of shape (n_words,)
        Seconds, in the same clock as ``grid``.
    grid : array of shape (n_out,)
        Output times (e.g. TR onsets or centres, seconds).
    tr : float
        Grid spacing (s); sets the low-pass edge ``cutoff / (2 tr)`` Hz.
    mode : {"sum", "mean"}
        See the module docstring.
    window : int
        Lanczos lobes.
    cutoff : float
        Low-pass edge as a fraction of the grid's Nyquist frequency.

    Returns
    -------
    out : ndarray of shape (n_out, n_features)
    """
    check_option("mode", mode, MODES)
    check_range("tr", tr, 0, None, closed="neither")
    values = np.asarray(values, float)
    if values.ndim == 1:
        values = values[:, None]
    times = np.asarray(times, float)
    if times.shape != (values.shape[0],):
        raise ValueError(
            f"'times' has {times.shape[0]} entries but 'values' has {values.shape[0]}."
        )
    H = lanczos_kernel(np.asarray(grid, float)[:, None] - times[None, :], cutoff / tr, window)
    out = H @ values
    if mode == "mean":
        weight = H.sum(1)
        ok = np.abs(weight) > 1e-6
        out = np.where(ok[:, None], out / np.where(ok, weight, 1.0)[:, None], 0.0)
    return out
