"""Story MEG with planted temporal response functions (BIDS via mne-bids, ``sim_meg``).

Generative model, per sensor ``c`` (tesla)::

    y_c(t) = sum_p sum_lag TRF[c, lag, p] * x_p(t - lag) + noise_c(t)

with predictors ``x_word_onset`` (an impulse at each word onset) and ``x_surprisal`` (an
impulse weighted by the word's z-scored surprisal). Each TRF is a spatial pattern, smooth over
the sensor array, times a waveform over lags (an M100-like wave for onsets, an N400-like wave
for surprisal). The noise is white plus slow sources spread smoothly over the sensors.
Sensors are the 102 magnetometers of the Neuromag Vectorview layout shipped with MNE.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.features import FeatureTable, story_features
from neuroalign.data.simulate.settings import SimMegSettings
from neuroalign.data.simulate.story import chapter_words, word_timings

logger = logging.getLogger(__name__)

DATASET_ID = "sim_meg"
TASK = "story"
PREDICTORS = ("word_onset", "surprisal")
FT = 1e-15  # tesla per femtotesla
# Pattern centers (device coordinates, m) with signs: pairs of opposite poles make dipolar fields.
_PATTERNS = {
    "word_onset": [
        ((-0.10, 0.02, -0.01), 1.0),
        ((-0.09, -0.05, 0.02), -1.0),
        ((0.10, 0.02, -0.01), -0.8),
        ((0.09, -0.05, 0.02), 0.8),
    ],
    "surprisal": [((-0.08, -0.06, 0.04), 1.0), ((-0.09, 0.0, 0.05), -1.0)],
}


def magnetometer_info(sfreq: float):
    """Return an ``mne.Info`` with the Neuromag Vectorview magnetometers (real positions).

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    info : mne.Info
        102 channels of type ``mag`` with positions, orientations and coil types from MNE's
        canonical Neuromag sensor definitions (device coordinates, identity device-to-head).
    """
    import mne

    canonical = mne.channels.read_meg_canonical_info("neuromag", verbose=False)
    picks = [i for i, ch in enumerate(canonical["chs"]) if ch["coil_type"] == 3024]
    info = mne.create_info([canonical["ch_names"][i] for i in picks], sfreq, "mag")
    for ch, i in zip(info["chs"], picks, strict=True):
        for key in ("loc", "coil_type", "coord_frame", "unit"):
            ch[key] = canonical["chs"][i][key]
    with info._unlock():  # device-to-head transform is not settable through the public API
        info["dev_head_t"] = canonical["dev_head_t"]
    return info


def waveform(name: str, lags: np.ndarray) -> np.ndarray:
    """Return the planted TRF time course of predictor ``name`` over ``lags`` (s), peak |1|."""
    if name == "word_onset":
        w = np.exp(-((lags - 0.1) ** 2) / (2 * 0.025**2))
        w = w - 0.6 * np.exp(-((lags - 0.2) ** 2) / (2 * 0.04**2))
    else:
        w = np.exp(-((lags - 0.4) ** 2) / (2 * 0.07**2))
    peak = np.abs(w).max()
    return w / peak if peak > 0 else w


def sensor_pattern(
    positions: np.ndarray, poles: list[tuple[tuple[float, float, float], float]], width: float
) -> np.ndarray:
    """Return a field pattern, smooth over sensors: signed Gaussian bumps around ``poles``.

    Parameters
    ----------
    positions : ndarray, shape (n_sensors, 3)
        Sensor positions (m).
    poles : list of (center, sign)
    width : float
        Gaussian SD (m).

    Returns
    -------
    pattern : ndarray, shape (n_sensors,)
        Scaled to a maximum absolute value of 1.
    """
    pattern = np.zeros(len(positions))
    for center, sign in poles:
        d2 = ((positions - np.asarray(center)) ** 2).sum(axis=1)
        pattern += sign * np.exp(-d2 / (2 * width**2))
    return pattern / np.abs(pattern).max()


def lagged_design(x: np.ndarray, n_lags: int, first_lag: int = 0) -> np.ndarray:
    """Return the time-lagged copies of predictors (zeros before the start).

    Parameters
    ----------
    x : ndarray, shape (n_times, n_predictors)
    n_lags : int
    first_lag : int
        Lag (samples) of the first copy; negative lags look ahead.

    Returns
    -------
    design : ndarray, shape (n_times, n_predictors * n_lags)
        Column ``p * n_lags + j`` is predictor ``p`` delayed by ``first_lag + j`` samples.
    """
    n, p = x.shape
    out = np.zeros((n, p, n_lags))
    for j in range(n_lags):
        lag = first_lag + j
        if lag >= 0:
            out[lag:, :, j] = x[: n - lag]
        else:
            out[:lag, :, j] = x[-lag:]
    return out.reshape(n, p * n_lags)


def simulate_meg(
    output: str | Path,
    settings: SimMegSettings | None = None,
    *,
    features: FeatureTable | None = None,
) -> Path:
    """Simulate the story MEG dataset and write it (BIDS, FIF) to ``output``.

    Parameters
    ----------
    output : str or Path
        The dataset directory, written atomically (replaced if it exists).
    settings : SimMegSettings, optional
        The config's ``simulate.meg`` section (default: the schema's defaults). Its ``seed``
        (None: 0) and the other settings fix the data bitwise.
    features : FeatureTable, optional
        External word features; only a ``surprisal`` column is used (else the bigram model).

    Returns
    -------
    output : Path
    """
    import mne
    import mne_bids

    cfg = settings or SimMegSettings()
    seed = cfg.seed or 0
    output = Path(output)
    sfreq, lead_in = float(cfg.sfreq), float(cfg.lead_in)
    words = _recording_words(cfg, seed, features)
    n_times = int(np.ceil((words["onset"].iloc[-1] + 1.0 + lead_in) * sfreq))
    first_lag = round(cfg.tmin * sfreq)
    n_lags = round(cfg.tmax * sfreq) - first_lag + 1
    lags = (first_lag + np.arange(n_lags)) / sfreq
    predictors = predictor_series(words, n_times, sfreq)
    info = magnetometer_info(sfreq)
    positions = np.array([ch["loc"][:3] for ch in info["chs"]])
    subjects = bids.subject_labels(cfg.n_subjects)
    logger.info(
        "simulating %s: %d subjects, %.0f s at %g Hz, %d sensors",
        DATASET_ID, len(subjects), n_times / sfreq, sfreq, len(positions),
    )  # fmt: skip
    divergent = divergent_series(words, n_times, sfreq, cfg.divergent_category)
    trfs, noise_sds, divergent_trfs = [], [], []
    with atomic_path(output) as tmp:
        tmp.mkdir()
        for k, subject in enumerate(subjects):
            rng = np.random.default_rng([seed, 1, k])
            trf = planted_trf(rng, positions, lags, cfg.trf_amplitude * FT)
            evoked = lagged_design(predictors, n_lags, first_lag) @ trf.transpose(2, 1, 0).reshape(
                -1, len(positions)
            )
            if divergent is not None:
                extra = planted_divergence(
                    np.random.default_rng([seed, 3, k]),
                    positions,
                    lags,
                    cfg.divergent_amplitude * FT,
                )
                evoked += lagged_design(divergent[:, None], n_lags, first_lag) @ extra.T
                divergent_trfs.append(extra)
            noise = sensor_noise(np.random.default_rng([seed, 2, k]), positions, n_times, sfreq)
            data = (evoked + cfg.noise_sd * FT * noise).T
            trfs.append(trf)
            noise_sds.append(cfg.noise_sd * FT * noise.std(axis=0))
            subject_info = info.copy()
            subject_info["line_freq"] = float(cfg.line_freq)
            bads = _bad_channels(cfg.bad_channels, subject_info["ch_names"])
            for i in bads:  # a broken sensor: junk, flagged in channels.tsv
                data[i] = (
                    20
                    * cfg.noise_sd
                    * FT
                    * np.random.default_rng([seed, 4, k, i]).standard_normal(n_times)
                )
            subject_info["bads"] = [subject_info["ch_names"][i] for i in bads]
            raw = mne.io.RawArray(data, subject_info, verbose=False)
            raw.set_annotations(
                mne.Annotations(
                    onset=words["onset"].to_numpy(),
                    duration=words["duration"].to_numpy(),
                    description=["word"] * len(words),
                    extras=[{"word": w} for w in words["word"]],
                )
            )
            path = mne_bids.BIDSPath(subject=subject, task=TASK, datatype="meg", root=tmp)
            mne_bids.write_raw_bids(
                raw, path, allow_preload=True, format="FIF", overwrite=True, verbose=False
            )
        bids.write_dataset_description(
            tmp, "neuroalign simulated story MEG", description=_DESCRIPTION
        )
        (tmp / "README").write_text(_README)
        truth = xr.Dataset(
            {
                "trf": (("subject", "sensor", "lag", "predictor"), np.stack(trfs)),
                "noise_sd": (("subject", "sensor"), np.stack(noise_sds)),
                "predictor_values": (("word", "predictor"), _event_values(words)),
                "onset": ("word", words["onset"].to_numpy()),
            },
            coords={
                "subject": subjects,
                "sensor": info["ch_names"],
                "lag": lags,
                "predictor": list(PREDICTORS),
                "text": ("word", words["text"].to_numpy()),
                "story": ("word", words["story"].to_numpy()),
                "sensor_x": ("sensor", positions[:, 0]),
                "sensor_y": ("sensor", positions[:, 1]),
                "sensor_z": ("sensor", positions[:, 2]),
            },
        )
        truth["trf"].attrs["units"] = "T per unit of predictor"
        if divergent is not None:
            truth["divergent_trf"] = (("subject", "sensor", "lag"), np.stack(divergent_trfs))
            truth["divergent_word"] = ("word", _divergent_words(words, cfg.divergent_category))
            truth["divergent_trf"].attrs["description"] = (
                f"extra response of the {cfg.divergent_category!r} lexicon words, carried by "
                "no word feature (a planted divergence)"
            )
            truth.attrs["divergent_category"] = cfg.divergent_category
        truth["lag"].attrs["units"] = "s"
        truth["predictor_values"].attrs["description"] = (
            "impulse height of each word in each predictor (surprisal z-scored)"
        )
        truth.attrs.update(
            provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
        )
        truth.attrs["sfreq"] = sfreq
        truth.attrs["bad_channels"] = ",".join(cfg.bad_channels)  # marked bad in channels.tsv
        truth.attrs["task"] = TASK
        if features is not None:
            truth.attrs["features_source"] = features.source
        summary = {
            "dataset": DATASET_ID,
            "seed": seed,
            "settings": cfg.to_dict(),
            "subjects": subjects,
            "task": TASK,
            "duration_s": n_times / sfreq,
            "n_words": len(words),
            "sensors": "Neuromag Vectorview magnetometers (102)",
            "planted": "trf (subject, sensor, lag, predictor) in T per unit; predictors "
            + ", ".join(PREDICTORS),
        }
        bids.write_truth(tmp, truth, summary)
    return output


def _bad_channels(names: tuple[str, ...], ch_names: list[str]) -> list[int]:
    """Indices of the sensors ``simulate.meg.bad_channels`` names; an unknown name is an error."""
    unknown = [n for n in names if n not in ch_names]
    if unknown:
        raise NeuroalignError(
            f"simulate.meg.bad_channels: {unknown} are not sensors of the simulated layout; use "
            f"names such as {ch_names[:3]} (the 102 Neuromag magnetometers)."
        )
    return [ch_names.index(n) for n in names]


def _recording_words(cfg: SimMegSettings, seed: int, table: FeatureTable | None) -> pd.DataFrame:
    words = chapter_words()
    features = story_features(words, dim=1, table=table)
    frames = []
    t = float(cfg.lead_in)
    for i, name in enumerate(cfg.stories):
        timed = word_timings(
            words[name], np.random.default_rng([seed, 0, i]), rate=cfg.speech_rate, start=t
        )
        timed["story"] = name
        timed["surprisal"] = features[name]["surprisal"].to_numpy()
        frames.append(timed)
        t = float(timed["onset"].iloc[-1] + timed["duration"].iloc[-1]) + cfg.lead_in
    out = pd.concat(frames, ignore_index=True)
    # Onsets on the sample grid, so annotations, events.tsv and the planted impulses agree.
    sfreq = float(cfg.sfreq)
    out["onset"] = np.round(out["onset"] * sfreq) / sfreq
    out["duration"] = out["duration"].round(3)
    return out


def _divergent_words(words: pd.DataFrame, category: str) -> np.ndarray:
    from neuroalign.data.lexicons import category_masks, lexicon

    return category_masks(words["text"], {category: lexicon(category)})[category]


def divergent_series(
    words: pd.DataFrame, n_times: int, sfreq: float, category: str | None
) -> np.ndarray | None:
    """Return an impulse (n_times,) at the onsets of the words of ``category``, or None."""
    if category is None:
        return None
    x = np.zeros(n_times)
    samples = np.round(words["onset"].to_numpy() * sfreq).astype(int)
    np.add.at(x, samples[_divergent_words(words, category)], 1.0)
    return x


#: Field of the planted divergent component: a right temporo-parietal dipole.
_DIVERGENT_POLES = [((0.08, -0.06, 0.04), 1.0), ((0.09, 0.0, 0.05), -1.0)]


def planted_divergence(
    rng: np.random.Generator, positions: np.ndarray, lags: np.ndarray, amplitude: float
) -> np.ndarray:
    """Return the divergent component's TRF (n_sensors, n_lags): a wave peaking at 300 ms."""
    poles = [
        (tuple(np.asarray(c) + rng.normal(0, 0.01, 3)), s * rng.uniform(0.8, 1.2))
        for c, s in _DIVERGENT_POLES
    ]
    pattern = sensor_pattern(positions, poles, width=0.035)
    wave = np.exp(-((lags - 0.3) ** 2) / (2 * 0.06**2))
    return amplitude * np.outer(pattern, wave / max(np.abs(wave).max(), 1e-12))


def _event_values(words: pd.DataFrame) -> np.ndarray:
    s = words["surprisal"].to_numpy(float)
    return np.stack([np.ones(len(words)), (s - s.mean()) / s.std()], axis=1)


def predictor_series(words: pd.DataFrame, n_times: int, sfreq: float) -> np.ndarray:
    """Return impulse predictors (n_times, n_predictors) at the words' onset samples.

    Columns follow :data:`PREDICTORS`: 1 at each word onset; the word's z-scored surprisal.
    """
    x = np.zeros((n_times, len(PREDICTORS)))
    samples = np.round(words["onset"].to_numpy() * sfreq).astype(int)
    np.add.at(x, samples, _event_values(words))
    return x


def planted_trf(
    rng: np.random.Generator, positions: np.ndarray, lags: np.ndarray, amplitude: float
) -> np.ndarray:
    """Return planted TRFs (n_sensors, n_lags, n_predictors): pattern x waveform x amplitude.

    Each subject's pole positions are jittered by about 1 cm and gains by about 20%.
    """
    out = np.zeros((len(positions), len(lags), len(PREDICTORS)))
    for p, name in enumerate(PREDICTORS):
        poles = [
            (tuple(np.asarray(c) + rng.normal(0, 0.01, 3)), s * rng.uniform(0.8, 1.2))
            for c, s in _PATTERNS[name]
        ]
        pattern = sensor_pattern(positions, poles, width=0.035)
        out[:, :, p] = amplitude * np.outer(pattern, waveform(name, lags))
    return out


def sensor_noise(
    rng: np.random.Generator, positions: np.ndarray, n_times: int, sfreq: float, n_sources: int = 10
) -> np.ndarray:
    """Return unit-SD sensor noise (n_times, n_sensors): half white, half slow smooth sources.

    The slow part is AR(1) time courses (about 10 Hz bandwidth) of ``n_sources`` fields, each
    a Gaussian bump around a random sensor.
    """
    white = rng.standard_normal((n_times, len(positions)))
    phi = np.exp(-2 * np.pi * 10.0 / sfreq)
    courses = signal.lfilter([1.0], [1.0, -phi], rng.standard_normal((n_times, n_sources)), axis=0)
    centers = positions[rng.choice(len(positions), n_sources, replace=False)]
    fields = np.stack(
        [sensor_pattern(positions, [(tuple(c), 1.0)], width=0.04) for c in centers], axis=0
    )
    brain = courses @ fields
    brain /= brain.std()
    return np.sqrt(0.5) * white + np.sqrt(0.5) * brain


_DESCRIPTION = "Simulated story MEG with planted temporal response functions."
_README = """Simulated story MEG (neuroalign).

One recording per subject of neuroalign's bundled story, spoken at a simulated speech rate.
The 102 magnetometers of the Neuromag Vectorview layout shipped with MNE carry planted
temporal response functions to word onsets and word surprisal plus white and smooth slow
noise. Words are in events.tsv (column `word`) and in the FIF annotations. The planted
truth is in derivatives/neuroalign-truth/. These are not real brain data.
"""
