"""Activation stores: one page per model, with its layers, unit spaces and norms per layer.

Reads ``<results>/activations/<model>/<stimset>.zarr`` (written by ``neuroalign extract``): an
xarray Dataset with one variable per unit space, dims (item, layer, <space>_unit), and the
extraction's provenance in its attrs, opened through `neuroalign.results.open_activations`: a
store that is not marked complete (``complete`` attr missing or not ``"true"``) is refused and
listed with the reason instead of being plotted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign._check import NeuroalignError
from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR
from neuroalign.results import open_activations

PROVENANCE_KEYS = (
    "model",
    "revision",
    "commit",
    "dtype",
    "pooling",
    "context",
    "units",
    "config_hash",
    "stimulus_sha256",
    "neuroalign_version",
    "created",
)
#: Items read to estimate per-layer norms (evenly spaced); enough for a stable mean.
MAX_ITEMS = 2000


def collect(ctx: ReportContext) -> Page | None:
    """The page of models and their activation stores, or None when there are none."""
    folder = ctx.results_path("activations")
    if folder is None or not folder.is_dir():
        return None
    models = sorted(p for p in folder.iterdir() if p.is_dir() and list(p.glob("*.zarr")))
    if not models:
        return None
    subpages = [_model_page(ctx, model_dir) for model_dir in models]
    rows = [
        [Link(sub.extra["model"], sub.href), sub.extra["source"], sub.extra["stores"]]
        for sub in subpages
    ]
    return Page(
        slug="extract",
        title="Models and activations",
        summary=f"{len(subpages)} model(s)",
        sections=[
            Section(
                "Models",
                [Table(["model", "source", "activation stores"], rows)],
            )
        ],
        subpages=subpages,
    )


def _model_page(ctx: ReportContext, model_dir: Path) -> Page:
    name = model_dir.name
    sections: list[Section] = []
    source = ""
    stores = sorted(model_dir.glob("*.zarr"))
    for store in stores:
        blocks, store_source = _store_blocks(ctx, name, store)
        source = source or store_source
        sections.append(Section(f"Stimulus set {store.stem}", blocks))
    return Page(
        slug=slugify(f"extract-{name}"),
        title=f"Model {name}",
        summary=f"{len(stores)} activation store(s)",
        sections=sections,
        extra={"model": name, "source": source, "stores": len(stores)},
    )


def _store_blocks(ctx: ReportContext, model: str, store: Path) -> tuple[list[Block], str]:
    try:
        ds = open_activations(ctx.read(store))
    except NeuroalignError as err:
        return [Notice(f"{store.name} is not shown: {err}", "warning")], ""
    attrs = dict(ds.attrs)
    blocks: list[Block] = []
    spaces = [n for n, v in ds.data_vars.items() if v.dims[:1] == ("item",) and v.ndim >= 2]
    layers = ds.coords["layer"].values if "layer" in ds.coords else np.array([])
    names = ds.coords["layer_name"].values if "layer_name" in ds.coords else layers
    rows = [
        ["items", ds.sizes.get("item", 0)],
        ["layers", f"{len(layers)}: " + ", ".join(map(str, layers))],
        ["first layer module", as_text(names[0]) if len(names) else ""],
    ]
    for space in spaces:
        shape = " x ".join(f"{d} {ds.sizes[d]}" for d in ds[space].dims)
        rows.append([f"unit space {space}", shape])
    blocks.append(Table(["field", "value"], rows))
    for space in spaces:
        if "layer" in ds[space].dims:
            blocks.append(_norm_figure(ctx, model, store.stem, ds[space]))
    prov = [[k, as_text(attrs[k], limit=120)] for k in PROVENANCE_KEYS if k in attrs]
    if prov:
        blocks.append(Table(["provenance", "value"], prov))
    return blocks, as_text(attrs.get("model", ""))


def _norm_trend(layers, mean: np.ndarray) -> str:
    """What the plotted norms do over depth, in words (so the caption agrees with the plot)."""
    if len(mean) < 2 or not np.all(np.isfinite(mean)):
        return ""
    first, last = float(mean[0]), float(mean[-1])
    if np.all(np.diff(mean) > 0):
        trend = "rises at every layer"
    elif np.all(np.diff(mean) < 0):
        trend = "falls at every layer"
    elif last > first:
        trend = "rises overall, not at every layer"
    elif last < first:
        trend = "falls overall, not at every layer"
    else:
        trend = "ends where it starts"
    return (
        f"Here the mean norm {trend}: {first:.3g} at layer {layers[0]}, {last:.3g} at layer "
        f"{layers[-1]}."
    )


def _norm_figure(ctx: ReportContext, model: str, stimset: str, var: xr.DataArray) -> Block:
    n_items = var.sizes["item"]
    take = np.unique(np.linspace(0, n_items - 1, min(n_items, MAX_ITEMS)).astype(int))
    values = np.asarray(var.isel(item=take).transpose("item", "layer", ...).values, dtype=float)
    values = values.reshape(values.shape[0], values.shape[1], -1)
    norms = np.linalg.norm(values, axis=-1)
    layers = var.coords["layer"].values
    fig = MplFigure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    mean, sd = norms.mean(axis=0), norms.std(axis=0)
    ax.plot(layers, mean, marker="o", color=PLANTED_COLOR)
    ax.fill_between(layers, mean - sd, mean + sd, color=PLANTED_COLOR, alpha=0.2)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"L2 norm of {var.name}")
    ax.set_title(f"{model} on {stimset}: {var.name} norm by layer", fontsize=10)
    return ctx.save_figure(
        fig,
        slugify(f"extract-{model}-{stimset}-{var.name}-norms"),
        alt=f"Line plot of the mean L2 norm of {var.name} activations per layer of {model}.",
        caption=f"Mean (line) and SD (band) over {len(take)} items of the L2 norm of each item's "
        f"{var.name} vector, per layer. {_norm_trend(layers, mean)} A sudden jump or a flat zero "
        "points to a hooking or pooling problem.",
    )
