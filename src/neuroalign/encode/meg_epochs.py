"""Word-epoch encoding of any BIDS MEG dataset: ridge per sensor and time window.

Every MEG recording of the subject (KIT, FIF or CTF, found and read through mne-bids; bad
channels from the channels files) is preprocessed (`neuroalign.data.meg_preprocess`: good MEG
channels, optional notch, band-pass, resample), cut into epochs around the word onsets of its
events file (baseline-corrected) and averaged in time windows after the onset. The targets are
each sensor's mean response in each window; the predictors are the words' features from an
activation store. Ridge (`neuroalign.encoding.RidgeCV`, alpha per target by inner
cross-validation) is fitted with words of a story (or run, or block) held out together, so
every word gets a held-out prediction.

Result layout (one netCDF per subject and model; see ``docs/meg.md``): ``r``, ``r2``, ``p``,
``q``, ``alpha`` over (sensor, window); ``r_by_layer`` and ``cv_by_layer`` over (layer, sensor,
window); ``prediction`` and ``observed`` over (word, sensor, window), the held-out prediction
of the selected layer and the measured response; word coordinates ``word`` (text), ``story``,
``run``, ``onset`` and ``fold``; ``erf`` over (sensor, time), the mean epoch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mne
import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.data.meg_preprocess import preprocess_raw, time_windows, window_means, word_epochs
from neuroalign.data.readers.bids_meg import find_meg, read_bids_meg
from neuroalign.encode.activations import align_items, read_activations
from neuroalign.encode.output import ALPHA_CONVENTION, fit_device, run_config
from neuroalign.encode.planted import read_truth
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.estimators import RidgeCV, make_estimator
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.encoding.stats import bh_qvalues, circular_shift_null, p_values
from neuroalign.results import write_netcdf

__all__ = ["cv_groups", "encode_meg_epochs", "epoch_recovery", "evoked_file", "fit_windows"]

logger = logging.getLogger(__name__)

#: Scale of ``observed``, ``prediction`` and ``erf``: tesla (T/m for planar gradiometers) x 1e15.
SCALE = 1e15


def evoked_file(output: str | Path) -> Path:
    """Where `encode_meg_epochs` writes its Evoked FIF unless told: ``<stem>_r-ave.fif``."""
    output = Path(output)
    return output.with_name(output.stem + "_r-ave.fif")


def cv_groups(words: pd.DataFrame, group: str, folds: int) -> tuple[np.ndarray, str, int]:
    """The cross-validation group of every word, the grouping used and its number of folds.

    ``auto`` takes stories when there are at least two, else runs, else ``folds`` contiguous
    blocks of words (a recording of one story).
    """
    if group == "auto":
        group = next(
            (g for g in ("story", "run") if words[g].nunique() >= 2),
            "block",
        )
    if group == "block":
        labels = np.repeat(
            np.arange(folds), np.diff(np.linspace(0, len(words), folds + 1).round().astype(int))
        )
        return labels, group, folds
    labels = pd.factorize(words[group].astype(str))[0]
    n = int(labels.max()) + 1
    if n < 2:
        raise NeuroalignError(
            f"options.group {group!r}: the words come from one {group} only; use group 'block' "
            "(contiguous blocks of words) or add recordings."
        )
    return labels, group, min(folds, n)


def _inner_folds(groups: np.ndarray, folds: int, gap: int, runs: np.ndarray) -> list:
    n = len(np.unique(groups))
    if n >= 2:
        return group_folds(groups, n_folds=min(folds, n), gap=gap, runs=runs)
    blocks = np.repeat(
        np.arange(folds), np.diff(np.linspace(0, len(groups), folds + 1).round().astype(int))
    )
    return group_folds(blocks, gap=gap, runs=runs)


def _standardize(train: np.ndarray, test: np.ndarray, n_components: int | None) -> tuple:
    mean, sd = train.mean(0), train.std(0)
    sd[sd == 0] = 1.0
    train, test = (train - mean) / sd, (test - mean) / sd
    if n_components is not None and n_components < train.shape[1]:
        _, _, vt = np.linalg.svd(train, full_matrices=False)
        basis = vt[:n_components].T
        train, test = train @ basis, test @ basis
    return train, test


def fit_windows(
    X: np.ndarray,
    Y: np.ndarray,
    groups: np.ndarray,
    n_folds: int,
    *,
    alphas: np.ndarray,
    runs: np.ndarray | None = None,
    gap: int = 0,
    n_components: int | None = None,
    **options: Any,
) -> dict[str, np.ndarray]:
    """Held-out ridge predictions of every word, fold by fold (groups held out together).

    Parameters
    ----------
    X : array of shape (n_words, n_features)
    Y : array of shape (n_words, n_targets)
    groups : array of shape (n_words,)
        Cross-validation group of each word (`cv_groups`).
    n_folds : int
        Outer folds (groups merged in order into this many).
    alphas : array
        Ridge penalty grid.
    runs : array of shape (n_words,), optional
        Run of each word, for ``gap``.
    gap : int
        Words purged from training on each side of a test block of the same run (neighbouring
        words' responses overlap in time).
    n_components : int, optional
        Principal components of the standardized features fitted on each training set.
    **options
        ``device``, ``dtype`` and solver options of :class:`~neuroalign.encoding.RidgeCV`.

    Returns
    -------
    fit : dict
        ``prediction`` (n_words, n_targets), ``fold`` (n_words,), ``alpha`` (n_folds,
        n_targets), ``cv_score`` (n_folds, n_targets): the inner-CV R² at the chosen alpha
        (alphas are chosen on R², so that predictions keep their scale).
    """
    runs = np.zeros(len(groups), int) if runs is None else runs
    outer = group_folds(groups, n_folds=n_folds, gap=gap, runs=runs)
    prediction = np.zeros(Y.shape)
    fold_of = np.zeros(len(groups), np.int64)
    alpha, cv = [], []
    for k, (train, test) in enumerate(outer):
        Xtr, Xte = _standardize(X[train], X[test], n_components)
        inner = _inner_folds(groups[train], n_folds, gap, runs[train])
        model = make_estimator(RidgeCV, options, alphas=alphas, cv=inner, scoring="r2")
        model.fit(Xtr, Y[train])
        prediction[test] = model.predict(Xte)
        fold_of[test] = k
        alpha.append(np.asarray(model.best_alphas_))
        cv.append(model.cv_scores_.max(0))
    return {
        "prediction": prediction,
        "fold": fold_of,
        "alpha": np.stack(alpha),
        "cv_score": np.stack(cv),
    }


def _read_recordings(dataset: Path, subject: str, opts) -> tuple[list, list[dict]]:
    """Preprocessed window means of every recording: (words, data (word, channel, window),
    channel names, info, erf, times) per recording, and the preprocessing records."""
    paths = find_meg(dataset, subject, task=opts.task, session=opts.session, run=opts.run)
    windows = time_windows(0.0, opts.tmax, opts.window)
    baseline = None if opts.baseline is None else tuple(opts.baseline)
    parts, log = [], []
    for path in paths:
        rec = read_bids_meg(path, trial_type=opts.trial_type, word_column=opts.word_column)
        raw, steps = preprocess_raw(
            rec.raw,
            l_freq=opts.l_freq,
            h_freq=opts.h_freq,
            notch=list(opts.notch),
            sfreq=opts.sfreq,
        )
        words = rec.words.copy()
        words["onset"] = (words["sample"] - rec.raw.first_samp) / rec.raw.info["sfreq"]
        data, times, epoch_steps = word_epochs(
            raw, words, tmin=opts.tmin, tmax=opts.tmax, baseline=baseline
        )
        log.append(
            {
                "recording": rec.label,
                "path": str(path.fpath),
                "bads": rec.bads,
                "steps": steps + epoch_steps,
            }
        )
        parts.append(
            {
                "words": words,
                "means": window_means(data, times, windows),
                "channels": list(raw.ch_names),
                "info": raw.info,
                "erf": data.mean(0),
                "times": times,
            }
        )
    return parts, log


def encode_meg_epochs(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    dataset: str | Path,
    subject: str,
    output: str | Path,
    evoked: str | Path | None = None,
) -> Path:
    """Fit ridge from word features to each sensor's response in each window after the onset.

    Parameters
    ----------
    settings : EncodeSettings
        A ``meg_epochs`` entry (`EncodeSettings.from_config`); its options are
        `MegEpochsOptions`.
    activations : str or Path
        The activation store of the recordings' words (items matched to the word events, per
        story when the store has a ``story`` coordinate).
    dataset : str or Path
        The BIDS dataset folder (``sub-<subject>/[ses-*/]meg/*_meg.<con|sqd|fif|ds>`` with
        ``*_events.tsv`` and ``*_channels.tsv``).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The netCDF file to write (layout in the module docstring and ``docs/meg.md``).
    evoked : str or Path, optional
        Evoked FIF of the selected layer's r per window (one "time" point per window, at its
        centre), in the recording's sensor layout; default `evoked_file` of ``output``.

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        If the settings are of another kind, no recording matches, or the words and the
        activations disagree (one line each).
    """
    settings.check_kind("meg_epochs")
    opts = settings.options
    dataset, output = Path(dataset), Path(output)
    device = fit_device(settings)
    layers = read_activations(activations, settings.variable, settings.layers)
    parts, preprocessing = _read_recordings(dataset, subject, opts)
    channels = [c for c in parts[0]["channels"] if all(c in p["channels"] for p in parts)]
    words = pd.concat([p["words"] for p in parts], ignore_index=True)
    means = np.concatenate(
        [p["means"][:, [p["channels"].index(c) for c in channels]] for p in parts]
    )
    windows = time_windows(0.0, opts.tmax, opts.window)
    n_words, n_sensors, n_windows = means.shape
    groups, group, n_folds = cv_groups(words, opts.group, settings.folds)
    runs = pd.factorize(words["run"])[0]
    gap = (
        int(np.ceil(opts.tmax / max(words["onset"].diff().median(), 1e-3)))
        if (group == "block")
        else 0
    )
    Y = means.reshape(n_words, -1) * SCALE
    fits, index = {}, {}
    for k, da in layers.items():
        rows = np.zeros(n_words, np.int64)
        for (run, story), part in words.groupby(["run", "story"], sort=False):
            rows[part.index] = align_items(
                da, part["word"].tolist(), str(story), f"{run} (story {story})"
            )
        index[k] = rows
        fits[k] = fit_windows(
            da.values[rows].astype(float),
            Y,
            groups,
            n_folds,
            alphas=settings.grid,
            runs=runs,
            gap=gap,
            n_components=opts.n_components,
            device=device,
            dtype=settings.dtype,
        )
        logger.info("layer %s: mean held-out r %.3f", k, pearson_r(Y, fits[k]["prediction"]).mean())
    keys = list(fits)
    shape = (n_sensors, n_windows)
    r_by_layer = np.stack([pearson_r(Y, fits[k]["prediction"]).reshape(shape) for k in keys])
    cv_by_layer = np.stack([fits[k]["cv_score"].mean(0).reshape(shape) for k in keys])
    selected = keys[int(np.argmax(cv_by_layer.mean(axis=(1, 2))))]
    fit = fits[selected]
    r_sel = r_by_layer[keys.index(selected)].ravel()
    if opts.n_perm > 0:
        null = circular_shift_null(
            Y,
            fit["prediction"],
            n_perm=opts.n_perm,
            rng=np.random.default_rng(settings.random_seed),
            min_shift=min(10, n_words // 2),
            device=device,
        )
        p = p_values(r_sel, null, method="gaussian")
        q = bh_qvalues(p)
    else:
        p = q = np.full(r_sel.shape, np.nan)
    info = mne.pick_info(parts[0]["info"], [parts[0]["channels"].index(c) for c in channels])
    positions = np.array([ch["loc"][:3] for ch in info["chs"]])
    erf = np.mean([p["erf"][[p["channels"].index(c) for c in channels]] for p in parts], axis=0)
    ds = xr.Dataset(
        {
            "r": (("sensor", "window"), r_by_layer[keys.index(selected)]),
            "r2": (("sensor", "window"), r2_score(Y, fit["prediction"]).reshape(shape)),
            "p": (("sensor", "window"), p.reshape(shape)),
            "q": (("sensor", "window"), q.reshape(shape)),
            "alpha": (("sensor", "window"), np.median(fit["alpha"], 0).reshape(shape)),
            "r_by_layer": (("layer", "sensor", "window"), r_by_layer),
            "cv_by_layer": (("layer", "sensor", "window"), cv_by_layer),
            "prediction": (
                ("word", "sensor", "window"),
                fit["prediction"].reshape(means.shape).astype(np.float32),
            ),
            "observed": (("word", "sensor", "window"), Y.reshape(means.shape).astype(np.float32)),
            "erf": (("sensor", "time"), erf * SCALE),
        },
        coords={
            "word": ("word", words["word"].to_numpy(object)),
            "story": ("word", words["story"].astype(str).to_numpy(object)),
            "run": ("word", words["run"].astype(str).to_numpy(object)),
            "onset": ("word", words["onset"].to_numpy(float)),
            "item": ("word", index[selected]),
            "fold": ("word", fit["fold"]),
            "sensor": channels,
            "sensor_type": ("sensor", [mne.channel_type(info, i) for i in range(len(channels))]),
            "sensor_x": ("sensor", positions[:, 0]),
            "sensor_y": ("sensor", positions[:, 1]),
            "sensor_z": ("sensor", positions[:, 2]),
            "window": windows.mean(1),
            "window_start": ("window", windows[:, 0]),
            "window_end": ("window", windows[:, 1]),
            "layer": [str(k) for k in keys],
            "time": parts[0]["times"],
        },
    )
    for name in ("observed", "prediction", "erf"):
        ds[name].attrs["units"] = "fT (T x 1e15; fT/m for planar gradiometers)"
    for name in ("window", "window_start", "window_end", "time", "onset"):
        ds[name].attrs["units"] = "s"
    truth = read_truth(dataset)
    summary = epoch_recovery(truth, subject, ds) if truth is not None else {}
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(settings, subject=subject),
            seed=settings.random_seed,
            inputs={entry["recording"]: entry["path"] for entry in preprocessing},
            dataset=dataset.name,
            kind="meg_epochs",
            selected_layer=str(selected),
            score=f"Pearson r and R^2 over all words of held-out predictions: {n_folds} folds "
            f"of {group}s held out together (alpha per target by inner cross-validation over "
            "the training groups); the layer is picked by its mean inner-CV score",
            folds=f"{n_folds} folds by {group}"
            + (f", {gap} words purged on each side" if gap else ""),
            alpha_convention=ALPHA_CONVENTION,
            null=f"{opts.n_perm} circular shifts of the held-out predictions over the words "
            "(at least 10 words); p from a normal fitted to each target's null, q by BH over "
            "sensors and windows",
            preprocessing=json.dumps(preprocessing),
            n_words=n_words,
            summary=summary,
        )
    )
    write_netcdf(ds, output)
    r_evoked = mne.EvokedArray(
        ds["r"].values,
        _as_sensor_info(info, 1.0 / opts.window),
        tmin=float(windows[0].mean()),
        comment="r",
    )
    with atomic_path(evoked or evoked_file(output)) as tmp:
        r_evoked.save(tmp, verbose="error")
    logger.info(
        "wrote %s (%d words, %d sensors, %d windows; layer %s)",
        output,
        n_words,
        n_sensors,
        n_windows,
        selected,
    )
    return output


def _as_sensor_info(info: mne.Info, sfreq: float) -> mne.Info:
    """``info`` at another rate (the windows' rate), sensor layout kept."""
    out = info.copy()
    with out._unlock():  # the rate of per-window scores is the windows' rate
        out["sfreq"] = float(sfreq)
        out["lowpass"] = float(sfreq) / 2
        out["highpass"] = 0.0
    return out


def epoch_recovery(truth: xr.Dataset, subject: str, ds: xr.Dataset, top: int = 10) -> dict:
    """Recovered vs planted latency and sensors of a simulated MEG dataset (``sim_meg``).

    The planted word-onset response (the same for every word) should show in the mean epoch
    (``erf``): its peak time and strongest sensors. The planted feature-driven response
    (``surprisal``) is what word features can predict: the window of highest mean r should
    hold its peak lag, and the sensors of highest r there should be its strongest ones.

    Returns
    -------
    summary : dict
        ``planted_*`` and ``recovered_*`` latencies (s; a window's is its centre), the
        overlap of the ``top`` sensors (fraction), and the correlation over sensors of r at
        the peak window with the planted pattern's absolute value.
    """
    trf = truth["trf"].sel(subject=subject).sel(sensor=list(ds["sensor"].values))
    out: dict[str, Any] = {}
    lags = trf["lag"].values
    onset = trf.sel(predictor="word_onset").values  # (sensor, lag)
    peak = int(np.argmax(np.abs(onset).max(0)))
    times = ds["time"].values
    erf = np.abs(ds["erf"].values)
    after = times >= 0
    erf_peak = times[after][int(np.argmax(erf[:, after].max(0)))]
    out["planted_onset_latency_s"] = float(lags[peak])
    out["recovered_erf_peak_s"] = float(erf_peak)
    out["onset_top_sensor_overlap"] = _overlap(
        np.abs(onset[:, peak]), erf[:, np.argmin(np.abs(times - erf_peak))], top
    )
    if "surprisal" in trf["predictor"].values:
        wave = trf.sel(predictor="surprisal").values
        k = int(np.argmax(np.abs(wave).max(0)))
        pattern = np.abs(wave[:, k])
        r = ds["r"].values
        w = int(np.argmax(r.mean(0)))
        out["planted_feature_latency_s"] = float(lags[k])
        out["recovered_peak_window_s"] = [float(ds["window_start"][w]), float(ds["window_end"][w])]
        out["recovered_feature_latency_s"] = float(ds["window"][w])
        out["latency_error_s"] = float(ds["window"][w] - lags[k])
        out["feature_top_sensor_overlap"] = _overlap(pattern, r[:, w], top)
        out["r_vs_planted_pattern"] = float(np.corrcoef(pattern, r[:, w])[0, 1])
    return out


def _overlap(planted: np.ndarray, recovered: np.ndarray, top: int) -> float:
    a = set(np.argsort(planted)[-top:])
    b = set(np.argsort(recovered)[-top:])
    return len(a & b) / top
