"""Word-locked MEG responses in time windows, and their held-out prediction from word features.

These give the ``prediction`` and ``observed`` arrays (dims ``word, sensor, window``) the
divergence analysis reads, for recordings no other stage has encoded per word: `word_epochs`
averages the signal in windows after each word onset, `heldout_predictions` fits one ridge
model per sensor-window on all but one fold of contiguous words and predicts the held-out
fold (every word is predicted once, by a model that never saw it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.encoding.cv import block_folds
from neuroalign.encoding.estimators import RidgeCV

__all__ = ["heldout_predictions", "read_meg", "window_centres", "word_epochs"]

logger = logging.getLogger(__name__)


def window_centres(windows: Sequence[Sequence[float]]) -> np.ndarray:
    """Centres (s) of ``[(start, stop), ...]`` windows."""
    return np.round([(float(a) + float(b)) / 2 for a, b in windows], 9)


def word_epochs(
    data: np.ndarray,
    sfreq: float,
    onsets: np.ndarray,
    windows: Sequence[Sequence[float]],
    *,
    sensors: Sequence[str] | None = None,
    words: pd.DataFrame | None = None,
) -> xr.DataArray:
    """The mean signal in each window after each word onset.

    Parameters
    ----------
    data : ndarray of shape (n_times, n_sensors)
        The recording (z-scored or in its units).
    sfreq : float
        Sampling rate (Hz).
    onsets : ndarray of shape (n_words,)
        Word onsets (s from the first sample).
    windows : sequence of (start, stop)
        Windows (s after onset); samples ``start <= t < stop`` are averaged.
    sensors : sequence of str, optional
        Sensor names (default ``s0, s1, ...``).
    words : DataFrame, optional
        Word table with ``word`` (or ``text``) and optionally ``story``: word coordinates.

    Returns
    -------
    epochs : DataArray of shape (n_words, n_sensors, n_windows)
        Dims ``word, sensor, window`` (window coordinate: centres in s). A window that runs
        past the recording is NaN for that word.
    """
    data = np.asarray(data, float)
    onsets = np.asarray(onsets, float)
    n_times, n_sensors = data.shape
    cum = np.vstack([np.zeros((1, n_sensors)), np.cumsum(data, axis=0)])
    out = np.full((onsets.size, n_sensors, len(windows)), np.nan)
    for j, (start, stop) in enumerate(windows):
        a = np.round((onsets + float(start)) * sfreq).astype(int)
        b = np.round((onsets + float(stop)) * sfreq).astype(int)
        if np.any(b <= a):
            raise NeuroalignError(f"window ({start}, {stop}) s holds no sample at {sfreq} Hz.")
        ok = (a >= 0) & (b <= n_times)
        out[ok, :, j] = (cum[b[ok]] - cum[a[ok]]) / (b[ok] - a[ok])[:, None]
    coords: dict = {
        "sensor": list(sensors) if sensors is not None else [f"s{i}" for i in range(n_sensors)],
        "window": window_centres(windows),
        "onset": ("word", onsets),
    }
    if words is not None:
        text = words["word"] if "word" in words else words["text"]
        coords["text"] = ("word", text.astype(str).to_numpy())
        if "story" in words:
            coords["story"] = ("word", words["story"].astype(str).to_numpy())
    da = xr.DataArray(out, dims=("word", "sensor", "window"), coords=coords, name="observed")
    da["window"].attrs["units"] = "s"
    da.attrs["windows"] = [[float(a), float(b)] for a, b in windows]
    return da


def heldout_predictions(
    features: np.ndarray,
    observed: xr.DataArray,
    *,
    n_folds: int = 5,
    alphas: np.ndarray,
    device: str = "cpu",
) -> xr.DataArray:
    """Predict every word's response from its features by a model fitted on the other folds.

    Parameters
    ----------
    features : ndarray of shape (n_words, n_features)
        The words' features (a model's activations, with any extra columns).
    observed : DataArray with dims (word, sensor, window)
        `word_epochs`; words with a NaN window are dropped from fitting and predicted anyway.
    n_folds : int, default=5
        Folds of contiguous words (outer); the penalty of each sensor-window is chosen by
        cross-validation on the training folds (`neuroalign.encoding.estimators.RidgeCV`).
    alphas : ndarray
        The penalty grid.
    device : str
        Where the ridge solver runs.

    Returns
    -------
    prediction : DataArray like ``observed``
    """
    X = np.asarray(features, float)
    if X.shape[0] != observed.sizes["word"]:
        raise NeuroalignError(
            f"{X.shape[0]} feature rows for {observed.sizes['word']} words; give one row a word."
        )
    Y = observed.transpose("word", "sensor", "window").values.reshape(X.shape[0], -1)
    valid = ~np.isnan(Y).any(1)
    pred = np.full(Y.shape, np.nan)
    for train, test in block_folds(X.shape[0], n_folds):
        fit_rows = train[valid[train]]
        mu, sd = X[fit_rows].mean(0), X[fit_rows].std(0)
        sd[sd == 0] = 1.0
        model = RidgeCV(alphas=alphas, cv=5, device=device).fit(
            (X[fit_rows] - mu) / sd, Y[fit_rows]
        )
        pred[test] = model.predict((X[test] - mu) / sd)
    out = observed.copy(data=pred.reshape(observed.transpose("word", "sensor", "window").shape))
    out.name = "prediction"
    return out


def read_meg(
    dataset: str | Path, subject: str, task: str | None = None
) -> tuple[np.ndarray, float, list[str], pd.DataFrame]:
    """A subject's MEG recording (MEG channels, z-scored) and its word events, via mne-bids.

    Returns
    -------
    data : ndarray of shape (n_times, n_sensors)
    sfreq : float
    sensors : list of str
    words : DataFrame
        The events of ``trial_type`` ``word`` (all events without that column), with ``onset``
        and ``word``.

    Raises
    ------
    NeuroalignError
        If the subject has no MEG recording or its events file lacks onsets or words.
    """
    import mne
    from mne_bids import BIDSPath

    query = BIDSPath(
        root=dataset, subject=subject, task=task, datatype="meg", suffix="meg", check=False
    )
    paths = sorted(
        (p for p in query.match() if p.extension in (".fif", ".con", ".sqd", ".ds")),
        key=lambda p: str(p.fpath),
    )
    if not paths:
        raise NeuroalignError(
            f"{Path(dataset) / f'sub-{subject}' / 'meg'}: no MEG recording for subject "
            f"{subject!r}; check the dataset folder and the subject label (without sub-)."
        )
    path = paths[0]
    events = path.copy().update(suffix="events", extension=".tsv", split=None).fpath
    table = pd.read_csv(events, sep="\t", keep_default_na=False, na_values=["n/a"])
    if "trial_type" in table:
        table = table[table["trial_type"] == "word"]
    if not {"onset", "word"} <= set(table.columns):
        raise NeuroalignError(f"{events}: needs columns onset and word.")
    with mne.use_log_level("error"):
        raw = mne.io.read_raw(path.fpath, preload=True).pick("meg")
    data = raw.get_data().T
    data = (data - data.mean(0)) / data.std(0)
    table = table.reset_index(drop=True).assign(word=lambda t: t["word"].astype(str))
    return data, float(raw.info["sfreq"]), list(raw.ch_names), table
