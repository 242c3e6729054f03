"""Reconstruction gallery: ground-truth images next to their reconstructions.

Reads every ``<results>/vision/decode/<dataset>/sub-<subject>/<model>/reconstruct/<name>/``
folder written by ``neuroalign reconstruct`` (``recons.parquet`` and the PNGs it names). For each
shown image: the ground truth (when the run had a stimulus table), then its samples, the chosen
one first. The images are copied into the site's ``figures/gallery/`` folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.report._format import slugify
from neuroalign.report.blocks import Block, Figure, Gallery, Notice, Page, Section, Table
from neuroalign.report.context import FIGURE_DIR, ReportContext
from neuroalign.vision.reconstruct import read_recons

SIMULATED_NOTICE = (
    "Simulated data: these reconstructions come from embeddings decoded from a simulated vision "
    "dataset (planted voxels), through a pipeline that may have random weights."
)
#: At most this many images per reconstruction run are shown.
N_SHOWN = 8
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def collect(ctx: ReportContext) -> Page | None:
    """The gallery page, one section per reconstruction run, or None without reconstructions."""
    folder = ctx.results_path("vision", "decode")
    tables = sorted(folder.rglob("reconstruct/*/recons.parquet")) if folder else []
    if not tables:
        return None
    sections, simulated = [], []
    for path in tables:
        run = path.parent
        name = run.relative_to(folder).as_posix()
        dataset = name.split("/", 1)[0]
        simulated.append(dataset.startswith("sim_"))
        sections.append(_run_section(ctx, run, name, simulated[-1]))
    return Page(
        slug="vision-gallery",
        title="Reconstructions",
        summary=f"{len(tables)} reconstruction run(s): ground truth next to reconstructions",
        sections=sections,
        simulated=all(simulated),
    )


def gallery_order(table: pd.DataFrame, n_shown: int = N_SHOWN) -> list[tuple[str, list[int]]]:
    """The shown images in table order, each with its rows: the chosen sample first, then by k."""
    out = []
    for image_id in pd.unique(table["image_id"])[:n_shown]:
        rows = table[table["image_id"] == image_id]
        rows = rows.sort_values(["chosen", "sample"], ascending=[False, True], kind="stable")
        out.append((str(image_id), [int(i) for i in rows.index]))
    return out


def _copy(ctx: ReportContext, source: Path, slug: str, name: str) -> str:
    rel = f"{FIGURE_DIR}/gallery/{slug}/{_SAFE.sub('_', name)}"
    target = ctx.site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.read(source), target)
    return rel


def _run_section(ctx: ReportContext, run: Path, name: str, simulated: bool) -> Section:
    try:
        table, meta = read_recons(run)
    except NeuroalignError as err:
        return Section(f"Run {name}", [Notice(f"{name} is not shown: {err}", "warning")])
    ctx.read(run / "recons.parquet")
    slug = slugify(f"gallery-{name}")
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    gallery = []
    for image_id, rows in gallery_order(table):
        figures = []
        truth = str(table.loc[rows[0], "truth"] or "")
        if truth and (run / truth).is_file():
            src = _copy(ctx, run / truth, slug, f"{image_id}_truth.png")
            figures.append(
                Figure(
                    src=src,
                    alt=f"Ground-truth image {image_id}",
                    caption=f"{image_id}: ground truth",
                )
            )
        for row in rows:
            rec = table.loc[row]
            src = _copy(ctx, run / str(rec["path"]), slug, Path(str(rec["path"])).name)
            tag = "chosen, " if bool(rec["chosen"]) else ""
            figures.append(
                Figure(
                    src=src,
                    alt=f"Reconstruction {int(rec['sample'])} of image {image_id}",
                    caption=f"sample {int(rec['sample'])} ({tag}cosine "
                    f"{float(rec['cosine']):.3f}, seed {int(rec['seed'])})",
                )
            )
        gallery.append(figures)
    shown = min(N_SHOWN, table["image_id"].nunique())
    blocks.append(
        Gallery(
            gallery,
            caption=f"One row per image ({shown} of {table['image_id'].nunique()} shown): the "
            "ground truth, then the chosen sample (highest cosine between its embedding and the "
            "decoded one, or sample 0), then the other samples.",
        )
    )
    rows = [
        [r.image_id, int(r.sample), int(r.seed), f"{float(r.cosine):.3f}", "yes" * bool(r.chosen)]
        for r in table.itertuples()
    ]
    blocks.append(
        Table(
            ["image", "sample", "seed", "cosine to prediction", "chosen"],
            rows,
            caption="Seed table: every sample's seed (SeedSequence of the base seed, the image's "
            "index and the sample) and the cosine between its embedding and the decoded one.",
        )
    )
    settings = meta.get("config", "")
    info = [
        ["pipeline", str(meta.get("pipeline", ""))],
        ["settings", str(settings)],
        ["libraries", str(meta.get("libraries", ""))],
        ["created", str(meta.get("created", ""))],
    ]
    blocks.append(Table(["attribute", "value"], info, caption="Provenance of the run."))
    return Section(f"Run {name}", blocks)
