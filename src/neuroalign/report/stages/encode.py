"""Encoding models: held-out scores, ceilings, layer sweeps and, for simulated data, recovery.

Reads every ``<results>/encoding/**/*.nc`` written by ``neuroalign encode``: voxel-wise (fMRI),
sensor-wise (MEG) or measure-wise (eye-tracking) results with provenance in their attrs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.encode.sweeps import declared_sweeps
from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR, histogram_figure
from neuroalign.report.headline import Headline, first_headline, median_ci
from neuroalign.report.stages import encode_meg_epochs, encode_tables
from neuroalign.report.stages._encode_maps import map_blocks
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: these scores come from a dataset generated with a planted ground truth, "
    "not from a recording."
)
RECOVERY_CAPTIONS = {
    "fmri": "Recovered vs planted: precision and recall of the planted language voxels at "
    "q < 0.05, and the correlation of r with the planted ideal r.",
    "meg": "Recovered vs planted: correlation of the word-onset TRF with the planted one (all "
    "sensors, common lags), correlation over sensors of held-out r with the planted TRF "
    "strength, and the number of sensors at q < 0.05.",
}
SHOWN_ATTRS = (
    "dataset",
    "model",
    "extraction",
    "selected_layer",
    "score",
    "baseline",
    "gain",
    "folds",
    "exclusions",
    "ceiling_convention",
    "alpha_convention",
    "null",
    "n_repeats",
    "n_test_samples",
    "n_lower_edge",
    "n_upper_edge",
    "config_hash",
    "created",
)


def collect(ctx: ReportContext) -> Page | None:
    """The encoding page with one subpage per fitted model, or None without results."""
    folder = ctx.results_path("encoding")
    files = sorted(folder.rglob("*.nc")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    subpages = [_fit_page(ctx, folder, path) for path in files]
    rows = [
        [Link(sub.extra["name"], sub.href), sub.extra["kind"], sub.extra["headline"]]
        for sub in subpages
    ]
    return Page(
        slug="encode",
        title="Encoding models",
        summary=f"{len(files)} fitted model(s); "
        + "; ".join(f"{sub.extra['name']}: {sub.extra['headline']}" for sub in subpages[:3])
        + ("; ..." if len(subpages) > 3 else ""),
        sections=[Section("Fits", [Table(["fit", "kind", "headline"], rows)])],
        subpages=subpages,
        simulated=all(sub.simulated for sub in subpages),
        headline=first_headline(sub.headline for sub in subpages),
    )


def _fit_page(ctx: ReportContext, folder: Path, path: Path) -> Page:
    ds = load_netcdf(ctx.read(path), "encoding result")
    name = path.relative_to(folder).with_suffix("").as_posix()
    slug = slugify(f"encode-{name}")
    simulated = str(ds.attrs.get("dataset", "")).startswith("sim_")
    kind = "fmri" if "voxel" in ds.dims else "meg" if "sensor" in ds.dims else "eyetracking"
    if ds.attrs.get("kind") in (*encode_tables.KINDS, encode_meg_epochs.KIND):
        kind = ds.attrs["kind"]
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    if kind == "sentences":
        headline, more = encode_tables.sentence_blocks(ctx, slug, ds)
    elif kind == "words":
        headline, more = encode_tables.word_blocks(ctx, slug, ds)
    elif kind == "eyetracking":
        headline, more = _reading_blocks(ctx, slug, ds)
    elif kind == encode_meg_epochs.KIND:
        headline, more = encode_meg_epochs.blocks(ctx, slug, ds, path)
    else:
        headline, more = _target_blocks(ctx, slug, ds, kind)
        more += map_blocks(ctx, slug, ds, path, kind)
    blocks += more
    attrs = [[k, as_text(ds.attrs[k])] for k in SHOWN_ATTRS if k in ds.attrs]
    sections = [Section("Results", blocks)]
    if "unit_set_mean_r" in ds:
        sections.append(Section("Localized units vs random sets", _alignment_blocks(ctx, slug, ds)))
    sections.append(Section("Provenance", [Table(["attribute", "value"], attrs)]))
    return Page(
        slug=slug,
        title=f"Encoding: {name}",
        summary=headline,
        sections=sections,
        headline=target_headline(ds, kind, where=name)
        if kind in ("fmri", "meg")
        else encode_meg_epochs.headline(ds, where=name)
        if kind == encode_meg_epochs.KIND
        else None,
        simulated=simulated,
        extra={"name": name, "kind": kind, "headline": headline},
    )


def _alignment_blocks(ctx: ReportContext, slug: str, ds: xr.Dataset) -> list[Block]:
    """Brain alignment of the localized units against each equal-size random set."""
    mean_r = ds["unit_set_mean_r"]
    names = np.asarray(mean_r["unit_set"].values).astype(str)
    localized = float(mean_r.values[names == "localized"][0])
    fig = MplFigure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    schemes = sorted({n.rsplit("_", 1)[0] for n in names if n != "localized"})
    for i, scheme in enumerate(schemes):
        values = mean_r.values[[n.rsplit("_", 1)[0] == scheme for n in names]]
        ax.scatter(
            np.full(values.size, i),
            values,
            color="0.55",
            s=18,
            label="random sets" if i == 0 else None,
        )
    ax.axhline(localized, color="#c0392b", label="localized units")
    ax.set_xticks(range(len(schemes)), schemes)
    ax.set_xlim(-0.7, len(schemes) - 0.3)
    ax.set_ylabel("mean test r (responsive voxels)")
    ax.legend(fontsize=8)
    figure = ctx.save_figure(
        fig,
        f"{slug}-unit-sets",
        alt="Mean held-out r of encoding models from the localized units (line) and from each "
        "random unit set of the same size (points).",
        caption="Brain alignment: encoding models fitted on the localized units only (red line) "
        "and on each equal-size random set (grey points, uniform or layer-matched), scored on the "
        "held-out repeats; mean r over the voxels that the full model predicts (q < 0.05).",
    )
    summary = json.loads(ds.attrs.get("summary", "{}"))
    rows = [
        [k.removeprefix("alignment_"), as_text(v)]
        for k, v in summary.items()
        if k.startswith("alignment_")
    ]
    comparison = []
    for scheme in schemes:
        values = mean_r.values[[n.rsplit("_", 1)[0] == scheme for n in names]]
        comparison.append(
            [
                scheme,
                str(values.size),
                f"{np.mean(values):.3f}",
                f"{localized - np.mean(values):+.3f}",
                f"{np.mean(values >= localized):.2f}",
            ]
        )
    matched = [s for s in schemes if "match" in s]
    if matched:
        lead = (
            f"The {matched[0]} comparison is the one to read: its random sets take as many units "
            "from each layer as the localized set, so depth is held fixed and the difference is "
            "about which units within those layers were chosen."
        )
    else:
        lead = (
            "No layer-matched random sets were drawn (only "
            + ", ".join(schemes)
            + "): the comparison mixes depth with selectivity; add the layer-matched scheme."
        )
    interpretation = Text(
        f"{lead} Uniform random sets draw from every layer alike, so a localized set that sits "
        "in a few layers is compared with other depths as well. Neither comparison controls for "
        "what the contrast selects on: units chosen for a sentences-vs-non-words difference "
        "need not carry the variance that predicts the brain, so localized units less "
        "brain-aligned than random sets of the same size is not a contradiction; it says the "
        "selective units are not where the encoding model's predictive variance lies. The "
        "comparison does not control for unit variance, the number of effective dimensions, "
        "or the ridge penalty chosen per set."
    )
    table = Table(
        [
            "random scheme",
            "sets",
            "mean r of random sets",
            "localized - random",
            "share >= localized",
        ],
        comparison,
        caption=f"Localized units (mean r {localized:.3f}) against each random scheme.",
    )
    return [interpretation, figure, table, Table(["alignment", "value"], rows)]


def _layer_figure(labels, curves: dict[str, np.ndarray], ylabel: str, title: str) -> MplFigure:
    fig = MplFigure(figsize=(5, 3.2), layout="constrained")
    ax = fig.subplots()
    colors = [PLANTED_COLOR, RECOVERED_COLOR, "#7570b3", "#1b9e77", "#e7298a"]
    for (label, values), color in zip(curves.items(), colors * 4, strict=False):
        ax.plot(range(len(labels)), values, marker="o", label=label, color=color)
    _layer_ticks(ax, labels)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if len(curves) > 1:
        ax.legend(fontsize=7)
    return fig


def target_headline(ds: xr.Dataset, kind: str, where: str = "") -> Headline:
    """Median r over the voxels (sensors) with q < 0.05, else all, with its BCa interval."""
    dim = "voxel" if kind == "fmri" else "sensor"
    r = ds["r"].values
    passing = ds["q"].values < 0.05 if "q" in ds else np.zeros(r.shape, bool)
    over, subset = (
        (r[passing], f"the {int(passing.sum())} {dim}s with q < 0.05")
        if passing.any()
        else (r, f"all {r.size} {dim}s")
    )
    med, lo, hi = median_ci(over)
    return Headline(
        f"median r over {subset}", med, lo, hi, interval="95% CI", where=where,
        note=f"of {r.size} {dim}s",
    )  # fmt: skip


def _target_blocks(ctx, slug, ds, kind) -> tuple[str, list[Block]]:
    dim = "voxel" if kind == "fmri" else "sensor"
    r = ds["r"].values
    blocks: list[Block] = []
    headline = target_headline(ds, kind).text()
    rows = [["median r", np.nanmedian(r)], ["max r", np.nanmax(r)]]
    if "q" in ds:
        rows.append([f"{dim}s with q < 0.05", int(np.sum(ds["q"].values < 0.05))])
    if "normalized" in ds:
        rows.append(["median normalized score (r / ceiling)", np.nanmedian(ds["normalized"])])
    blocks.append(Table(["statistic", "value"], [[k, as_text(v)] for k, v in rows]))
    blocks.append(
        ctx.save_figure(
            histogram_figure(r, xlabel="held-out r", title=f"r per {dim}"),
            f"{slug}-r",
            alt=f"Histogram of held-out r over {dim}s",
            caption=f"Held-out Pearson r of every {dim} (selected layer). Null {dim}s pile up "
            "around 0; predicted ones form the right tail.",
        )
    )
    if "r_by_layer" in ds and ds.sizes.get("layer", 0) > 1:
        blocks += _sweep_blocks(ctx, slug, ds, dim)
    if "summary" in ds.attrs:
        summary = json.loads(ds.attrs["summary"])
        if summary:
            blocks.append(
                Table(
                    ["recovery metric", "value"],
                    [[k, as_text(v)] for k, v in summary.items()],
                    caption=RECOVERY_CAPTIONS[kind],
                )
            )
    if "trf" in ds:
        norm = np.sqrt((ds["trf"] ** 2).sum("predictor")).mean("sensor")
        fig = MplFigure(figsize=(5, 3.2), layout="constrained")
        ax = fig.subplots()
        ax.plot(ds["lag"].values, norm.values, color=PLANTED_COLOR)
        ax.set_xlabel("lag (s)")
        ax.set_ylabel("TRF norm (mean over sensors)")
        blocks.append(
            ctx.save_figure(
                fig,
                f"{slug}-trf",
                alt="TRF norm over lags",
                caption="Temporal response function norm over predictors, averaged over "
                "sensors: when after a word the sensors respond.",
            )
        )
    return headline, blocks


def _sweep_blocks(ctx, slug, ds, dim) -> list[Block]:
    """The layer sweep over the declared set (primary), per ROI, and over all targets."""
    layers = ds["layer"].values
    curves = declared_sweeps(ds, target_dim=dim)
    primary = next((c for c in curves if c.primary), None)
    fig = MplFigure(figsize=(9, 3.2), layout="constrained")
    ax, ax_all = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    colors = [PLANTED_COLOR, "#7570b3", "#1b9e77", "#e7298a", "#66a61e"]
    shown = [c for c in curves if c.n_targets and not c.name.startswith("all ")]
    for curve, color in zip(shown, colors * 4, strict=False):
        ax.plot(
            range(len(layers)),
            curve.mean_r,
            marker="o",
            color=color,
            lw=2.2 if curve.primary else 1.2,
            label=f"{curve.name} (n = {curve.n_targets})",
        )
    if not shown:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no {dim} passes q < 0.05", ha="center", va="center")
    else:
        ax.set_ylabel("mean held-out r")
        ax.legend(fontsize=7)
    everything = curves[-1]
    ax_all.plot(range(len(layers)), everything.mean_r, marker="o", color="0.5")
    best = ds["best_layer"].values.astype(str)
    share = np.array([np.mean(best == str(v)) for v in layers])
    twin = ax_all.twinx()
    twin.plot(range(len(layers)), share, ls="--", color=RECOVERED_COLOR)
    twin.set_ylabel(f"share of {dim}s best here", fontsize=8)
    ax_all.set_ylabel(f"mean r, all {dim}s")
    for a in (ax, ax_all):
        if a.axison:
            _layer_ticks(a, layers)
    ax.set_title("Layer sweep over the declared set", fontsize=10)
    ax_all.set_title(f"Secondary: all {dim}s", fontsize=10)
    declared = (
        f"the declared set is the {primary.n_targets} {primary.name} (at the selected layer); "
        f"its mean r peaks at layer {primary.peak}"
        if primary is not None and primary.n_targets
        else f"no {dim} passes the declared threshold, so only the all-{dim} curve is shown"
    )
    rows = [
        [c.name, str(c.n_targets), c.peak or "n/a", "primary" if c.primary else "secondary"]
        for c in curves
    ]
    return [
        ctx.save_figure(
            fig,
            f"{slug}-layers",
            alt=f"Mean held-out r per layer over the declared {dim} set and over all {dim}s",
            caption=f"Layer sweep: mean held-out r per layer; {declared}. Right, secondary: the "
            f"mean over all {dim}s (grey; most are unresponsive, so it is flat) and the share of "
            f"{dim}s whose cross-validated best layer it is (dashed, chosen on training data).",
        ),
        Table(["set", f"{dim}s", "peak layer", "role"], rows, caption="Sets of the layer sweep."),
    ]


def _baseline_text(ds: xr.Dataset) -> str:
    """The baseline a gain was measured against, as recorded in the result."""
    return encode_tables.baseline_text(ds)


def _layer_ticks(ax, layers) -> None:
    """Layer tick labels, thinned so that they never overlap."""
    labels = [str(v) for v in layers]
    step = max(1, int(np.ceil(len(labels) / 12)))
    ticks = list(range(0, len(labels), step))
    ax.set_xticks(ticks, [labels[i] for i in ticks])
    ax.set_xlabel("layer")


def _reading_blocks(ctx, slug, ds) -> tuple[str, list[Block]]:
    gain = ds["r2_gain"]
    best = float(gain.max())
    headline = f"best R^2 gain over the baseline = {best:.4f}"
    rows = [
        [
            str(layer),
            str(m),
            as_text(float(ds["r2_baseline"].sel(layer=layer, measure=m))),
            as_text(float(ds["r2_full"].sel(layer=layer, measure=m))),
            as_text(float(gain.sel(layer=layer, measure=m))),
        ]
        for layer in ds["layer"].values
        for m in ds["measure"].values
    ]
    blocks: list[Block] = [
        Table(
            ["layer", "measure", "R^2 baseline", "R^2 baseline + model", "gain"],
            rows,
            caption="Held-out R^2 (nested CV by paragraph) of the baseline "
            f"({_baseline_text(ds)}) and of baseline plus model features; the gain is what the "
            "model adds.",
        )
    ]
    if ds.sizes["layer"] > 1:
        curves = {str(m): gain.sel(measure=m).values for m in ds["measure"].values}
        blocks.append(
            ctx.save_figure(
                _layer_figure(ds["layer"].values, curves, "R^2 gain", "Gain over baseline"),
                f"{slug}-layers",
                alt="R^2 gain over the baseline per layer and measure",
                caption="Held-out R^2 gain of model features over the baseline, per layer.",
            )
        )
    return headline, blocks
