"""Stimulus tables: one row per set on the stage page, one page per set.

Reads ``<results>/stimuli/<stimset>.parquet`` (one row per word or image, with onsets and runs);
the table's provenance is the JSON stored under the ``neuroalign`` key of the Parquet schema
metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neuroalign._check import NeuroalignError
from neuroalign.data.stimuli import COLUMNS
from neuroalign.report._format import as_text, flatten, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import bar_figure, histogram_figure

N_PREVIEW = 20
SIMULATED_NOTICE = (
    "Simulated data: this stimulus set belongs to a dataset generated with a planted ground "
    "truth, not to a recording."
)
# Every column of a stimulus table but the set's name (the page's title).
PREVIEW_COLUMNS = tuple(c for c in COLUMNS if c != "stimset")


def collect(ctx: ReportContext) -> Page | None:
    """The page of stimulus sets, or None when no stimulus table exists."""
    folder = ctx.results_path("stimuli")
    paths = sorted(folder.glob("*.parquet")) if folder is not None else []
    if not paths:
        return None
    subpages = [_set_page(ctx, ctx.read(path)) for path in paths]
    rows = [
        [
            Link(sub.extra["stimset"], sub.href),
            sub.extra["rows"],
            sub.extra["runs"],
            sub.extra["stories"],
            sub.extra["timing"],
        ]
        for sub in subpages
    ]
    table = Table(
        ["stimulus set", "rows", "runs", "stories", "has timing"],
        rows,
        caption="Has timing: every row has an onset (yes), some do (partial), none (no).",
    )
    return Page(
        slug="stimuli",
        title="Stimulus sets",
        summary=f"{len(subpages)} stimulus table(s)",
        sections=[Section("Stimulus sets", [table])],
        subpages=subpages,
    )


def _read(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise NeuroalignError(
            f"{path}: cannot be read as Parquet ({err}). Rerun `neuroalign stimuli`."
        ) from None
    raw = (table.schema.metadata or {}).get(b"neuroalign")
    provenance: dict[str, Any] = {}
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            loaded = {"neuroalign": raw.decode(errors="replace")}
        provenance = loaded if isinstance(loaded, dict) else {"neuroalign": loaded}
    return table.to_pandas(), provenance


def _count(frame: pd.DataFrame, column: str) -> int | None:
    return int(frame[column].nunique(dropna=True)) if column in frame else None


def _timing(frame: pd.DataFrame) -> str:
    if "onset" not in frame or not len(frame):
        return "no"
    present = frame["onset"].notna()
    return "yes" if present.all() else "partial" if present.any() else "no"


def _set_page(ctx: ReportContext, path: Path) -> Page:
    frame, provenance = _read(path)
    stimset = path.stem
    if "stimset" in frame and frame["stimset"].nunique() == 1:
        stimset = str(frame["stimset"].iloc[0])
    slug = slugify(f"stimuli-{stimset}")
    timing = _timing(frame)
    sections = [
        Section(
            "Summary",
            [
                Table(
                    ["field", "value"],
                    [
                        ["file", path.name],
                        ["rows", len(frame)],
                        ["runs", _count(frame, "run")],
                        ["stories", _count(frame, "story")],
                        ["conditions", _count(frame, "condition")],
                        ["has timing", timing],
                        ["columns", ", ".join(map(str, frame.columns))],
                    ],
                )
            ],
        ),
        Section("First rows", [_preview(frame)]),
        Section("Figures", _figures(ctx, stimset, frame, timing)),
    ]
    if provenance:
        rows = [[k, as_text(v)] for k, v in sorted(flatten(provenance).items())]
        sections.append(Section("Provenance", [Table(["field", "value"], rows)]))
    simulated = str(provenance.get("dataset", "")).startswith("sim_")
    if simulated:
        sections[0].blocks.insert(0, Notice(SIMULATED_NOTICE, "simulated"))
    return Page(
        slug=slug,
        title=f"Stimulus set {stimset}",
        summary=f"{len(frame)} rows",
        sections=sections,
        simulated=simulated,
        extra={
            "stimset": stimset,
            "rows": len(frame),
            "runs": _count(frame, "run"),
            "stories": _count(frame, "story"),
            "timing": timing,
        },
    )


def _preview(frame: pd.DataFrame) -> Table:
    columns = [c for c in PREVIEW_COLUMNS if c in frame] or [str(c) for c in frame.columns]
    head = frame.loc[:, columns].head(N_PREVIEW)
    rows = [[_cell(v) for v in record] for record in head.itertuples(index=False)]
    return Table(columns, rows, caption=f"The first {len(head)} of {len(frame)} rows.")


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return as_text(value.item() if isinstance(value, np.generic) else value, limit=80)


def _count_figure(
    ctx: ReportContext, stimset: str, frame: pd.DataFrame, column: str, *, alt: str, caption: str
) -> Block:
    """A bar chart of the number of rows per value of ``column``, saved in the site."""
    counts = frame.groupby(column, dropna=True, sort=True).size()
    fig = bar_figure(
        list(counts.index),
        counts.to_numpy(),
        xlabel=column,
        ylabel="rows",
        title=f"{stimset}: rows per {column}",
    )
    return ctx.save_figure(
        fig, slugify(f"stimuli-{stimset}-per-{column}"), alt=alt, caption=caption
    )


def _figures(ctx: ReportContext, stimset: str, frame: pd.DataFrame, timing: str) -> list[Block]:
    blocks: list[Block] = []
    if "run" in frame and frame["run"].notna().any():
        blocks.append(
            _count_figure(
                ctx,
                stimset,
                frame,
                "run",
                alt=f"Bar chart of the number of rows (words or images) in each run of {stimset}.",
                caption="Rows per run: how many stimuli (words or images) each run holds. Runs of "
                "very different lengths can point to a truncated or merged event file.",
            )
        )
    if "condition" in frame and frame["condition"].nunique(dropna=True) > 1:
        blocks.append(
            _count_figure(
                ctx,
                stimset,
                frame,
                "condition",
                alt=f"Bar chart of the number of rows in each condition of {stimset}.",
                caption="Rows per condition: the balance of the experimental conditions.",
            )
        )
    if timing != "no":
        fig = histogram_figure(
            frame["onset"].to_numpy(dtype=float), xlabel="onset (s)", title=f"{stimset}: onsets"
        )
        blocks.append(
            ctx.save_figure(
                fig,
                slugify(f"stimuli-{stimset}-onsets"),
                alt=f"Histogram of stimulus onset times in seconds for {stimset}, all runs pooled.",
                caption="Onset times within their run (seconds), all runs pooled: gaps show "
                "silences or missing annotations.",
            )
        )
    if not blocks:
        blocks.append(Notice("This table has no run, condition or onset column to plot."))
    return blocks
