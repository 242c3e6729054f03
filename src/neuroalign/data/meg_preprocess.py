"""MEG preprocessing as MNE users expect it, each step logged and recorded.

`preprocess_raw` picks the good MEG channels, notch-filters, band-passes and resamples a raw
recording (in that order: filters run at the acquisition rate, then the anti-aliased resample);
`word_epochs` cuts epochs around word onsets with a baseline, and `window_means` averages them
in time windows after the onset. Each step returns a record (``{"step": ..., parameters}``) that
the caller stores in provenance; the same record is logged at INFO.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import mne
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option

__all__ = ["preprocess_raw", "time_windows", "window_means", "word_epochs"]

logger = logging.getLogger(__name__)


def _record(steps: list[dict[str, Any]], step: str, **params: Any) -> None:
    steps.append({"step": step, **params})
    logger.info("preprocess: %s %s", step, ", ".join(f"{k}={v}" for k, v in params.items()))


def preprocess_raw(
    raw: mne.io.BaseRaw,
    *,
    l_freq: float | None = 0.5,
    h_freq: float | None = 30.0,
    notch: Sequence[float] | None = None,
    sfreq: float | None = 100.0,
    picks: str = "meg",
) -> tuple[mne.io.BaseRaw, list[dict[str, Any]]]:
    """Pick, filter and resample a raw MEG recording (a preloaded copy; the input is untouched).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording, with ``info["bads"]`` set (e.g. from the BIDS channels file).
    l_freq, h_freq : float or None
        Band-pass edges (Hz) of :meth:`mne.io.Raw.filter` (FIR, MNE's defaults); None leaves
        that side open, both None skips the filter.
    notch : sequence of float, optional
        Line-noise frequencies (Hz) for :meth:`mne.io.Raw.notch_filter`; None or empty: none.
    sfreq : float or None
        Rate (Hz) to resample to after filtering; None keeps the acquisition rate.
    picks : {"meg", "mag", "grad"}
        Sensor types to keep (``"meg"``: magnetometers and gradiometers; reference channels
        never); bad channels are dropped.

    Returns
    -------
    raw : mne.io.BaseRaw
        The preprocessed copy.
    steps : list of dict
        One record per step, with its parameters and the channel counts.

    Raises
    ------
    NeuroalignError
        If no good channel of ``picks`` is left, or ``h_freq`` is at or above the Nyquist
        frequency of the new rate.
    """
    steps: list[dict[str, Any]] = []
    bads = list(raw.info["bads"])
    with mne.use_log_level("error"):
        check_option("picks", picks, ["meg", "mag", "grad"])
        # sensors only: KIT and CTF reference channels stay out
        meg = True if picks == "meg" else picks
        kept = mne.pick_types(raw.info, meg=meg, ref_meg=False, exclude="bads")
        if len(kept) == 0:
            raise NeuroalignError(
                f"no good {picks!r} channel in this recording ({len(raw.ch_names)} channels, "
                f"{len(bads)} bad); check picks and the channels file's status column."
            )
        out = raw.copy().pick(kept).load_data()
        _record(steps, "pick", picks=picks, n_channels=len(kept), dropped_bads=bads)
        if notch:
            freqs = [float(f) for f in notch]
            out.notch_filter(freqs)
            _record(steps, "notch", freqs=freqs)
        if l_freq is not None or h_freq is not None:
            new_rate = float(sfreq) if sfreq else out.info["sfreq"]
            if h_freq is not None and h_freq >= new_rate / 2:
                raise NeuroalignError(
                    f"h_freq {h_freq} Hz is at or above the Nyquist frequency ({new_rate / 2} Hz) "
                    f"of sfreq {new_rate} Hz; lower h_freq or raise sfreq."
                )
            out.filter(l_freq, h_freq)
            _record(steps, "filter", l_freq=l_freq, h_freq=h_freq, method="fir")
        if sfreq and abs(out.info["sfreq"] - sfreq) > 1e-9:
            before = out.info["sfreq"]
            out.resample(float(sfreq))
            _record(steps, "resample", sfreq_from=before, sfreq=float(sfreq))
    return out, steps


def word_epochs(
    raw: mne.io.BaseRaw,
    words: pd.DataFrame,
    *,
    tmin: float = -0.2,
    tmax: float = 0.8,
    baseline: tuple[float | None, float | None] | None = (None, 0.0),
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Cut epochs around word onsets: every word keeps its epoch (repeats and edges included).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A preprocessed recording (`preprocess_raw`).
    words : DataFrame
        With an ``onset`` column in seconds from the recording's first sample (`word_table`).
    tmin, tmax : float
        Epoch limits (s) around each onset.
    baseline : (float or None, float or None) or None
        Interval whose mean is subtracted from each epoch and channel (MNE's convention: None
        is the epoch's start or end); None: no baseline correction.

    Returns
    -------
    data : ndarray of shape (n_words, n_channels, n_times)
        An epoch that runs past either end of the recording repeats the edge sample there.
    times : ndarray of shape (n_times,)
    steps : list of dict
        The epoching record.
    """
    if tmin >= tmax:
        raise NeuroalignError(f"tmin ({tmin}) must be below tmax ({tmax}).")
    sfreq = raw.info["sfreq"]
    start, stop = int(np.round(tmin * sfreq)), int(np.round(tmax * sfreq))
    times = np.arange(start, stop + 1) / sfreq
    signal = raw.get_data()
    n_times = signal.shape[1]
    onsets = np.round(words["onset"].to_numpy(float) * sfreq).astype(np.int64)
    idx = onsets[:, None] + np.arange(start, stop + 1)[None]
    inside = (idx >= 0) & (idx < n_times)
    data = signal[:, np.clip(idx, 0, n_times - 1)].transpose(1, 0, 2)  # word, channel, time
    n_padded = int((~inside.all(1)).sum())
    if baseline is not None:
        lo = times[0] if baseline[0] is None else baseline[0]
        hi = times[-1] if baseline[1] is None else baseline[1]
        mask = (times >= lo - 1e-9) & (times <= hi + 1e-9)
        if not mask.any():
            raise NeuroalignError(
                f"baseline {baseline} holds no sample of the epoch ({tmin} to {tmax} s)."
            )
        data = data - data[:, :, mask].mean(axis=2, keepdims=True)
    steps: list[dict[str, Any]] = []
    _record(
        steps,
        "epochs",
        tmin=float(times[0]),
        tmax=float(times[-1]),
        baseline=None if baseline is None else list(baseline),
        n_words=len(words),
        n_padded=n_padded,
    )
    return data, times, steps


def time_windows(start: float, stop: float, width: float) -> np.ndarray:
    """Return consecutive windows ``[[lo, hi], ...]`` of ``width`` s tiling ``start`` to ``stop``.

    >>> time_windows(0.0, 0.3, 0.1).round(2).tolist()
    [[0.0, 0.1], [0.1, 0.2], [0.2, 0.3]]
    """
    if width <= 0 or stop <= start:
        raise NeuroalignError(
            f"windows from {start} to {stop} s of width {width}: need width > 0 and stop > start."
        )
    n = max(1, int(np.floor((stop - start) / width + 1e-9)))
    lo = start + width * np.arange(n)
    return np.stack([lo, lo + width], axis=1)


def window_means(data: np.ndarray, times: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Average epochs in time windows (samples with ``lo <= t < hi``).

    Parameters
    ----------
    data : ndarray of shape (n_words, n_channels, n_times)
    times : ndarray of shape (n_times,)
    windows : ndarray of shape (n_windows, 2)

    Returns
    -------
    means : ndarray of shape (n_words, n_channels, n_windows)
    """
    out = np.empty((*data.shape[:2], len(windows)))
    for k, (lo, hi) in enumerate(windows):
        mask = (times >= lo - 1e-9) & (times < hi - 1e-9)
        if not mask.any():
            raise NeuroalignError(
                f"window {lo:g} to {hi:g} s holds no sample at {1 / np.diff(times[:2])[0]:g} Hz; "
                "widen the windows or raise sfreq."
            )
        out[:, :, k] = data[:, :, mask].mean(axis=2)
    return out
