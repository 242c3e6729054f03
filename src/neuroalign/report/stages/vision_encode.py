"""Vision encoding: per-ROI layer sweeps, the model comparison, planted-ROI recovery, a volume map.

Reads every ``<results>/vision/encoding/<entry>/sub-<subject>.nc`` written by ``neuroalign
vision-encode`` and the NIfTI maps in ``sub-<subject>_maps/`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table
from neuroalign.report.brain_maps import stat_map_figure
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: these scores come from a vision dataset generated with planted responsive "
    "voxels, not from a recording."
)
COLORS = (PLANTED_COLOR, RECOVERED_COLOR, "#7570b3", "#1b9e77", "#e7298a", "#66a61e")
SHOWN_ATTRS = (
    "dataset",
    "subject",
    "models",
    "ceiling_convention",
    "score",
    "null",
    "bootstrap",
    "q_level",
    "ci_level",
    "n_permutations",
    "n_bootstrap",
    "n_train_images",
    "n_test_images",
    "n_lower_edge",
    "n_upper_edge",
    "planted_layer",
    "config_hash",
    "created",
)


def _fmt(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{float(value):.3f}"


def _ci(score, low, high) -> str:
    if not np.isfinite(score):
        return ""
    if not (np.isfinite(low) and np.isfinite(high)):
        return _fmt(score)
    return f"{_fmt(score)} [{_fmt(low)}, {_fmt(high)}]"


def collect(ctx: ReportContext) -> Page | None:
    """The vision encoding page with one subpage per fitted subject, or None without results."""
    folder = ctx.results_path("vision", "encoding")
    files = sorted(folder.rglob("sub-*.nc")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    subpages = [_fit_page(ctx, folder, path) for path in files]
    rows = [[Link(sub.extra["name"], sub.href), sub.extra["headline"]] for sub in subpages]
    return Page(
        slug="vision-encode",
        title="Vision encoding",
        summary=f"{len(files)} subject fit(s) of image features against visual cortex",
        sections=[Section("Fits", [Table(["fit", "best model per ROI"], rows)])],
        subpages=subpages,
        simulated=all(sub.simulated for sub in subpages),
        headline=first_headline(sub.headline for sub in subpages),
    )


def _headline(ds: xr.Dataset, where: str = "") -> Headline | None:
    """The best model's normalized score in the ROI where it is highest, with its interval."""
    scores = np.asarray(ds["best_score"].values, float) if "best_score" in ds else np.array([])
    if not np.isfinite(scores).any():
        return None
    j = int(np.nanargmax(scores))
    roi = str(ds["roi"].values[j])
    level = float(ds.attrs.get("ci_level", 0.95))
    return Headline(
        f"{roi}: median normalized score of {_label(ds, int(ds['best_fit'].values[j]))}",
        float(scores[j]),
        float(ds["best_low"].values[j]),
        float(ds["best_high"].values[j]),
        interval=f"bootstrap {round(100 * level)}% interval over test images",
        where=where,
    )


def _label(ds: xr.Dataset, fit: int) -> str:
    if fit < 0:
        return ""
    return f"{ds['fit_model'].values[fit]} layer {ds['fit_layer'].values[fit]}"


def _fit_page(ctx: ReportContext, folder: Path, path: Path) -> Page:
    ds = load_netcdf(ctx.read(path), "vision encoding result")
    name = path.relative_to(folder).with_suffix("").as_posix()
    slug = slugify(f"vision-encode-{name}")
    simulated = str(ds.attrs.get("simulated", "")).lower() == "true" or str(
        ds.attrs.get("dataset", "")
    ).startswith("sim_")
    rois = [str(r) for r in ds["roi"].values]
    best = ds["best_fit"].values.astype(int)
    summary = "; ".join(
        f"{roi}: {_label(ds, int(b))} ({_fmt(ds['best_score'].values[j])})"
        for j, (roi, b) in enumerate(zip(rois, best, strict=True))
    )
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    blocks.append(_comparison_table(ds, rois))
    if ds.sizes["fit"] > 1 and rois:
        blocks.append(
            ctx.save_figure(
                _sweep_figure(ds, rois),
                f"{slug}-layers",
                alt="Median noise-ceiling-normalized score per layer, one panel per ROI, one "
                "line per model",
                caption="Layer sweep per ROI: median over the ROI's voxels of the held-out "
                "normalized score sign(r) r^2 / noise ceiling (solid, with its bootstrap "
                "interval over test images) and the median over the voxels with q < "
                f"{ds.attrs.get('q_level', 0.05)} in that fit (dashed; those voxels are "
                "selected on the same test images they are scored on, so the dashed line is "
                "biased upwards and only the solid one estimates the ROI). 1 is as good as the "
                "noise in the averaged test trials allows.",
            )
        )
    if "recovery_precision" in ds:
        blocks.append(_recovery_table(ds, rois))
    blocks += _map_blocks(ctx, slug, path, float(ds.attrs.get("q_level", 0.05)))
    attrs = [[k, as_text(_attr(ds.attrs[k]))] for k in SHOWN_ATTRS if k in ds.attrs]
    return Page(
        slug=slug,
        title=f"Vision encoding: {name}",
        headline=_headline(ds, where=name),
        summary=summary,
        sections=[
            Section("Results", blocks),
            Section("Provenance", [Table(["attribute", "value"], attrs)]),
        ],
        simulated=simulated,
        extra={"name": name, "headline": summary},
    )


def _attr(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value.item() if hasattr(value, "item") else value


def _comparison_table(ds: xr.Dataset, rois: list[str]) -> Table:
    rows = []
    for j, roi in enumerate(rois):
        v = {
            k: float(ds[k].values[j])
            for k in ds.data_vars
            if ds[k].dims == ("roi",) and ds[k].dtype.kind == "f"
        }
        rows.append(
            [
                roi,
                _label(ds, int(ds["best_fit"].values[j])),
                _ci(v["best_score"], v["best_low"], v["best_high"]),
                _label(ds, int(ds["second_fit"].values[j])),
                _ci(v["second_score"], v["second_low"], v["second_high"]),
                _ci(v["diff"], v["diff_low"], v["diff_high"]),
            ]
        )
    level = round(100 * float(ds.attrs.get("ci_level", 0.95)))
    return Table(
        ["ROI", "best", "score", "runner-up", "score", "difference"],
        rows,
        caption="Model comparison per ROI: each model's layer is chosen on the training images "
        "(mean cross-validated score over the ROI's voxels) and the candidates are ranked the "
        "same way (the layers of the one model when there is one). Scores are the held-out "
        f"median normalized score over the ROI's voxels with {level}% percentile bootstrap "
        "intervals over test images; the difference is paired (the same resamples).",
    )


def _sweep_figure(ds: xr.Dataset, rois: list[str]) -> MplFigure:
    n = len(rois)
    fig = MplFigure(figsize=(min(3.2 * n, 13), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    models = [str(m) for m in ds["model"].values]
    fit_model = ds["fit_model"].values.astype(str)
    for j, (ax, roi) in enumerate(zip(axes, rois, strict=True)):
        for model, color in zip(models, COLORS * 4, strict=False):
            idx = np.flatnonzero(fit_model == model)
            x = np.arange(idx.size)
            med = ds["roi_median"].values[idx, j]
            ax.plot(x, med, marker="o", color=color, label=model)
            low, high = ds["roi_median_low"].values[idx, j], ds["roi_median_high"].values[idx, j]
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
            sig = ds["roi_median_sig"].values[idx, j]
            if np.isfinite(sig).any():
                ax.plot(x, sig, ls="--", color=color, lw=1)
            ax.set_xticks(x, ds["fit_layer"].values[idx].astype(str))
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(roi, fontsize=10)
        ax.set_xlabel("layer")
    axes[0].set_ylabel("median normalized score")
    if len(models) > 1:
        axes[-1].legend(fontsize=7)
    return fig


def _recovery_table(ds: xr.Dataset, rois: list[str]) -> Table:
    rows = []
    planted = ds["planted_responsive"].values.astype(bool) if "planted_responsive" in ds else None
    for j, roi in enumerate(rois):
        mask = ds["roi_mask"].values[j].astype(bool)
        n_planted = int(np.sum(planted & mask)) if planted is not None else None
        rows.append(
            [
                roi,
                n_planted,
                _fmt(ds["recovery_precision"].values[j]),
                _fmt(ds["recovery_recall"].values[j]),
            ]
        )
    q = ds.attrs.get("q_level", 0.05)
    return Table(
        ["ROI", "planted responsive voxels", "precision", "recall"],
        rows,
        caption=f"Recovered vs planted: voxels with q < {q} in the ROI's chosen fit against the "
        "voxels the simulation made responsive, within each ROI (precision: share of the "
        "significant voxels that were planted; recall: share of the planted ones found).",
    )


def _map_blocks(ctx: ReportContext, slug: str, path: Path, q_level: float) -> list[Block]:
    import nibabel as nib

    ref = path.with_name(path.stem + "_maps") / "best_normalized.nii.gz"
    if not ref.is_file():
        return [Notice(f"No volume map: {ref} is missing (surface data, or rerun the stage).")]
    img = nib.load(ctx.read(ref))
    q_ref = ref.with_name("best_q.nii.gz")
    level = float(q_level)
    note = "unthresholded"
    if q_ref.is_file():
        q = np.asarray(nib.load(ctx.read(q_ref)).dataobj)
        values = np.where((q > 0) & (q < level), np.asarray(img.dataobj), 0.0)
        img = nib.Nifti1Image(values.astype(np.float32), img.affine)
        note = f"voxels with q < {level} only"
    return [
        ctx.save_figure(
            stat_map_figure(img, title="normalized score, chosen fit per ROI"),
            f"{slug}-map",
            alt="Axial slices of the noise-ceiling-normalized score of each voxel",
            caption="Held-out normalized score sign(r) r^2 / noise ceiling of every voxel, from "
            "the fit chosen for its ROI, on axial slices over nilearn's MNI152 template "
            f"({note}; voxels outside every ROI show the fit with the best mean "
            "cross-validated score).",
        )
    ]
