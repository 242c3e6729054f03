"""Functional localizers in models: selected units, reliability, ablation and brain alignment.

Reads ``<results>/localize/<model>/<localizer>.nc`` (written by ``neuroalign localize``): the
selectivity maps (layer, unit), the masks, the random control sets, the run-split reliability
and, when they were run, the ablation dose curves and the brain-alignment comparison. One
subpage per model, one section per localizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

RELIABILITY = ("dice", "jaccard", "spearman_t", "cv_effect")
# Unit masks, saved as integers in netCDF.
MASKS = ("mask", "bottom_mask", "random_mask", "split_mask")
PROVENANCE_KEYS = ("model", "model_kind", "unit_space", "pooling", "truncate", "config_hash")
PROVENANCE_KEYS += ("seed", "neuroalign_version", "created")


def collect(ctx: ReportContext) -> Page | None:
    """The localizer page (one subpage per model), or None when there are no results."""
    folder = ctx.results_path("localize")
    if folder is None or not folder.is_dir():
        return None
    models = sorted(p for p in folder.iterdir() if p.is_dir() and list(p.glob("*.nc")))
    if not models:
        return None
    subpages, rows, headlines, numbers = [], [], [], []
    for model_dir in models:
        results = {p.stem: _read(ctx.read(p)) for p in sorted(model_dir.glob("*.nc"))}
        page = _model_page(ctx, model_dir.name, results)
        subpages.append(page)
        for name, ds in results.items():
            rows.append([Link(model_dir.name, page.href), name, *_summary_row(ds)])
            headlines.append(f"{model_dir.name}/{name}: {_headline(ds)}")
            numbers.append(headline(ds, where=f"{model_dir.name}/{name}"))
    columns = ["model", "localizer", "units selected", "statistic", "run-split Dice (chance)"]
    columns += ["ablation deficit z at max dose", "alignment: localized - random"]
    return Page(
        slug="localize",
        title="Functional localizers in models",
        headline=first_headline(numbers),
        summary=f"{len(rows)} localizer run(s) over {len(subpages)} model(s); "
        + "; ".join(headlines[:3])
        + ("; ..." if len(headlines) > 3 else ""),
        sections=[
            Section(
                "Localizer runs",
                [
                    Text(
                        "Units are selected by a Welch t contrast (e.g. sentences vs non-word "
                        "lists). Deficits and alignment are compared with random unit sets of "
                        "the same size drawn from the remaining units."
                    ),
                    Table(columns, rows),
                ],
            )
        ],
        subpages=subpages,
    )


def _read(path: Path) -> xr.Dataset:
    """A localizer result, through the results I/O edge (no model code), masks as bool."""
    ds = load_netcdf(path, "localizer result")
    for name in MASKS:
        if name in ds:
            ds[name] = ds[name].astype(bool)
    return ds


def headline(ds: xr.Dataset, where: str = "") -> Headline:
    """Run-split Dice with its re-split range and chance."""
    var = ds["reliability_dice"]
    low = high = float("nan")
    kind = "re-split range"
    if "dist_low" in var.attrs:
        low, high = float(var.attrs["dist_low"]), float(var.attrs["dist_high"])
        kind = f"re-split central {round(100 * float(var.attrs['dist_level']))}%"
    return Headline(
        "run-split Dice", float(var), low, high, interval=kind, where=where,
        note=f"chance {float(ds['reliability_chance_dice']):.3f}",
    )  # fmt: skip


def _headline(ds: xr.Dataset) -> str:
    """Run-split Dice with its re-split range and chance, for the index page."""
    var = ds["reliability_dice"]
    text = f"run-split Dice {float(var):.3f}"
    if "dist_low" in var.attrs:
        text += (
            f" (re-split central {round(100 * float(var.attrs['dist_level']))}% "
            f"[{float(var.attrs['dist_low']):.3f}, {float(var.attrs['dist_high']):.3f}])"
        )
    return text + f", chance {float(ds['reliability_chance_dice']):.3f}"


def _summary_row(ds: xr.Dataset) -> list[str]:
    dice = f"{float(ds['reliability_dice']):.3f} ({float(ds['reliability_chance_dice']):.3f})"
    z = "not run"
    if "ablation_deficit_z" in ds:
        last = ds["ablation_deficit_z"].isel(dose=-1)
        z = "; ".join(f"{t}: {float(last.sel(task=t)):+.2f}" for t in ds["task"].values)
    align = "not run"
    if "alignment_difference" in ds:
        align = (
            f"{float(ds['alignment_difference']):+.3f} +/- "
            f"{float(ds['alignment_difference_sd']):.3f}"
        )
    return [ds.attrs.get("k", ""), ds.attrs.get("statistic", ""), dice, z, align]


def _model_page(ctx: ReportContext, model: str, results: dict[str, xr.Dataset]) -> Page:
    slug = slugify(f"localize-{model}")
    sections = [Section("Layer distribution", [_layer_figure(ctx, slug, results)])]
    for name, ds in results.items():
        stem = f"{slug}-{slugify(name)}"
        blocks: list[Block] = [_t_figure(ctx, stem, name, ds), _reliability_table(ds)]
        if "ablation_localized" in ds:
            blocks.append(_ablation_figure(ctx, stem, name, ds))
            blocks.append(_ablation_table(ds))
        if "alignment_localized" in ds:
            blocks.append(_alignment_figure(ctx, stem, name, ds))
        rows = [[k, as_text(ds.attrs[k])] for k in PROVENANCE_KEYS if k in ds.attrs]
        blocks.append(Table(["attribute", "value"], rows, caption="Provenance"))
        sections.append(Section(f"Localizer {name}", blocks))
    return Page(slug=slug, title=f"Localizers in {model}", summary=model, sections=sections)


def _layer_figure(ctx: ReportContext, slug: str, results: dict[str, xr.Dataset]) -> Block:
    fig = MplFigure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    for name, ds in results.items():
        frac = ds["layer_fraction"].isel(network=0)
        ax.plot(ds["layer"].values, 100 * frac.values, marker="o", label=name)
    ax.set_xlabel("layer (block)")
    ax.set_ylabel("% of the layer's units selected")
    ax.legend(fontsize=8)
    return ctx.save_figure(
        fig,
        f"{slug}-layers",
        alt="Percent of each layer's units selected by each localizer",
        caption="Where the localized units sit: for each localizer (one line each), the "
        "percentage of the layer's units that were selected.",
    )


def _t_figure(ctx: ReportContext, stem: str, name: str, ds: xr.Dataset) -> Block:
    t = ds["t"].values.ravel()
    t = t[np.isfinite(t)]
    mask = ds["mask"].isel(network=0).values.ravel()[np.isfinite(ds["t"].values.ravel())]
    fig = MplFigure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(t.min(), t.max(), 60) if t.size else 10
    ax.hist(t, bins=bins, color=PLANTED_COLOR, label="all units")
    if mask.any():
        ax.hist(t[mask], bins=bins, color=RECOVERED_COLOR, label="selected")
    ax.set_xlabel(f"Welch t ({ds.attrs.get('positive')} - {ds.attrs.get('negative')})")
    ax.set_ylabel("units")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ctx.save_figure(
        fig,
        f"{stem}-t",
        alt=f"Histogram of the {name} localizer's t values over all units",
        caption=f"Distribution of the unit t statistics ({ds.attrs.get('statistic')}); the "
        f"{ds.attrs.get('k')} selected units ({ds.attrs.get('rule')}) in orange. Log scale.",
    )


def _reliability_table(ds: xr.Dataset) -> Table:
    rows = []
    for key in RELIABILITY:
        var = ds[f"reliability_{key}"]
        spread = ""
        if "ci_low" in var.attrs:
            level = round(100 * float(var.attrs.get("ci_level", 0.95)))
            method = var.attrs.get("ci_method", "bootstrap")
            lo, hi = float(var.attrs["ci_low"]), float(var.attrs["ci_high"])
            spread = (
                f"{method} {level}% CI [{lo:.3f}, {hi:.3f}]"
                if np.isfinite(lo) and np.isfinite(hi)
                else f"{method} {level}% CI undefined (all resamples on one side)"
            )
        elif "dist_low" in var.attrs:
            level = round(100 * float(var.attrs.get("dist_level", 0.95)))
            spread = (
                f"re-split median {float(var.attrs['dist_median']):.3f}, central {level}% "
                f"[{float(var.attrs['dist_low']):.3f}, {float(var.attrs['dist_high']):.3f}]"
            )
        chance = {"dice": "reliability_chance_dice", "jaccard": "reliability_chance_jaccard"}
        expected = f"{float(ds[chance[key]]):.4f}" if key in chance else ""
        rows.append([key, f"{float(var):.3f}", spread, expected])
    return Table(
        ["statistic", "value", "uncertainty", "chance"],
        rows,
        caption="Run-split reliability: units selected on run 1 vs run 2 (disjoint items); "
        "cv_effect is the mean held-out t of the units selected on the other run. Dice, Jaccard "
        "and Spearman come with their re-split distribution (items re-assigned at random to two "
        "halves within each condition): a distribution, not a confidence interval; the observed "
        "split lies in its central 95% with probability 0.95 when items are exchangeable. "
        "cv_effect comes with a bias-corrected and accelerated (BCa) bootstrap interval "
        "(items resampled within run x condition).",
    )


def _ablation_figure(ctx: ReportContext, stem: str, name: str, ds: xr.Dataset) -> Block:
    tasks = list(ds["task"].values)
    fig = MplFigure(figsize=(3.6 * len(tasks), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    dose = 100 * ds["dose"].values
    for ax, task in zip(axes, tasks, strict=True):
        rand = ds["ablation_random"].sel(task=task).values
        for row in rand.T:
            ax.plot(dose, row, color="0.7", lw=0.8)
        ax.plot(dose, rand.mean(1), color=PLANTED_COLOR, marker="o", label="random sets (mean)")
        ax.plot(
            dose, ds["ablation_localized"].sel(task=task).values, color=RECOVERED_COLOR,
            marker="o", label="localized",
        )  # fmt: skip
        ax.axhline(float(ds["ablation_baseline"].sel(task=task)), ls="--", color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("% of units ablated")
        ax.set_ylabel(str(ds["task_metric"].sel(task=task).values))
        ax.set_title(task, fontsize=10)
    axes[0].legend(fontsize=7)
    return ctx.save_figure(
        fig,
        f"{stem}-ablation",
        alt=f"Task scores against the fraction of units ablated, {name} localizer",
        caption="Dose curves: each task's score with the localized units ablated (orange), "
        "with each random set of the same size (grey; blue = mean) and without ablation "
        f"(dashed). Ablation mode: {ds.attrs.get('ablation_mode', 'zero')}. "
        f"{_scheme_note(ds.attrs.get('ablation_scheme'))}",
    )


def _ablation_table(ds: xr.Dataset) -> Table:
    rows = []
    for dose in ds["dose"].values:
        for task in ds["task"].values:
            sel = {"dose": dose, "task": task}
            rows.append(
                [
                    f"{100 * dose:g}%",
                    int(ds["ablation_k"].sel(dose=dose)),
                    task,
                    f"{float(ds['ablation_localized'].sel(sel)):.4f}",
                    f"{float(ds['ablation_random'].sel(sel).mean()):.4f}",
                    f"{float(ds['ablation_deficit_z'].sel(sel)):+.2f}",
                    f"{float(ds['ablation_percentile'].sel(sel)):.0f}",
                ]
            )
    return Table(
        ["dose", "units", "task", "localized", "random mean", "deficit z", "percentile"],
        rows,
        caption="Deficit of the localized set within the random sets' deficits.",
    )


def _alignment_figure(ctx: ReportContext, stem: str, name: str, ds: xr.Dataset) -> Block:
    rand = ds["alignment_random"].mean("target").values
    loc = float(ds["alignment_localized"].mean())
    fig = MplFigure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.scatter(rand, np.zeros_like(rand), color=PLANTED_COLOR, label="random sets")
    ax.scatter([loc], [0], color=RECOVERED_COLOR, s=80, marker="D", label="localized")
    ax.set_yticks([])
    ax.set_xlabel("brain score (cross-validated Pearson r)")
    ax.legend(fontsize=8)
    return ctx.save_figure(
        fig,
        f"{stem}-alignment",
        alt=f"Brain scores of the localized and random unit sets, {name} localizer",
        caption="Brain alignment: ridge-Pearson score of the localized units (diamond) and "
        f"of each random set (dots). Difference {float(ds['alignment_difference']):+.3f} +/- "
        f"{float(ds['alignment_difference_sd']):.3f} (sd over random sets); localized above "
        f"{float(ds['alignment_percentile']):.0f}% of random sets. "
        f"{_scheme_note(ds.attrs.get('alignment_scheme'))}",
    )


def _scheme_note(scheme) -> str:
    """What a comparison with random sets of ``scheme`` controls for (empty when unrecorded)."""
    if scheme == "layer_matched":
        return (
            "Random sets are layer-matched (as many units per layer as the localized set): the "
            "comparison controls for depth."
        )
    if scheme == "uniform":
        return (
            "Random sets are uniform over all layers: the comparison mixes depth with "
            "selectivity (a layer-matched comparison controls for depth)."
        )
    return ""
