"""Voxel captions (BrainSCUBA): what each ROI's encoder weights describe, in words.

Reads every ``<results>/diffusion/captions/<name>/sub-<subject>.parquet`` written by
``neuroalign caption-voxels``: one row per ROI with its caption, the softmax-weighted norm of
the projection and its top bank images (copied into ``figures/captions/`` when their files
exist).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.diffusion.brainscuba import read_captions
from neuroalign.report._format import slugify
from neuroalign.report.blocks import Block, Figure, Gallery, Notice, Page, Section, Table
from neuroalign.report.context import FIGURE_DIR, ReportContext

SIMULATED_NOTICE = (
    "Simulated data: the encoder was fitted on a simulated vision dataset (planted ROIs); its "
    "captions come from the simulated images' own descriptions."
)
#: Top bank images listed and shown per ROI.
N_TOP = 4
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def collect(ctx: ReportContext) -> Page | None:
    """The captions page, one section per captions table, or None without any."""
    folder = ctx.results_path("diffusion", "captions")
    files = sorted(folder.glob("*/sub-*.parquet")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    sections, simulated = [], []
    for path in files:
        name = f"{path.parent.name}/{path.stem}"
        try:
            table, meta = read_captions(ctx.read(path))
        except NeuroalignError as err:
            sections.append(Section(f"Captions {name}", [Notice(f"{name}: {err}", "warning")]))
            simulated.append(False)
            continue
        simulated.append(meta.get("simulated") == "true")
        sections.append(_section(ctx, table, meta, name, simulated[-1]))
    return Page(
        slug="captions",
        title="Voxel captions",
        summary=f"{len(files)} caption table(s): BrainSCUBA captions per ROI",
        sections=sections,
        simulated=all(simulated),
    )


def caption_rows(table) -> list[list[str]]:
    """Rows of the caption table: ROI, voxels, the most frequent words of its voxels' captions
    (when voxels were captioned), caption, norm, top images with their weights."""
    rows = []
    words = "top_words" in table.columns
    for rec in table.itertuples(index=False):
        ids = list(rec.top_image_ids)[:N_TOP]
        weights = list(rec.top_weights)[:N_TOP]
        top = ", ".join(f"{i} ({float(w):.2f})" for i, w in zip(ids, weights, strict=True))
        norm = float(rec.norm)
        row = [str(rec.roi), str(int(rec.n_voxels))]
        if words:
            row.append(", ".join(list(rec.top_words)))
        row += [str(rec.caption), f"{norm:.3f}" if np.isfinite(norm) else "", top]
        rows.append(row)
    return rows


def _section(ctx: ReportContext, table, meta: dict, name: str, simulated: bool) -> Section:
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    config = str(meta.get("config", ""))
    words = "top_words" in table.columns
    header = ["ROI", "voxels"] + (["words of its voxels' captions (voxels)"] if words else [])
    header += ["caption of the ROI direction", "norm", f"top {N_TOP} bank images (softmax weight)"]
    per_voxel = (
        "Every voxel's own weight direction is projected and captioned (BrainSCUBA's unit); the "
        "words column counts, per ROI, the voxels whose caption holds each word. "
        if words
        else ""
    )
    blocks.append(
        Table(
            header,
            caption_rows(table),
            caption=f"{per_voxel}Each ROI's direction (mean of its voxels' unit-normalized "
            "encoder weights) projected onto the bank of image embeddings with a softmax "
            f"(temperature {_temperature(config)}) and captioned by: "
            f"{meta.get('captioner', '')}. Norm: the softmax-weighted norm of the bank "
            "embeddings.",
        )
    )
    slug = slugify(f"captions-{name}")
    gallery, missing = [], 0
    for rec in table.itertuples(index=False):
        row = []
        for rank, (image_id, path) in enumerate(
            zip(list(rec.top_image_ids)[:N_TOP], list(rec.top_images)[:N_TOP], strict=False)
        ):
            if not path or not Path(path).is_file():
                missing += 1
                continue
            rel = f"{FIGURE_DIR}/captions/{slug}/{_SAFE.sub('_', f'{rec.roi}_{rank}.png')}"
            (ctx.site / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ctx.read(path), ctx.site / rel)
            row.append(
                Figure(
                    src=rel,
                    alt=f"bank image {image_id}, rank {rank + 1} for {rec.roi}",
                    caption=f"{rec.roi}: {image_id} (rank {rank + 1})",
                )
            )
        if row:
            gallery.append(row)
    if gallery:
        blocks.append(
            Gallery(gallery, caption="Per ROI, the bank images with the highest softmax weight.")
        )
    else:
        blocks.append(Notice("The bank's image files are not available to show.", "info"))
    if missing and gallery:
        blocks.append(Notice(f"{missing} top bank image file(s) were not found.", "warning"))
    return Section(f"Captions {name}", blocks)


def _temperature(config: str) -> str:
    match = re.search(r'"temperature":\s*([0-9.eE+-]+)', config)
    return f"{float(match.group(1)):g}" if match else "?"
