"""Story-listening fMRI with planted language voxels (BIDS, ``sim_fmri``).

Generative model, per subject and voxel ``v`` (percent signal change)::

    y_v(t) = sum_f [HRF * x_f](t) W[f, v] + e_v(t),     e_v ~ AR(1), sd noise_sd_v

where ``x_f`` are sticks at word onsets weighted by the z-scored word features, ``W`` is zero
outside the language mask, and each language voxel's signal SD over the training runs equals
``signal_sd`` times its region gain times a random factor. BOLD = baseline * (1 + y / 100).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from neuroalign._io import atomic_path, provenance
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.features import FeatureTable, story_features
from neuroalign.data.simulate.grid import (
    LANGUAGE_ROIS,
    brain_grid,
    roi_membership,
    to_volume,
    voxel_coordinates,
    voxel_dim_coords,
)
from neuroalign.data.simulate.hrf import convolve_events, spm_hrf
from neuroalign.data.simulate.settings import SimFmriSettings
from neuroalign.data.simulate.story import chapter_words, word_timings

logger = logging.getLogger(__name__)

DATASET_ID = "sim_fmri"
HRF_TAIL = 16.0  # seconds of scanning after the lead-out, so the last responses are sampled


def ar1_noise(rng: np.random.Generator, n_times: int, sd: np.ndarray, phi: float) -> np.ndarray:
    """Return stationary AR(1) noise of shape ``(n_times, n_series)`` with marginal SD ``sd``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_times : int
    sd : ndarray, shape (n_series,)
        Marginal standard deviation of each series.
    phi : float
        Lag-1 autocorrelation, in [0, 1).

    Returns
    -------
    noise : ndarray, shape (n_times, n_series)
    """
    sd = np.asarray(sd, float)
    innovations = rng.standard_normal((n_times, sd.size))
    innovations[1:] *= np.sqrt(1 - phi**2)
    return signal.lfilter([1.0], [1.0, -phi], innovations, axis=0) * sd


def timed_words(
    stories: list[str], settings: SimFmriSettings, seed: int
) -> dict[str, pd.DataFrame]:
    """Return each story's words with onsets (s from run start) and durations.

    One speech recording per story (the same for every subject and repeat), starting
    ``lead_in`` seconds into the run.
    """
    words = chapter_words()
    out = {}
    for i, name in enumerate(stories):
        rng = np.random.default_rng([seed, 0, i])
        out[name] = word_timings(
            words[name], rng, rate=settings.speech_rate, start=settings.lead_in
        )
    return out


def word_design(
    stories: list[str], dim: int, table: FeatureTable | None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Return z-scored word features per story and the feature names.

    Features are z-scored over all words of ``stories`` together.
    """
    features = story_features(chapter_words(), dim=dim, table=table)
    names = list(features[stories[0]].columns)
    stacked = np.concatenate([features[s].to_numpy(float) for s in stories])
    mean, sd = stacked.mean(axis=0), stacked.std(axis=0)
    sd[sd == 0] = 1.0
    return {s: (features[s].to_numpy(float) - mean) / sd for s in stories}, names


def n_scans_for(words: pd.DataFrame, tr: float, lead_in: float) -> int:
    """Return the number of scans of a run that plays ``words`` (lead-out and HRF tail included)."""
    end = float((words["onset"] + words["duration"]).max()) + lead_in + HRF_TAIL
    return int(np.ceil(end / tr))


def events_table(words: pd.DataFrame) -> pd.DataFrame:
    """Return a BIDS events table (one ``word`` row per word) for a timed story."""
    return pd.DataFrame(
        {
            "onset": words["onset"].round(4),
            "duration": words["duration"].round(4),
            "trial_type": "word",
            "word": words["word"],
            "sentence": words["sentence"],
            "word_index": words["word_index"],
        }
    )


def simulate_fmri(
    output: str | Path,
    settings: SimFmriSettings | None = None,
    *,
    features: FeatureTable | None = None,
) -> Path:
    """Simulate the story-listening fMRI dataset and write it (BIDS) to ``output``.

    Parameters
    ----------
    output : str or Path
        The dataset directory, written atomically (replaced if it exists).
    settings : SimFmriSettings, optional
        The config's ``simulate.fmri`` section (default: the schema's defaults). Its ``seed``
        (None: 0) and the other settings fix the data bitwise.
    features : FeatureTable, optional
        External word features (a model's activations) to drive the voxels instead of the
        hashed embedding.

    Returns
    -------
    output : Path
    """
    cfg = settings or SimFmriSettings()
    seed = cfg.seed or 0
    output = Path(output)
    train, test = list(cfg.train_stories), cfg.test_story
    stories = [*train, test]
    tr, lead_in = float(cfg.tr), float(cfg.lead_in)
    words = timed_words(stories, cfg, seed)
    design, feature_names = word_design(stories, cfg.feature_dim, features)
    n_scans = {s: n_scans_for(words[s], tr, lead_in) for s in stories}
    regressors = {
        s: convolve_events(words[s]["onset"].to_numpy(), design[s], n_scans[s], tr) for s in stories
    }
    mask, affine = brain_grid(cfg.voxel_size)
    ijk, xyz = voxel_coordinates(mask, affine)
    roi, gain = roi_membership(xyz, LANGUAGE_ROIS, cfg.roi_radius)
    language = roi >= 0
    subjects = bids.subject_labels(cfg.n_subjects)
    runs = [(s, 1) for s in train] + [(test, r + 1) for r in range(cfg.test_repeats)]
    logger.info(
        "simulating %s: %d subjects x %d runs, %d voxels (%d language)",
        DATASET_ID, len(subjects), len(runs), len(xyz), language.sum(),
    )  # fmt: skip

    per_subject = []
    with atomic_path(output) as tmp:
        tmp.mkdir()
        for k, subject in enumerate(subjects):
            rng = np.random.default_rng([seed, 1, k])
            planted = _plant_subject(rng, regressors, train, test, gain, cfg)
            per_subject.append(planted)
            for run_index, (story, run) in enumerate(runs):
                noise_rng = np.random.default_rng([seed, 2, k, run_index])
                y = regressors[story] @ planted["weights"] + ar1_noise(
                    noise_rng, n_scans[story], planted["noise_sd"], cfg.noise_ar
                )
                bold = planted["baseline"] * (1 + y / 100)
                stem = bids.func_stem(tmp, subject, story, run)
                volume = to_volume(bold.T.astype(np.float32), mask)
                bids.write_bold(
                    stem, volume, affine, tr=tr, task=story, description=_TASK_DESCRIPTION
                )
                bids.write_tsv(
                    stem.with_name(stem.name + "_events.tsv"), events_table(words[story])
                )
        bids.write_dataset_description(
            tmp, "neuroalign simulated story-listening fMRI", description=_DESCRIPTION
        )
        bids.write_participants(tmp, subjects)
        (tmp / "README").write_text(_README)
        truth = _truth(
            per_subject, subjects, feature_names, design, words, stories, ijk, xyz, roi, cfg
        )
        truth.attrs.update(
            provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
        )
        truth.attrs["affine"] = affine.tolist()
        truth.attrs["grid_shape"] = list(mask.shape)
        if features is not None:
            truth.attrs["features_source"] = features.source
        images = {
            "brain_mask": nib.Nifti1Image(mask.astype(np.uint8), affine),
            "language_mask": nib.Nifti1Image(to_volume(language.astype(np.uint8), mask), affine),
        }
        summary = {
            "dataset": DATASET_ID,
            "seed": seed,
            "settings": cfg.to_dict(),
            "subjects": subjects,
            "runs": [f"task-{s}_run-{r:02d}" for s, r in runs],
            "n_voxels": len(xyz),
            "n_language_voxels": int(language.sum()),
            "features": feature_names,
            "features_source": features.source if features is not None else "hashed",
            "planted": "weights (subject, feature, voxel) in percent signal change per z-scored "
            "feature, language_mask, noise_sd, explainable_variance, ideal_test_r",
        }
        bids.write_truth(tmp, truth, summary, images)
    return output


def _plant_subject(
    rng: np.random.Generator,
    regressors: Mapping[str, np.ndarray],
    train: list[str],
    test: str,
    gain: np.ndarray,
    cfg: SimFmriSettings,
) -> dict[str, np.ndarray]:
    n_features = regressors[test].shape[1]
    n_voxels = gain.size
    language = gain > 0
    weights = np.zeros((n_features, n_voxels))
    weights[:, language] = rng.standard_normal((n_features, language.sum()))
    train_x = np.concatenate([regressors[s] for s in train])
    target_sd = cfg.signal_sd * gain * rng.uniform(0.6, 1.4, n_voxels)
    current_sd = (train_x @ weights).std(axis=0)
    scale = np.divide(target_sd, current_sd, out=np.zeros(n_voxels), where=current_sd > 0)
    weights *= scale
    noise_sd = cfg.noise_sd * rng.uniform(0.8, 1.2, n_voxels)
    baseline = rng.uniform(600.0, 1200.0, n_voxels)
    test_var = (regressors[test] @ weights).var(axis=0)
    repeats = cfg.test_repeats
    return {
        "weights": weights,
        "noise_sd": noise_sd,
        "baseline": baseline,
        "signal_sd": np.sqrt(test_var),
        "explainable_variance": test_var / (test_var + noise_sd**2),
        "ideal_test_r": np.sqrt(test_var / (test_var + noise_sd**2 / repeats)),
    }


def _truth(
    per_subject: list[dict[str, np.ndarray]],
    subjects: list[str],
    feature_names: list[str],
    design: Mapping[str, np.ndarray],
    words: Mapping[str, pd.DataFrame],
    stories: list[str],
    ijk: np.ndarray,
    xyz: np.ndarray,
    roi: np.ndarray,
    cfg: SimFmriSettings,
) -> xr.Dataset:
    def stack(key: str) -> np.ndarray:
        return np.stack([p[key] for p in per_subject])

    voxel_dims = ("subject", "voxel")
    token_story = np.concatenate([[s] * len(words[s]) for s in stories])
    ds = xr.Dataset(
        {
            "weights": (("subject", "feature", "voxel"), stack("weights")),
            "noise_sd": (voxel_dims, stack("noise_sd")),
            "signal_sd": (voxel_dims, stack("signal_sd")),
            "baseline": (voxel_dims, stack("baseline")),
            "explainable_variance": (voxel_dims, stack("explainable_variance")),
            "ideal_test_r": (voxel_dims, stack("ideal_test_r")),
            "language_mask": ("voxel", (roi >= 0).astype(np.int8)),
            "roi": ("voxel", roi.astype(np.int8)),
            "word_features": (("token", "feature"), np.concatenate([design[s] for s in stories])),
            "hrf": ("hrf_time", spm_hrf(0.1)),
        },
        coords={
            "subject": subjects,
            "feature": feature_names,
            **voxel_dim_coords(ijk, xyz),
            "story": ("token", token_story),
            "word_index": ("token", np.concatenate([words[s]["word_index"] for s in stories])),
            "text": ("token", np.concatenate([words[s]["text"] for s in stories])),
            "hrf_time": np.arange(len(spm_hrf(0.1))) * 0.1,
        },
    )
    ds["roi"].attrs["names"] = list(LANGUAGE_ROIS)
    ds["roi"].attrs["description"] = "index into the names attribute; -1 outside the language mask"
    ds["weights"].attrs["units"] = "percent signal change per unit of z-scored feature"
    ds["word_features"].attrs["description"] = "z-scored features of each story word"
    ds.attrs["tr"] = float(cfg.tr)
    ds.attrs["noise_ar"] = float(cfg.noise_ar)
    ds.attrs["train_stories"] = list(cfg.train_stories)
    ds.attrs["test_story"] = cfg.test_story
    return ds


_DESCRIPTION = "Simulated story-listening fMRI with planted language voxels."
_TASK_DESCRIPTION = "Listening to a spoken story chapter (simulated)."
_README = """Simulated story-listening fMRI (neuroalign).

Every run is one chapter of neuroalign's bundled story; the test chapter is heard several
times (runs of its task). BOLD is simulated on a coarse MNI grid: voxels in a planted
left-lateralized language network respond, through the canonical HRF, to a hidden linear map
of word features; all voxels carry AR(1) noise. The planted truth is in
derivatives/neuroalign-truth/ (truth.nc, truth.json, masks). These are not real brain data.
"""
