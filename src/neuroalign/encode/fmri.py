"""Story fMRI: voxel-wise encoding models from a model's activations to BIDS BOLD runs.

Runs are found through mne-bids and masked through nilearn's `NiftiMasker` (the planted brain
mask of a simulated dataset, else an EPI mask of the first run). Training runs are z-scored per
run and trimmed, the FIR design of each layer is built from the words of each run, and
`neuroalign.encoding.pipeline.layer_sweep` fits every layer, cross-validated by run, and tests
on the held-out task's repeats (noise ceiling, circular-shift null, BH q).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr
from nilearn.maskers import NiftiMasker

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.encode.activations import align_items, read_activations
from neuroalign.encode.bids import Recording, bold_runs, read_events
from neuroalign.encode.output import ALPHA_CONVENTION, fit_device, run_config, score_variables
from neuroalign.encode.planted import TRUTH, fmri_recovery, read_truth
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encode.unit_sets import alignment_summary, read_unit_sets, select_units
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.delays import trim_mask, zscore_runs
from neuroalign.encoding.designs import fmri_design
from neuroalign.encoding.pipeline import CEILING_CONVENTION, layer_sweep
from neuroalign.results import write_netcdf

__all__ = ["MAPS", "encode_fmri", "maps_folder"]

logger = logging.getLogger(__name__)

#: The voxel-wise variables written as NIfTI maps.
MAPS = ("r", "r2", "q", "normalized", "explainable_variance")


@dataclass
class _Run:
    """A run's recording, its masked BOLD (scan, voxel) and its word events."""

    recording: Recording
    Y: np.ndarray
    words: pd.DataFrame


def maps_folder(output: str | Path) -> Path:
    """Where `encode_fmri` writes the NIfTI maps of ``output`` unless told: ``<stem>_maps/``."""
    output = Path(output)
    return output.with_name(output.stem + "_maps")


def _masker(dataset: Path, first_bold: Path) -> NiftiMasker:
    """A fitted masker: the planted brain mask when the dataset has one, else an EPI mask."""
    path = dataset / TRUTH / "brain_mask.nii.gz"
    if path.is_file():
        masker = NiftiMasker(mask_img=nib.load(path), standardize=None, reports=False)
        return masker.fit()
    masker = NiftiMasker(mask_strategy="epi", standardize=None, reports=False)
    return masker.fit(str(first_bold))


def _read_runs(runs: list[Recording], masker: NiftiMasker) -> tuple[list[_Run], float]:
    """Every run's masked BOLD and words, and the repetition time they share."""
    out, tr = [], None
    for run in runs:
        img = nib.load(run.data)
        run_tr = float(img.header.get_zooms()[3])
        if tr is not None and abs(run_tr - tr) > 1e-6:
            raise NeuroalignError(f"{run.data}: TR {run_tr} differs from {tr} of other runs.")
        tr = run_tr
        Y = np.asarray(masker.transform(img), dtype=np.float32)
        out.append(_Run(run, Y, read_events(run.events)))
    return out, tr


def _design(da: xr.DataArray, group: list[_Run], tr: float, delays, mode: str) -> np.ndarray:
    """The FIR design of ``da``'s features for the runs of ``group``, stacked in run order."""
    feats, onsets, word_runs, n_scans = [], [], [], {}
    for i, run in enumerate(group):
        words = run.words
        text = words["word"].astype(str).tolist() if "word" in words else []
        idx = align_items(da, text, run.recording.task, str(run.recording.events))
        feats.append(da.values[idx])
        onsets.append(words["onset"].to_numpy(float))
        word_runs.append(np.full(len(idx), i))
        n_scans[i] = run.Y.shape[0]
    X, _ = fmri_design(
        np.concatenate(feats),
        np.concatenate(onsets),
        np.concatenate(word_runs),
        n_scans,
        tr=tr,
        delays=list(delays),
        mode=mode,
    )
    return X


def encode_fmri(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    dataset: str | Path,
    subject: str,
    output: str | Path,
    maps: str | Path | None = None,
    unit_sets: str | Path | None = None,
) -> Path:
    """Fit and test voxel-wise encoding models of one subject; write a netCDF and NIfTI maps.

    Parameters
    ----------
    settings : EncodeSettings
        An ``fmri`` entry (`EncodeSettings.from_config`); its options are `FmriOptions`.
    activations : str or Path
        The activation store of the dataset's stories (items matched to each run's words).
    dataset : str or Path
        The BIDS dataset folder (``sub-<subject>/func/*_bold.nii.gz`` with ``*_events.tsv``).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The netCDF file to write (voxel-wise r, R^2, alpha, p, q, ceiling, layer sweep).
    maps : str or Path, optional
        Folder of NIfTI maps (`MAPS`); default `maps_folder` of ``output``.
    unit_sets : str or Path, optional
        A `neuroalign localize` result: also fit its localized units and each of its random
        sets (brain alignment of the localized units).

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        If the settings are of another kind, or the inputs do not fit together (one line each).

    Examples
    --------
    >>> settings = EncodeSettings.from_config(
    ...     {"kind": "fmri", "dataset": "sim_fmri", "stimset": "sim_story", "models": ["minilm"]}
    ... )
    >>> encode_fmri(settings, activations="results/activations/minilm/sim_story.zarr",
    ...             dataset="data/raw/sim_fmri", subject="01",
    ...             output="results/encoding/sim_fmri_story/minilm/sub-01.nc")  # doctest: +SKIP
    """
    settings.check_kind("fmri")
    opts = settings.options
    dataset, output = Path(dataset), Path(output)
    device = fit_device(settings)
    alphas = settings.grid
    layers = read_activations(activations, settings.variable, settings.layers)
    recordings = bold_runs(dataset, subject)
    masker = _masker(dataset, recordings[0].data)
    tasks = [r.task for r in recordings]
    test_task = opts.test_task or next((t for t in tasks if tasks.count(t) > 1), None)
    if test_task is None or test_task not in tasks:
        raise NeuroalignError(
            f"{dataset}: no test task (tasks {sorted(set(tasks))}); set options.test_task."
        )
    runs, tr = _read_runs(recordings, masker)
    train = [r for r in runs if r.recording.task != test_task]
    test = [r for r in runs if r.recording.task == test_task]
    if len({r.Y.shape[0] for r in test}) != 1:
        raise NeuroalignError(f"{dataset}: repeats of {test_task!r} differ in length.")
    labels = np.concatenate([np.full(r.Y.shape[0], i) for i, r in enumerate(train)])
    keep = trim_mask(labels, opts.trim, opts.trim)
    Y_train = zscore_runs(np.concatenate([r.Y for r in train]), labels)[keep]
    test_labels = np.zeros(test[0].Y.shape[0], int)
    keep_test = trim_mask(test_labels, opts.trim, opts.trim)
    Y_test = np.stack([zscore_runs(r.Y, test_labels)[keep_test] for r in test])

    def designs_of(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
        train_X = _design(da, train, tr, opts.delays, opts.resample)[keep]
        return train_X, _design(da, test[:1], tr, opts.delays, opts.resample)[keep_test]

    designs = {k: designs_of(da) for k, da in layers.items()}
    folds = group_folds(labels[keep], n_folds=min(settings.folds, len(train)))
    logger.info(
        "fMRI: %d train TRs, %d test TRs x %d repeats, %d voxels, %d layers",
        Y_train.shape[0],
        Y_test.shape[1],
        Y_test.shape[0],
        Y_train.shape[1],
        len(designs),
    )
    fit_options: dict[str, Any] = dict(
        alphas=alphas,
        seed=settings.random_seed,
        device=device,
        dtype=settings.dtype,
        tf32_scoring=opts.tf32_scoring,
    )
    sweep = layer_sweep(
        designs,
        Y_train,
        folds,
        Y_test,
        n_perm=opts.n_perm,
        min_shift=max(opts.delays) + 5,
        **fit_options,
    )
    res = sweep.result
    ijk = np.argwhere(np.asarray(masker.mask_img_.dataobj) > 0)
    ds = xr.Dataset(
        {
            **score_variables(res, "voxel"),
            "explainable_variance": ("voxel", res.explainable_variance),
            "ceiling": ("voxel", res.ceiling),
            "normalized": ("voxel", res.normalized),
            "best_layer": ("voxel", np.asarray([str(k) for k in sweep.layers])[sweep.best_layer]),
            "r_by_layer": (("layer", "voxel"), sweep.r_by_layer),
            "cv_by_layer": (("layer", "voxel"), sweep.cv_by_layer),
        },
        coords={
            "voxel": np.arange(ijk.shape[0]),
            "layer": [str(k) for k in sweep.layers],
            "voxel_i": ("voxel", ijk[:, 0]),
            "voxel_j": ("voxel", ijk[:, 1]),
            "voxel_k": ("voxel", ijk[:, 2]),
        },
    )
    truth = read_truth(dataset)
    summary = fmri_recovery(truth, subject, res.r, res.q) if truth is not None else {}
    if truth is not None:
        ds["planted_language"] = ("voxel", truth["language_mask"].values.astype(np.int8))
    if unit_sets is not None:
        sets = read_unit_sets(unit_sets, layers)
        set_designs = {name: designs_of(select_units(layers, m)) for name, m in sets.items()}
        logger.info("brain alignment: %d unit sets", len(sets))
        set_sweep = layer_sweep(set_designs, Y_train, folds, Y_test, n_perm=0, **fit_options)
        responsive = res.q < 0.05 if np.any(res.q < 0.05) else np.ones_like(res.q, bool)
        ds["unit_set_r"] = (("unit_set", "voxel"), set_sweep.r_by_layer)
        ds["unit_set_mean_r"] = ("unit_set", set_sweep.r_by_layer[:, responsive].mean(axis=1))
        ds = ds.assign_coords(unit_set=list(sets))
        ds["responsive_voxel"] = ("voxel", responsive.astype(np.int8))
        summary.update(alignment_summary(ds["unit_set_mean_r"]))
    selected = str(sweep.layers[sweep.selected])
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(settings, subject=subject, test_task=test_task),
            seed=settings.random_seed,
            inputs={"activations": activations, "mask": dataset / TRUTH / "brain_mask.nii.gz"},
            dataset=str(dataset.name),
            selected_layer=selected,
            ceiling_convention=CEILING_CONVENTION,
            alpha_convention=ALPHA_CONVENTION,
            score="Pearson r and R^2 against the mean of the test repeats",
            null="circular shift of the prediction; p from a normal fitted to each null",
            n_repeats=int(Y_test.shape[0]),
            n_lower_edge=res.n_lower_edge,
            n_upper_edge=res.n_upper_edge,
            summary=summary,
        )
    )
    write_netcdf(ds, output)
    with atomic_path(maps or maps_folder(output)) as tmp:
        tmp.mkdir()
        for name in MAPS:
            values = np.nan_to_num(ds[name].values.astype(np.float32))
            nib.save(masker.inverse_transform(values), tmp / f"{name}.nii.gz")
    logger.info("wrote %s (selected layer %s)", output, selected)
    return output
