"""Simulated datasets: planted ground truth and how well the pipeline recovered it.

Reads ``<data_root>/raw/sim_<kind>/derivatives/neuroalign-truth/truth.json`` (a summary of what was
planted) and ``<results>/simulate/sim_<kind>_recovery.nc``, where every recovered quantity is a pair
of variables ``planted_<name>`` and ``recovered_<name>`` with the same dims, and
``attrs["summary"]`` holds the recovery metrics as a JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.report._format import as_text, flatten, slugify
from neuroalign.report.blocks import (
    Block,
    DatasetEntry,
    Link,
    Notice,
    Page,
    Section,
    Table,
)
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import is_curve_map, recovery_figure
from neuroalign.report.stages._read import read_json
from neuroalign.results import load_netcdf

TRUTH = Path("derivatives") / "neuroalign-truth" / "truth.json"
SIMULATED_NOTICE = (
    "Simulated data: every value on this page comes from a dataset that neuroalign simulate "
    "generated with a planted ground truth. Nothing here is a measurement of a brain."
)
N_LINES = 3


def collect(ctx: ReportContext) -> Page | None:
    """The page of simulated datasets, or None when there is neither truth nor recovery."""
    truths: dict[str, Path] = {}
    if ctx.data_root is not None:
        truths = {
            p.parents[2].name: p for p in sorted((ctx.data_root / "raw").glob(f"sim_*/{TRUTH}"))
        }
    recoveries: dict[str, Path] = {}
    if ctx.results is not None:
        for path in sorted((ctx.results / "simulate").glob("sim_*_recovery.nc")):
            recoveries[path.name.removesuffix("_recovery.nc")] = path
    names = sorted(set(truths) | set(recoveries))
    if not names:
        return None
    subpages = [_dataset_page(ctx, name, truths.get(name), recoveries.get(name)) for name in names]
    rows = [
        [
            Link(sub.extra["dataset"], sub.href),
            "yes" if sub.extra["truth"] else "no",
            ", ".join(sub.extra["quantities"]) or "not run",
            "; ".join(f"{k} = {as_text(v)}" for k, v in sub.extra["metrics"].items()),
        ]
        for sub in subpages
    ]
    table = Table(["dataset", "planted truth", "recovered quantities", "recovery metrics"], rows)
    return Page(
        slug="simulate",
        title="Simulated datasets: recovered vs planted",
        summary=f"{len(subpages)} simulated dataset(s) with planted ground truth",
        sections=[Section("Datasets", [Notice(SIMULATED_NOTICE, "simulated"), table])],
        subpages=subpages,
        simulated=True,
        datasets=[sub.datasets[0] for sub in subpages],
    )


def _dataset_page(
    ctx: ReportContext, name: str, truth_path: Path | None, recovery_path: Path | None
) -> Page:
    slug = slugify(f"simulate-{name}")
    sections = [Section("About", [Notice(SIMULATED_NOTICE, "simulated")])]
    truth: Mapping[str, Any] = {}
    if truth_path is not None:
        truth = read_json(ctx.read(truth_path))
        if not isinstance(truth, Mapping):
            raise NeuroalignError(f"{truth_path}: the planted truth must be a JSON object.")
    quantities: list[str] = []
    metrics: dict[str, Any] = {}
    if recovery_path is not None:
        recovery = load_netcdf(ctx.read(recovery_path), "recovery result")
        metrics = _summary(recovery, recovery_path)
        quantities, blocks = _recovery_blocks(ctx, name, recovery)
        sections.append(Section("Recovery metrics", _metrics_blocks(metrics)))
        sections.append(Section("Recovered vs planted", blocks))
        attrs = {k: as_text(v) for k, v in recovery.attrs.items() if k != "summary"}
        sections.append(
            Section(
                f"Provenance of {recovery_path.name}",
                [Table(["attribute", "value"], [[k, v] for k, v in sorted(attrs.items())])],
            )
        )
    else:
        sections.append(
            Section(
                "Recovery",
                [
                    Notice(
                        "No recovery results yet: run the stages that analyse this dataset.",
                        "warning",
                    )
                ],
            )
        )
    if truth:
        rows = [[k, as_text(v)] for k, v in flatten(truth).items()]
        sections.append(
            Section(
                "Planted truth",
                [
                    Table(
                        ["field", "value"],
                        rows,
                        caption=f"From {TRUTH.as_posix()} in the dataset folder.",
                    )
                ],
            )
        )
    title = truth.get("title") if isinstance(truth.get("title"), str) else None
    entry = DatasetEntry(
        id=name,
        title=title or f"Simulated {name.removeprefix('sim_')} data (planted ground truth)",
        simulated=True,
        href=f"{slug}.html",
        checks="simulated",
    )
    return Page(
        slug=slug,
        title=f"Simulated dataset {name}",
        summary=entry.title,
        sections=sections,
        simulated=True,
        datasets=[entry],
        extra={"dataset": name, "truth": bool(truth), "quantities": quantities, "metrics": metrics},
    )


def _summary(ds: xr.Dataset, path: Path) -> dict[str, Any]:
    text = ds.attrs.get("summary")
    if text is None:
        return {}
    try:
        summary = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        raise NeuroalignError(
            f"{path}: attribute 'summary' is not JSON. Rerun the stage that wrote it."
        ) from None
    if not isinstance(summary, Mapping):
        raise NeuroalignError(f"{path}: attribute 'summary' must be a JSON object of metrics.")
    return flatten(summary)


def _metrics_blocks(metrics: Mapping[str, Any]) -> list[Block]:
    if not metrics:
        return [Notice("The recovery file has no metrics summary.", "warning")]
    rows = [[k, as_text(v)] for k, v in metrics.items()]
    return [
        Table(
            ["metric", "value"],
            rows,
            caption="Simulated data: recovery metrics as saved "
            "by the analysis (higher correlation, lower error: better recovery).",
        )
    ]


def _recovery_blocks(
    ctx: ReportContext, dataset: str, ds: xr.Dataset
) -> tuple[list[str], list[Block]]:
    variables = [str(v) for v in ds.data_vars]
    planted = sorted(v.removeprefix("planted_") for v in variables if v.startswith("planted_"))
    recovered = sorted(
        v.removeprefix("recovered_") for v in variables if v.startswith("recovered_")
    )
    pairs = [n for n in planted if n in recovered]
    blocks: list[Block] = []
    scalars = []
    for name in pairs:
        p, r = ds[f"planted_{name}"].rename(name), ds[f"recovered_{name}"].rename(name)
        if p.dims != r.dims or p.shape != r.shape:
            raise NeuroalignError(
                f"{dataset} recovery: 'planted_{name}' {p.dims}{p.shape} and 'recovered_{name}' "
                f"{r.dims}{r.shape} differ; rerun the analysis so both have the same dims."
            )
        if p.size == 1:
            scalars.append([name, as_text(p.values.item()), as_text(r.values.item())])
            continue
        if _is_binary(p) and _is_binary(r):
            blocks.append(_mask_table(dataset, name, p, r))
            continue
        fig = recovery_figure(p, r, n_lines=N_LINES)
        name_stem = slugify(f"recovery-{dataset}-{name}")
        blocks.append(ctx.save_figure(fig, name_stem, **_describe(dataset, name, p)))
    if scalars:
        blocks.insert(
            0,
            Table(
                ["quantity", "planted", "recovered"],
                scalars,
                caption=f"Simulated data ({dataset}): single-valued quantities.",
            ),
        )
    unpaired = sorted(set(planted) ^ set(recovered))
    if unpaired:
        blocks.append(
            Notice(
                "Variables without their planted/recovered partner (not plotted): "
                + ", ".join(unpaired),
                "warning",
            )
        )
    if not pairs:
        blocks.append(Notice("The recovery file holds no planted_/recovered_ pairs.", "warning"))
    return pairs, blocks


def _describe(dataset: str, name: str, planted: xr.DataArray) -> dict[str, str]:
    """Alt text and caption of a recovery figure, matching `recovery_figure`'s layout."""
    dims = " x ".join(f"{d} ({n})" for d, n in planted.sizes.items()) or "scalar"
    if is_curve_map(planted):
        row, col = planted.dims
        return {
            "alt": f"Heatmaps of planted and recovered {name} ({dims}) for simulated dataset "
            f"{dataset}, and line plots of the {N_LINES} {row} with the largest planted norm.",
            "caption": f"Simulated data ({dataset}). Left and middle: planted and recovered "
            f"{name} over {row} and {col}, on one colour scale (red positive, blue negative). "
            f"Right: planted (solid) and recovered (dashed) {name} along {col} for the {row} "
            "with the largest planted norm. Good recovery: the two heatmaps look alike and "
            "the dashed curves follow the solid ones.",
        }
    return {
        "alt": f"Scatter plot of recovered against planted {name} ({dims}) for simulated "
        f"dataset {dataset}, with the identity line.",
        "caption": f"Simulated data ({dataset}). Each point is one element of {name} ({dims}): "
        "its planted value (x) and the value the analysis recovered (y); large arrays show a "
        "random sample of their elements (the title gives the count). Points on the dashed "
        "identity line are recovered exactly.",
    }


def _is_binary(array: xr.DataArray) -> bool:
    values = np.asarray(array.values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return values.dtype.kind in "biuf" and bool(np.isin(finite, (0, 1)).all())


def _mask_table(dataset: str, name: str, planted: xr.DataArray, recovered: xr.DataArray) -> Table:
    """Counts of agreement between a planted and a recovered 0/1 mask."""
    p = np.asarray(planted.values).ravel() == 1
    r = np.asarray(recovered.values).ravel() == 1
    dims = " x ".join(f"{d} ({n})" for d, n in planted.sizes.items())
    rows = [
        ["planted and recovered", int(np.sum(p & r))],
        ["planted, not recovered (missed)", int(np.sum(p & ~r))],
        ["recovered, not planted (false alarm)", int(np.sum(~p & r))],
        ["neither", int(np.sum(~p & ~r))],
    ]
    return Table(
        [f"{name} ({dims})", "elements"],
        rows,
        caption=f"Simulated data ({dataset}): agreement of the planted and recovered {name}, "
        "counted over all elements.",
    )
