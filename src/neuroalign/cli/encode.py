"""``neuroalign encode``: fit encoding models from activations to fMRI, MEG or reading measures.

This module does the file work (activation stores, BIDS runs, FIF, eye-tracking reports, netCDF,
NIfTI and Evoked outputs); every computation is a call into :mod:`neuroalign.encoding`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, check_file
from neuroalign._io import atomic_path, provenance

logger = logging.getLogger(__name__)

TRUTH = Path("derivatives") / "neuroalign-truth"
READING_MEASURES = {
    "first_fixation": "IA_FIRST_FIXATION_DURATION",
    "gaze_duration": "IA_FIRST_RUN_DWELL_TIME",
    "total_time": "IA_DWELL_TIME",
    "skipping": "IA_SKIP",
}
READING_BASELINE = ("word_length_no_punctuation", "wordfreq_frequency", "IA_ID")


# --------------------------------------------------------------------------- parser
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neuroalign encode`` and its ``fmri``, ``meg`` and ``eyetracking`` commands."""
    parser = subparsers.add_parser(
        "encode",
        help="fit encoding models (ridge, per-target alpha) from activations to brain data",
        description="Fit cross-validated ridge encoding models from a model's activations "
        "(an activation store, or any netCDF/Zarr with dims (item, unit) and item coordinates "
        "text/story/position) to brain or behavioural data, score them on held-out data, and "
        "write a netCDF of target-wise results with provenance (plus NIfTI maps for fMRI and an "
        "Evoked file for MEG).",
        epilog="Examples:\n"
        "  neuroalign encode fmri --activations results/activations/minilm/sim_story.zarr "
        "--dataset data/raw/sim_fmri --subject 01 --output results/encoding/sim_fmri/sub-01/"
        "minilm.nc\n"
        "  neuroalign encode meg --activations results/activations/minilm/sim_meg_story.zarr "
        "--dataset data/raw/sim_meg --subject 01 --output results/encoding/sim_meg/sub-01/"
        "minilm.nc\n"
        "  neuroalign encode eyetracking --activations results/activations/minilm/"
        "sim_reading.zarr --report data/raw/sim_eyetracking/ia_report.csv --output "
        "results/encoding/sim_eyetracking/minilm.nc",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    fmri = kinds.add_parser("fmri", help="story fMRI (BIDS): voxels as targets")
    _common(fmri)
    fmri.add_argument("--dataset", required=True, type=Path, help="BIDS dataset folder")
    fmri.add_argument("--subject", required=True, help="subject label without 'sub-'")
    fmri.add_argument(
        "--test-task",
        default=None,
        help="task held out for testing (default: the task with several runs, i.e. repeats)",
    )
    fmri.add_argument("--delays", default="1,2,3,4", help="FIR delays in TRs (default 1,2,3,4)")
    fmri.add_argument(
        "--resample",
        choices=["sum", "mean"],
        default="sum",
        help="word -> TR Lanczos resampling: 'sum' tracks word rate, 'mean' does not",
    )
    fmri.add_argument("--trim", type=int, default=2, help="TRs dropped at each run's start/end")
    fmri.add_argument("--n-perm", type=int, default=200, help="circular shifts in the null")
    fmri.add_argument("--maps", type=Path, default=None, help="folder for NIfTI maps")
    fmri.add_argument(
        "--unit-sets",
        type=Path,
        default=None,
        help="a `neuroalign localize` result: also fit the localized units and each of its "
        "equal-size random sets (brain alignment of the localized units)",
    )
    fmri.add_argument(
        "--tf32-scoring",
        type=_switch,
        default=False,
        help="true: score the alphas with TF32 tensor-core products on NVIDIA GPUs (about 2x "
        "faster fits; the alpha of nearly tied targets can change; weights stay in --dtype)",
    )
    fmri.set_defaults(func=run_fmri)
    meg = kinds.add_parser("meg", help="story MEG (BIDS FIF): sensors as targets, TRFs")
    _common(meg)
    meg.add_argument("--dataset", required=True, type=Path, help="BIDS dataset folder")
    meg.add_argument("--subject", required=True, help="subject label without 'sub-'")
    meg.add_argument("--task", default=None, help="task label (default: the only one)")
    meg.add_argument("--tmin", type=float, default=-0.1, help="first lag (s, default -0.1)")
    meg.add_argument("--tmax", type=float, default=0.6, help="last lag (s, default 0.6)")
    meg.add_argument("--sfreq", type=float, default=100.0, help="resample to this rate (Hz)")
    meg.add_argument(
        "--n-components",
        type=int,
        default=8,
        help="principal components of the features, added to a word-onset impulse",
    )
    meg.add_argument(
        "--test-blocks",
        type=int,
        default=1,
        help="last contiguous blocks (of --folds) held out for scores, p and q (default 1)",
    )
    meg.add_argument("--n-perm", type=int, default=200, help="circular shifts in the null")
    meg.add_argument("--evoked", type=Path, default=None, help="Evoked FIF of the TRF norms")
    meg.set_defaults(func=run_meg)
    eye = kinds.add_parser(
        "eyetracking", help="reading measures per word: gain over length/frequency/position"
    )
    _common(eye)
    eye.add_argument("--report", required=True, type=Path, help="interest-area report (CSV)")
    eye.set_defaults(func=run_eyetracking)
    from neuroalign.cli.encode_tables import add_parsers

    add_parsers(kinds)


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--activations", required=True, type=Path, help="activation store")
    sub.add_argument("--variable", default=None, help="unit space (default: the only one)")
    sub.add_argument(
        "--layers", default="all", help="'all' or comma-separated layer indices to sweep"
    )
    sub.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    sub.add_argument(
        "--alphas",
        default="-1:6:15",
        help="log10 grid start:stop:count; write --alphas=-2:4:9 when it starts negative",
    )
    sub.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    sub.add_argument("--device", default="auto", help="cpu, cuda or auto")
    sub.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    sub.add_argument("--seed", type=int, default=0, help="seed of nulls and searches")


def _switch(text: str) -> bool:
    """Parse an on/off option value (``true``/``false``, as the config's YAML booleans print)."""
    value = text.strip().lower()
    if value not in {"true", "false", "yes", "no", "on", "off", "1", "0"}:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in {"true", "yes", "on", "1"}


def _alphas(text: str) -> np.ndarray:
    try:
        start, stop, count = text.split(":")
        return np.logspace(float(start), float(stop), int(count))
    except ValueError:
        raise NeuroalignError(
            f"--alphas {text!r}: expected log10 start:stop:count, e.g. -1:6:15."
        ) from None


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise NeuroalignError(f"{what} {text!r}: expected comma-separated integers.") from None


# --------------------------------------------------------------------------- activations
def read_activations(path: Path, variable: str | None, layers: str) -> dict[Any, xr.DataArray]:
    """Return ``{layer: DataArray (item, unit)}`` from an activation store or (item, unit) file."""
    if not path.exists():
        raise NeuroalignError(f"activations not found: {path}. Run `neuroalign extract` first.")
    try:
        ds = xr.open_zarr(path, consolidated=False) if path.is_dir() else xr.open_dataset(path)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{path}: cannot be read as Zarr or netCDF ({err}).") from None
    if ds.attrs.get("complete", "true") != "true":
        raise NeuroalignError(f"{path}: the store is incomplete; rerun `neuroalign extract`.")
    # Zarr 3 reads text back as NumPy's variable-width StringDType; plain objects behave like
    # the stimulus table's strings everywhere downstream.
    ds = ds.assign_coords(
        {name: coord.astype(object) for name, coord in ds.coords.items() if coord.dtype.kind == "T"}
    )
    candidates = [v for v in ds.data_vars if "item" in ds[v].dims and ds[v].ndim >= 2]
    if variable is None:
        if len(candidates) != 1:
            raise NeuroalignError(
                f"{path}: pick a unit space with --variable (one of {candidates})."
            )
        variable = candidates[0]
    if variable not in candidates:
        raise NeuroalignError(f"{path}: no unit space {variable!r}; it has {candidates}.")
    da = ds[variable]
    if "layer" not in da.dims:
        return {"all": da.load()}
    wanted = list(da["layer"].values) if layers == "all" else _ints(layers, "--layers")
    missing = [w for w in wanted if w not in set(da["layer"].values.tolist())]
    if missing:
        raise NeuroalignError(f"{path}: layers {missing} are not in the store.")
    return {int(k): da.sel(layer=k).load() for k in wanted}


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", str(word)).lower()


def align_items(da: xr.DataArray, words: list[str], story: str | None, where: str) -> np.ndarray:
    """Return the row indices of ``da``'s items for ``words`` (same order, same text)."""
    index = np.arange(da.sizes["item"])
    if story is not None and "story" in da.coords:
        stories = da["story"].values.astype(str)
        if story in set(stories):
            index = index[stories == story]
    if index.size != len(words):
        raise NeuroalignError(
            f"{where}: {len(words)} words but the activations have {index.size} items for "
            f"story {story!r}. Extract activations for this dataset's stimulus table."
        )
    if "text" in da.coords:
        text = da["text"].values.astype(str)[index]
        bad = [k for k, (a, b) in enumerate(zip(text, words, strict=True)) if _norm(a) != _norm(b)]
        if bad:
            k = bad[0]
            raise NeuroalignError(
                f"{where}: word {k} is {words[k]!r} but activation item is {text[k]!r} "
                f"({len(bad)} mismatches). Use the stimulus table made from this dataset."
            )
    return index


# --------------------------------------------------------------------------- fMRI
def _bold_runs(dataset: Path, subject: str) -> list[dict[str, Any]]:
    func = dataset / f"sub-{subject}" / "func"
    runs = []
    for bold in sorted(func.glob(f"sub-{subject}_*_bold.nii.gz")):
        stem = bold.name.removesuffix("_bold.nii.gz")
        task = re.search(r"_task-([^_]+)", stem)
        events = bold.with_name(stem + "_events.tsv")
        if task is None or not events.is_file():
            raise NeuroalignError(f"{bold}: needs a task-<label> entity and {events.name}.")
        runs.append({"task": task.group(1), "key": stem, "bold": bold, "events": events})
    if not runs:
        raise NeuroalignError(f"{func}: no *_bold.nii.gz for subject {subject!r}.")
    return runs


def _mask(dataset: Path, first_bold: Path):
    import nibabel as nib

    path = dataset / TRUTH / "brain_mask.nii.gz"
    if path.is_file():
        return nib.load(path)
    from nilearn.masking import compute_epi_mask

    return compute_epi_mask(str(first_bold))


def run_fmri(args: argparse.Namespace) -> None:
    """Fit and test fMRI encoding models for one subject and write the results."""
    import nibabel as nib

    from neuroalign.encoding.cv import group_folds
    from neuroalign.encoding.delays import trim_mask, zscore_runs
    from neuroalign.encoding.designs import fmri_design
    from neuroalign.encoding.pipeline import CEILING_CONVENTION, layer_sweep

    layers = read_activations(args.activations, args.variable, args.layers)
    runs = _bold_runs(args.dataset, args.subject)
    mask_img = _mask(args.dataset, runs[0]["bold"])
    mask = np.asarray(mask_img.get_fdata()) > 0
    tasks = [r["task"] for r in runs]
    test_task = args.test_task or next((t for t in tasks if tasks.count(t) > 1), None)
    if test_task is None or test_task not in tasks:
        raise NeuroalignError(
            f"{args.dataset}: no test task (tasks {sorted(set(tasks))}); pass --test-task."
        )
    delays = _ints(args.delays, "--delays")
    tr = None
    for run in runs:
        img = nib.load(run["bold"])
        run_tr = float(img.header.get_zooms()[3])
        if tr is not None and abs(run_tr - tr) > 1e-6:
            raise NeuroalignError(f"{run['bold']}: TR {run_tr} differs from {tr} of other runs.")
        tr = run_tr
        run["Y"] = np.asarray(img.dataobj, dtype=np.float32)[mask].T
        run["words"] = pd.read_csv(run["events"], sep="\t", na_values="n/a")
    train = [r for r in runs if r["task"] != test_task]
    test = [r for r in runs if r["task"] == test_task]
    n_test = {r["Y"].shape[0] for r in test}
    if len(n_test) != 1:
        raise NeuroalignError(f"{args.dataset}: repeats of {test_task!r} differ in length.")
    labels = np.concatenate([np.full(r["Y"].shape[0], i) for i, r in enumerate(train)])
    keep = trim_mask(labels, args.trim, args.trim)
    Y_train = zscore_runs(np.concatenate([r["Y"] for r in train]), labels)[keep]
    test_labels = np.zeros(test[0]["Y"].shape[0], int)
    keep_test = trim_mask(test_labels, args.trim, args.trim)
    Y_test = np.stack([zscore_runs(r["Y"], test_labels)[keep_test] for r in test])

    def design(da: xr.DataArray, group: list[dict[str, Any]]) -> np.ndarray:
        feats, onsets, word_runs, n_scans = [], [], [], {}
        for i, run in enumerate(group):
            words = run["words"]
            text = words["word"].astype(str).tolist() if "word" in words else []
            idx = align_items(da, text, run["task"], str(run["events"]))
            feats.append(da.values[idx])
            onsets.append(words["onset"].to_numpy(float))
            word_runs.append(np.full(len(idx), i))
            n_scans[i] = run["Y"].shape[0]
        X, _ = fmri_design(
            np.concatenate(feats),
            np.concatenate(onsets),
            np.concatenate(word_runs),
            n_scans,
            tr=tr,
            delays=delays,
            mode=args.resample,
        )
        return X

    designs = {
        k: (design(da, train)[keep], design(da, test[:1])[keep_test]) for k, da in layers.items()
    }
    folds = group_folds(labels[keep], n_folds=min(args.folds, len(train)))
    logger.info(
        "fMRI: %d train TRs, %d test TRs x %d repeats, %d voxels, %d layers",
        Y_train.shape[0],
        Y_test.shape[1],
        Y_test.shape[0],
        Y_train.shape[1],
        len(designs),
    )
    sweep = layer_sweep(
        designs,
        Y_train,
        folds,
        Y_test,
        alphas=_alphas(args.alphas),
        seed=args.seed,
        n_perm=args.n_perm,
        min_shift=max(delays) + 5,
        device=args.device,
        dtype=args.dtype,
        tf32_scoring=args.tf32_scoring,
    )
    res = sweep.result
    ijk = np.argwhere(mask)
    ds = xr.Dataset(
        {
            **_score_variables(res, "voxel"),
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
    truth = args.dataset / TRUTH / "truth.nc"
    summary = _fmri_recovery(truth, args.subject, res) if truth.is_file() else {}
    if args.unit_sets is not None:
        sets = read_unit_sets(args.unit_sets, layers)
        set_designs = {}
        for name, set_mask in sets.items():
            da = select_units(layers, set_mask)
            set_designs[name] = (design(da, train)[keep], design(da, test[:1])[keep_test])
        logger.info("brain alignment: %d unit sets of %d units", len(sets), set_mask.sum())
        set_sweep = layer_sweep(
            set_designs,
            Y_train,
            folds,
            Y_test,
            alphas=_alphas(args.alphas),
            seed=args.seed,
            n_perm=0,
            device=args.device,
            dtype=args.dtype,
            tf32_scoring=args.tf32_scoring,
        )
        responsive = res.q < 0.05 if np.any(res.q < 0.05) else np.ones_like(res.q, bool)
        ds["unit_set_r"] = (("unit_set", "voxel"), set_sweep.r_by_layer)
        ds["unit_set_mean_r"] = ("unit_set", set_sweep.r_by_layer[:, responsive].mean(axis=1))
        ds = ds.assign_coords(unit_set=list(sets))
        ds["responsive_voxel"] = ("voxel", responsive.astype(np.int8))
        summary.update(alignment_summary(ds["unit_set_mean_r"]))
    if summary:
        with xr.open_dataset(truth) as t:
            ds["planted_language"] = ("voxel", t["language_mask"].values.astype(np.int8))
    config = {
        "kind": "fmri",
        "subject": args.subject,
        "test_task": test_task,
        "delays": delays,
        "resample": args.resample,
        "trim": args.trim,
        "alphas": args.alphas,
        "folds": len(folds),
        "n_perm": args.n_perm,
        "dtype": args.dtype,
        "tf32_scoring": args.tf32_scoring,
        "variable": args.variable,
        "layers": args.layers,
    }
    ds.attrs.update(
        provenance(
            stage="encode",
            config=config,
            seed=args.seed,
            inputs={
                "activations": args.activations,
                "mask": args.dataset / TRUTH / "brain_mask.nii.gz",
            },
            dataset=str(args.dataset.name),
            selected_layer=str(sweep.layers[sweep.selected]),
            ceiling_convention=CEILING_CONVENTION,
            alpha_convention="alpha * ||w||^2",
            score="Pearson r and R^2 against the mean of the test repeats",
            null="circular shift of the prediction; p from a normal fitted to each null",
            n_repeats=int(Y_test.shape[0]),
            n_lower_edge=res.n_lower_edge,
            n_upper_edge=res.n_upper_edge,
            summary=summary,
        )
    )
    _write_netcdf(ds, args.output)
    maps = args.maps or args.output.with_name(args.output.stem + "_maps")
    with atomic_path(maps) as tmp:
        tmp.mkdir()
        for name in ("r", "r2", "q", "normalized", "explainable_variance"):
            vol = np.zeros(mask.shape, np.float32)
            vol[mask] = np.nan_to_num(ds[name].values.astype(np.float32))
            nib.save(nib.Nifti1Image(vol, mask_img.affine), tmp / f"{name}.nii.gz")
    print(f"wrote {args.output} and {maps}/ (selected layer {sweep.layers[sweep.selected]})")


def read_unit_sets(path: Path, layers: dict[Any, xr.DataArray]) -> dict[str, np.ndarray]:
    """The localized mask and every random mask of a localize result, as (layer, unit) arrays.

    Raises
    ------
    NeuroalignError
        If the file is not a localize result, or its layers or unit count differ from the
        activations'.
    """
    if not path.is_file():
        raise NeuroalignError(f"unit sets not found: {path}. Run `neuroalign localize` first.")
    with xr.open_dataset(path) as loc:
        if "mask" not in loc or "random_mask" not in loc:
            raise NeuroalignError(
                f"{path}: no 'mask' and 'random_mask' variables; pass a localize result."
            )
        names = [str(k) for k in layers]
        loc_layers = [str(v) for v in loc["layer"].values]
        width = {int(da.shape[1]) for da in layers.values()}
        if loc_layers != names or width != {loc.sizes["unit"]}:
            raise NeuroalignError(
                f"{path}: localized on layers {loc_layers} x {loc.sizes['unit']} units, but the "
                f"activations have layers {names} x {sorted(width)} units; localize and extract "
                "the same model, unit space and layers."
            )
        sets = {"localized": loc["mask"].isel(network=0).values.astype(bool)}
        for scheme in loc["scheme"].values:
            for seed in loc["seed"].values:
                mask = loc["random_mask"].sel(scheme=scheme, seed=seed).values.astype(bool)
                sets[f"{scheme}_{int(seed)}"] = mask
    return sets


def select_units(layers: dict[Any, xr.DataArray], mask: np.ndarray) -> xr.DataArray:
    """The units of ``mask`` (layer, unit) from every layer, side by side as one (item, unit)."""
    arrays = [da.transpose("item", ...) for da in layers.values()]
    values = np.concatenate(
        [da.values[:, np.asarray(m, bool)] for da, m in zip(arrays, mask, strict=True)], axis=1
    )
    coords = {k: c for k, c in arrays[0].coords.items() if c.dims == ("item",)}
    return xr.DataArray(values, dims=("item", "unit"), coords=coords)


def alignment_summary(mean_r: xr.DataArray) -> dict[str, float]:
    """Localized units vs random sets: mean r over responsive voxels, difference, z, percentile."""
    localized = float(mean_r.sel(unit_set="localized"))
    random = mean_r.values[np.asarray(mean_r["unit_set"].values) != "localized"]
    sd = float(random.std(ddof=1)) if random.size > 1 else float("nan")
    return {
        "alignment_localized_r": localized,
        "alignment_random_r_mean": float(random.mean()),
        "alignment_random_r_sd": sd,
        "alignment_difference": localized - float(random.mean()),
        "alignment_z": (localized - float(random.mean())) / sd if sd > 0 else float("nan"),
        "alignment_percentile": float(np.mean(random < localized) * 100),
    }


def _fmri_recovery(truth: Path, subject: str, res) -> dict[str, float]:
    with xr.open_dataset(truth) as t:
        planted = t["language_mask"].values.astype(bool)
        ideal = t["ideal_test_r"].sel(subject=subject).values if subject in t["subject"] else None
    found = res.q < 0.05
    tp = int(np.sum(found & planted))
    out = {
        "precision_q05": tp / max(int(found.sum()), 1),
        "recall_q05": tp / max(int(planted.sum()), 1),
        "mean_r_language": float(res.r[planted].mean()),
        "mean_r_other": float(res.r[~planted].mean()),
    }
    if ideal is not None:
        out["r_vs_ideal_r"] = float(np.corrcoef(res.r, ideal)[0, 1])
    return out


def _score_variables(fit, dim: str) -> dict[str, tuple[str, np.ndarray]]:
    """The held-out scores, alpha and CV score of every target, as dataset variables on ``dim``."""
    return {name: (dim, getattr(fit, name)) for name in ("r", "r2", "alpha", "cv_score", "p", "q")}


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, value in list(ds.attrs.items()):
        if not isinstance(value, str | int | float):
            ds.attrs[name] = json.dumps(value, default=str)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)


# --------------------------------------------------------------------------- MEG
def run_meg(args: argparse.Namespace) -> None:
    """Fit TRFs from word features to MEG sensors, score them on held-out blocks, write them."""
    import mne

    from neuroalign.encoding.cv import block_labels
    from neuroalign.encoding.designs import meg_design, pca_reduce
    from neuroalign.encoding.pipeline import lag_fit_and_test

    layers = read_activations(args.activations, args.variable, args.layers)
    meg_dir = args.dataset / f"sub-{args.subject}" / "meg"
    fifs = sorted(meg_dir.glob(f"sub-{args.subject}_*_meg.fif"))
    if args.task:
        fifs = [f for f in fifs if f"_task-{args.task}_" in f.name]
    if len(fifs) != 1:
        raise NeuroalignError(f"{meg_dir}: expected one *_meg.fif (found {len(fifs)}); use --task.")
    if not 1 <= args.test_blocks <= args.folds - 2:
        raise NeuroalignError(
            f"--test-blocks {args.test_blocks} with --folds {args.folds}: hold out at least 1 "
            "block and keep at least 2 for cross-validation (e.g. --folds 5 --test-blocks 1)."
        )
    fif = fifs[0]
    events_path = check_file(fif.with_name(fif.name.replace("_meg.fif", "_events.tsv")), "events")
    task = re.search(r"_task-([^_]+)", fif.name).group(1)
    with mne.use_log_level("error"):
        raw = mne.io.read_raw_fif(fif, preload=True).pick("meg")
        if abs(raw.info["sfreq"] - args.sfreq) > 1e-6:
            raw.resample(args.sfreq)
    Y = raw.get_data().T
    Y = (Y - Y.mean(0)) / Y.std(0)
    words = pd.read_csv(events_path, sep="\t", na_values="n/a")
    words = words[words["trial_type"] == "word"] if "trial_type" in words else words
    lags = np.arange(round(args.tmin * args.sfreq), round(args.tmax * args.sfreq) + 1)
    segments = block_labels(Y.shape[0], args.folds)
    test_blocks = list(range(args.folds - args.test_blocks, args.folds))
    alphas = _alphas(args.alphas)
    fits = {}
    for k, da in layers.items():
        idx = align_items(da, words["word"].astype(str).tolist(), task, str(events_path))
        # an onset impulse (all ones) plus the leading components of the model's features
        feats = np.c_[np.ones(len(idx)), pca_reduce(da.values[idx], args.n_components)]
        X, _ = meg_design(
            feats,
            words["onset"].to_numpy(float),
            np.zeros(len(idx)),
            {0: Y.shape[0]},
            sfreq=args.sfreq,
        )
        fits[k] = lag_fit_and_test(
            X,
            Y,
            lags,
            alphas,
            segments,
            test_blocks,
            rng=np.random.default_rng(args.seed),
            n_perm=args.n_perm,
            scoring="r",
            device=args.device,
            dtype=args.dtype,
        )
    keys = list(fits)
    cv_by_layer = np.stack([fits[k].cv_score for k in keys])
    selected = keys[int(np.argmax(cv_by_layer.mean(1)))]
    fit = fits[selected]
    ds = xr.Dataset(
        {
            **_score_variables(fit, "sensor"),
            "r_by_lag": (("lag", "sensor"), fit.r_by_lag),
            "trf": (("lag", "predictor", "sensor"), fit.coef),
            "r_by_layer": (("layer", "sensor"), np.stack([fits[k].r for k in keys])),
            "cv_by_layer": (("layer", "sensor"), cv_by_layer),
            "best_layer": ("sensor", np.asarray([str(k) for k in keys])[np.argmax(cv_by_layer, 0)]),
        },
        coords={
            "sensor": raw.ch_names,
            "lag": lags / args.sfreq,
            "layer": [str(k) for k in keys],
            "predictor": ["word_onset", *[f"pc{i}" for i in range(fit.coef.shape[1] - 1)]],
        },
    )
    ds["lag"].attrs["units"] = "s"
    truth = args.dataset / TRUTH / "truth.nc"
    summary = _meg_recovery(truth, args.subject, ds) if truth.is_file() else {}
    config = {
        "kind": "meg",
        "subject": args.subject,
        "tmin": args.tmin,
        "tmax": args.tmax,
        "sfreq": args.sfreq,
        "n_components": args.n_components,
        "alphas": args.alphas,
        "folds": args.folds,
        "test_blocks": args.test_blocks,
        "n_perm": args.n_perm,
        "dtype": args.dtype,
    }
    ds.attrs.update(
        provenance(
            stage="encode",
            config=config,
            seed=args.seed,
            inputs={"meg": fif},
            dataset=args.dataset.name,
            selected_layer=str(selected),
            score=f"Pearson r and R^2 on the last {args.test_blocks} of {args.folds} contiguous "
            "blocks, predicted by TRFs fitted on the others (alpha by leave-one-block-out CV)",
            alpha_convention="alpha * ||w||^2",
            null="circular shift of the held-out prediction; p from a normal fitted to each null",
            n_test_samples=int(np.isin(segments, test_blocks).sum()),
            n_lower_edge=fit.n_lower_edge,
            n_upper_edge=fit.n_upper_edge,
            summary=summary,
        )
    )
    _write_netcdf(ds, args.output)
    evoked_path = args.evoked or args.output.with_name(args.output.stem + "_trf-ave.fif")
    norm = np.sqrt((fit.coef**2).sum(1)).T  # (sensor, lag)
    evoked = mne.EvokedArray(
        norm, raw.info, tmin=float(lags[0] / args.sfreq), comment=f"TRF norm, layer {selected}"
    )
    with atomic_path(evoked_path) as tmp:
        evoked.save(tmp, verbose="error")
    print(f"wrote {args.output} and {evoked_path} (selected layer {selected})")


def _meg_recovery(truth: Path, subject: str, ds: xr.Dataset) -> dict[str, float]:
    """Recovered vs planted: the word-onset TRF, and held-out r against planted TRF strength."""
    with xr.open_dataset(truth) as t:
        if subject not in t["subject"].values:
            return {}
        planted = t["trf"].sel(subject=subject, predictor="word_onset").load()
    common = np.intersect1d(np.round(planted["lag"].values, 6), np.round(ds["lag"].values, 6))
    found = ds["trf"].sel(predictor="word_onset").assign_coords(lag=np.round(ds["lag"].values, 6))
    planted = planted.assign_coords(lag=np.round(planted["lag"].values, 6))
    a = found.sel(lag=common).transpose("sensor", "lag").values
    b = planted.sel(lag=common, sensor=ds["sensor"].values).values
    strength = np.sqrt((planted**2).sum("lag")).sel(sensor=ds["sensor"].values).values
    return {
        "word_onset_trf_correlation": float(np.corrcoef(a.ravel(), b.ravel())[0, 1]),
        "r_vs_planted_strength": float(np.corrcoef(ds["r"].values, strength)[0, 1]),
        "sensors_q05": int(np.sum(ds["q"].values < 0.05)),
    }


# --------------------------------------------------------------------------- eye-tracking
def read_reading_report(path: Path) -> pd.DataFrame:
    """Average an interest-area report over readers: one row per word, measures + baseline."""
    check_file(path, "interest-area report")
    report = pd.read_csv(path, na_values=["."])
    need = {"unique_paragraph_id", "IA_LABEL", *READING_MEASURES.values(), *READING_BASELINE}
    missing = sorted(need - set(report.columns))
    if missing:
        raise NeuroalignError(f"{path}: missing columns {missing} (OneStop IA report format).")
    keys = ["unique_paragraph_id", "IA_ID"]
    agg = {v: "mean" for v in READING_MEASURES.values()}
    agg.update({c: "first" for c in ("IA_LABEL", *READING_BASELINE[:2])})
    words = report.groupby(keys, sort=False).agg(agg).reset_index()
    return words


def run_eyetracking(args: argparse.Namespace) -> None:
    """Score the gain of model features over the reading baseline, per measure and layer."""
    from neuroalign.encoding.cv import group_folds
    from neuroalign.encoding.evaluate import baseline_gain

    layers = read_activations(args.activations, args.variable, args.layers)
    words = read_reading_report(args.report)
    measures = list(READING_MEASURES)
    Y = words[[READING_MEASURES[m] for m in measures]].to_numpy(float)
    ok = ~np.isnan(Y).any(1)
    base = words[list(READING_BASELINE)].to_numpy(float)
    folds = group_folds(words["unique_paragraph_id"].to_numpy()[ok], n_folds=args.folds)
    gains = {}
    for k, da in layers.items():
        idx = []
        for story, block in words.groupby("unique_paragraph_id", sort=False):
            rows = align_items(
                da, block["IA_LABEL"].astype(str).tolist(), str(story), str(args.report)
            )
            idx.append(rows)
        feats = da.values[np.concatenate(idx)]
        gains[k] = baseline_gain(
            feats[ok],
            base[ok],
            Y[ok],
            _alphas(args.alphas),
            folds,
            penalize_baseline=False,
            device=args.device,
            dtype=args.dtype,
        )
    keys = list(gains)
    stack = lambda name: np.stack([gains[k][name] for k in keys])  # noqa: E731
    ds = xr.Dataset(
        {name: (("layer", "measure"), stack(name)) for name in gains[keys[0]]},
        coords={"layer": [str(k) for k in keys], "measure": measures},
    )
    ds.attrs.update(
        provenance(
            stage="encode",
            config={
                "kind": "eyetracking",
                "alphas": args.alphas,
                "folds": args.folds,
                "dtype": args.dtype,
            },
            seed=args.seed,
            inputs={"report": args.report},
            n_words=int(ok.sum()),
            baseline=list(READING_BASELINE),
            measures=READING_MEASURES,
            score="held-out r and R^2 (nested CV by paragraph); gain = full minus baseline",
            baseline_fit="least squares (unpenalized); ridge penalizes only the model features",
        )
    )
    _write_netcdf(ds, args.output)
    print(f"wrote {args.output}")
