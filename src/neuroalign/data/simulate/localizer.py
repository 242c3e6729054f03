"""Language localizer fMRI: sentences vs non-word lists in blocks (BIDS, ``sim_localizer``).

Generative model, per subject and voxel (percent signal change)::

    y_v(t) = b_S[v] * [HRF * S](t) + b_N[v] * [HRF * N](t) + e_v(t),   e_v ~ AR(1)

``S`` and ``N`` are the sentence and non-word block boxcars. Language voxels (the same mask as
``sim_fmri``) have ``b_N = nonword_ratio * b_S``; visual voxels respond equally to both; the
rest only carry noise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._io import atomic_path, provenance
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.fmri import ar1_noise
from neuroalign.data.simulate.grid import (
    LANGUAGE_ROIS,
    VISUAL_ROIS,
    brain_grid,
    roi_membership,
    to_volume,
    voxel_coordinates,
    voxel_dim_coords,
)
from neuroalign.data.simulate.hrf import convolve_events
from neuroalign.data.simulate.settings import SimLocalizerSettings
from neuroalign.data.simulate.story import load_story, tokenize

logger = logging.getLogger(__name__)

DATASET_ID = "sim_localizer"
TASK = "langloc"
CONDITIONS = ("sentence", "nonword")
_ONSETS = ("b", "br", "d", "dr", "f", "fl", "g", "gr", "k", "l", "m", "n", "p", "pl", "r", "s")
_ONSETS += ("st", "t", "tr", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ee", "oo", "ou")
_CODAS = ("", "", "", "n", "m", "t", "s", "k", "p", "nd", "st", "l")


def nonword(rng: np.random.Generator) -> str:
    """Return a pronounceable non-word of one to three syllables."""
    syllables = rng.integers(1, 4)
    return "".join(
        _ONSETS[rng.integers(len(_ONSETS))]
        + _VOWELS[rng.integers(len(_VOWELS))]
        + _CODAS[rng.integers(len(_CODAS))]
        for _ in range(syllables)
    )


def localizer_sentences(min_words: int = 6, max_words: int = 16) -> list[str]:
    """Return the story's sentences of ``min_words`` to ``max_words`` words, in story order."""
    out = []
    for chapter in load_story().values():
        words = tokenize(chapter)
        for _, group in words.groupby("sentence", sort=True):
            if min_words <= len(group) <= max_words:
                out.append(" ".join(group["word"]))
    return out


def block_events(
    rng: np.random.Generator, sentences: list[str], cfg: SimLocalizerSettings
) -> pd.DataFrame:
    """Return one run's events: items of sentence / non-word blocks, with fixation periods.

    Blocks come in groups of four (two of each condition, shuffled) followed by fixation.

    Returns
    -------
    events : DataFrame
        Columns ``onset``, ``duration``, ``trial_type`` (sentence, nonword or fixation),
        ``stimulus`` (the sentence, the non-word list, or ``+``) and ``block``.
    """
    n = cfg.blocks_per_condition
    order = []
    while len(order) < 2 * n:
        group = ["sentence", "sentence", "nonword", "nonword"]
        rng.shuffle(group)
        order.extend(group)
    counts = {c: 0 for c in CONDITIONS}
    kept = []
    for c in order:
        if counts[c] < n:
            kept.append(c)
            counts[c] += 1
    item, fix = float(cfg.item_duration), float(cfg.fixation_duration)
    needed = n * cfg.items_per_block
    picks = iter(rng.choice(len(sentences), size=needed, replace=needed > len(sentences)))
    rows = [(0.0, fix, "fixation", "+", -1)] if fix > 0 else []
    t = fix
    for b, condition in enumerate(kept):
        for _ in range(cfg.items_per_block):
            if condition == "sentence":
                text = sentences[next(picks)]
            else:
                text = " ".join(nonword(rng) for _ in range(rng.integers(8, 15)))
            rows.append((t, item, condition, text, b))
            t += item
        if fix > 0 and ((b + 1) % 4 == 0 or b == len(kept) - 1):
            rows.append((t, fix, "fixation", "+", -1))
            t += fix
    return pd.DataFrame(rows, columns=["onset", "duration", "trial_type", "stimulus", "block"])


def simulate_localizer(output: str | Path, settings: SimLocalizerSettings | None = None) -> Path:
    """Simulate the language localizer session and write it (BIDS) to ``output``.

    Parameters
    ----------
    output : str or Path
        The dataset directory, written atomically (replaced if it exists).
    settings : SimLocalizerSettings, optional
        The config's ``simulate.localizer`` section (default: the schema's defaults). Its ``seed``
        (None: 0) and the other settings fix the data bitwise.

    Returns
    -------
    output : Path
    """
    cfg = settings or SimLocalizerSettings()
    seed = cfg.seed or 0
    output = Path(output)
    tr = float(cfg.tr)
    sentences = localizer_sentences()
    mask, affine = brain_grid(cfg.voxel_size)
    ijk, xyz = voxel_coordinates(mask, affine)
    language_roi, language_gain = roi_membership(xyz, LANGUAGE_ROIS, cfg.roi_radius)
    visual_roi, _ = roi_membership(xyz, VISUAL_ROIS, cfg.roi_radius)
    language, visual = language_roi >= 0, (visual_roi >= 0) & (language_roi < 0)
    subjects = bids.subject_labels(cfg.n_subjects)
    runs = [
        block_events(np.random.default_rng([seed, 0, r]), sentences, cfg) for r in range(cfg.n_runs)
    ]
    logger.info("simulating %s: %d subjects x %d runs", DATASET_ID, len(subjects), len(runs))
    planted = []
    with atomic_path(output) as tmp:
        tmp.mkdir()
        for k, subject in enumerate(subjects):
            rng = np.random.default_rng([seed, 1, k])
            n_vox = len(xyz)
            beta_s = np.where(language, cfg.sentence_effect * language_gain, 0.0)
            beta_s *= rng.uniform(0.6, 1.4, n_vox)
            beta_n = cfg.nonword_ratio * beta_s
            vis = np.where(visual, cfg.visual_effect * rng.uniform(0.6, 1.4, n_vox), 0.0)
            beta_s, beta_n = beta_s + vis, beta_n + vis
            noise_sd = cfg.noise_sd * rng.uniform(0.8, 1.2, n_vox)
            baseline = rng.uniform(600.0, 1200.0, n_vox)
            planted.append((beta_s, beta_n, noise_sd, baseline))
            for r, events in enumerate(runs):
                end = float((events["onset"] + events["duration"]).max())
                n_scans = int(np.ceil(end / tr))
                blocks = events[events["trial_type"] != "fixation"]
                values = np.stack(
                    [(blocks["trial_type"] == c).to_numpy(float) for c in CONDITIONS], 1
                )
                x = convolve_events(
                    blocks["onset"].to_numpy(),
                    values,
                    n_scans,
                    tr,
                    durations=blocks["duration"].to_numpy(),
                )
                noise = ar1_noise(
                    np.random.default_rng([seed, 2, k, r]), n_scans, noise_sd, cfg.noise_ar
                )
                y = x @ np.stack([beta_s, beta_n]) + noise
                bold = baseline * (1 + y / 100)
                stem = bids.func_stem(tmp, subject, TASK, r + 1)
                bids.write_bold(
                    stem,
                    to_volume(bold.T.astype(np.float32), mask),
                    affine,
                    tr=tr,
                    task=TASK,
                    description="Reading sentences and lists of non-words in blocks (simulated).",
                )
                bids.write_tsv(stem.with_name(stem.name + "_events.tsv"), events)
        bids.write_dataset_description(
            tmp, "neuroalign simulated language localizer", description=_DESCRIPTION
        )
        bids.write_participants(tmp, subjects)
        (tmp / "README").write_text(_README)
        truth = xr.Dataset(
            {
                "beta_sentence": (("subject", "voxel"), np.stack([p[0] for p in planted])),
                "beta_nonword": (("subject", "voxel"), np.stack([p[1] for p in planted])),
                "contrast": (("subject", "voxel"), np.stack([p[0] - p[1] for p in planted])),
                "noise_sd": (("subject", "voxel"), np.stack([p[2] for p in planted])),
                "baseline": (("subject", "voxel"), np.stack([p[3] for p in planted])),
                "language_mask": ("voxel", language.astype(np.int8)),
                "visual_mask": ("voxel", visual.astype(np.int8)),
            },
            coords={
                "subject": subjects,
                **voxel_dim_coords(ijk, xyz),
            },
        )
        truth["contrast"].attrs["description"] = "sentence minus non-word response (percent)"
        truth.attrs.update(
            provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
        )
        truth.attrs["tr"] = tr
        truth.attrs["affine"] = affine.tolist()
        truth.attrs["grid_shape"] = list(mask.shape)
        images = {
            "brain_mask": nib.Nifti1Image(mask.astype(np.uint8), affine),
            "language_mask": nib.Nifti1Image(to_volume(language.astype(np.uint8), mask), affine),
            "visual_mask": nib.Nifti1Image(to_volume(visual.astype(np.uint8), mask), affine),
        }
        summary = {
            "dataset": DATASET_ID,
            "seed": seed,
            "settings": cfg.to_dict(),
            "subjects": subjects,
            "task": TASK,
            "n_voxels": len(xyz),
            "n_language_voxels": int(language.sum()),
            "n_visual_voxels": int(visual.sum()),
            "planted": "beta_sentence, beta_nonword, contrast (subject, voxel) in percent signal "
            "change; language_mask and visual_mask",
        }
        bids.write_truth(tmp, truth, summary, images)
    return output


_DESCRIPTION = "Simulated language localizer (sentences vs non-words) with a planted mask."
_README = """Simulated language localizer (neuroalign).

Blocks of sentences (taken from neuroalign's bundled story) and lists of pronounceable
non-words, separated by fixation. Language voxels respond more to sentences than to
non-words; visual voxels respond equally to both; all voxels carry AR(1) noise. The planted
truth is in derivatives/neuroalign-truth/. These are not real brain data.
"""
