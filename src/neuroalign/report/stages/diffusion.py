"""Brain-guided synthesis: per ROI, the best guided images next to their unguided twins, and the
evaluation's statistics.

Reads every ``<results>/diffusion/eval/<run>/sub-<subject>.nc`` written by ``neuroalign
evaluate-synthesis`` and the images of the synthesis run it scored
(``<results>/diffusion/synth/<run>/sub-<subject>/``, the ``manifest.parquet`` folder). The images
are copied into the site's ``figures/diffusion/`` folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign._check import NeuroalignError
from neuroalign.report._format import slugify
from neuroalign.report.blocks import Block, Figure, Gallery, Notice, Page, Section, Table
from neuroalign.report.context import FIGURE_DIR, ReportContext
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: the guiding encoder was fitted on a simulated vision dataset (planted ROIs), "
    "and the diffusion model may have random weights: these images test the pipeline, not what "
    "a brain region prefers."
)
#: Guided images shown per target (best by the guiding encoder), each next to its twin.
N_SHOWN = 6
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _fmt(value, digits: int = 3) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{value:.{digits}f}" if np.isfinite(value) else ""


def _p(value) -> str:
    value = float(value)
    if not np.isfinite(value):
        return ""
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_text(value) -> str:
    text = _p(value)
    return text if text.startswith("<") else f"= {text}"


def _interval(low, high) -> str:
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"[{_fmt(low)}, {_fmt(high)}]"


def collect(ctx: ReportContext) -> Page | None:
    """The synthesis page, one section per evaluated run and subject, or None without any."""
    folder = ctx.results_path("diffusion", "eval")
    files = sorted(folder.glob("*/sub-*.nc")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    sections, simulated, headlines = [], [], []
    for path in files:
        name = f"{path.parent.name}/{path.stem}"
        try:
            ds = load_netcdf(ctx.read(path), "synthesis evaluation")
        except NeuroalignError as err:
            sections.append(Section(f"Run {name}", [Notice(f"{name}: {err}", "warning")]))
            simulated.append(False)
            continue
        simulated.append(ds.attrs.get("simulated") == "true")
        headlines.append(headline(ds, name))
        synth = ctx.results_path("diffusion", "synth", path.parent.name, path.stem)
        sections.append(_run_section(ctx, ds, name, synth, simulated[-1]))
    return Page(
        slug="diffusion",
        title="Brain-guided synthesis",
        summary=f"{len(files)} evaluated synthesis run(s): guided vs unguided images per ROI",
        sections=sections,
        simulated=all(simulated),
        headline=first_headline(headlines),
    )


def headline(ds: xr.Dataset, where: str) -> Headline | None:
    """The first ROI target's guided - unguided mean difference under the guiding encoder."""
    for target in ds["target"].values:
        d = ds["diff"].sel(encoder=ds["encoder"].values[0], target=target)
        if np.isfinite(float(d.sel(stat="mean"))):
            return Headline(
                f"{target}: mean guided - unguided prediction",
                float(d.sel(stat="mean")),
                float(d.sel(stat="low")),
                float(d.sel(stat="high")),
                interval=f"{_level(ds)} bootstrap interval over seeds",
                where=where,
                note=f"Wilcoxon p {_p_text(d.sel(stat='p'))}, {int(d.sel(stat='n'))} seeds",
            )
    return None


def _level(ds: xr.Dataset) -> str:
    import json

    try:
        level = float(json.loads(ds.attrs.get("config", "{}")).get("ci_level", 0.95))
    except (ValueError, TypeError):
        level = 0.95
    return f"{100 * level:g}%"


def stats_rows(ds: xr.Dataset) -> list[list[str]]:
    """One row per (target, encoder): the paired differences, selectivity and the top fraction."""
    rows = []
    for target in ds["target"].values:
        for enc in ds["encoder"].values:
            d = ds["diff"].sel(encoder=enc, target=target)
            if not np.isfinite(float(d.sel(stat="n"))) or float(d.sel(stat="n")) == 0:
                continue
            s = ds["selectivity_diff"].sel(encoder=enc, target=target)
            top = ds["top_mean"].sel(encoder=enc, target=target)
            rows.append(
                [
                    str(target),
                    str(enc),
                    str(int(d.sel(stat="n"))),
                    _fmt(d.sel(stat="mean")),
                    _interval(d.sel(stat="low"), d.sel(stat="high")),
                    _p(d.sel(stat="p")),
                    _fmt(100 * float(d.sel(stat="frac_positive")), 0),
                    _fmt(s.sel(stat="mean")),
                    _interval(s.sel(stat="low"), s.sel(stat="high")),
                    _p(s.sel(stat="p")),
                    _fmt(top.sel(set="guided_top")),
                    _fmt(top.sel(set="unguided_top")),
                ]
            )
    return rows


STATS_COLUMNS = [
    "ROI",
    "encoder",
    "seeds",
    "mean Δ",
    "CI",
    "Wilcoxon p",
    "% seeds Δ > 0",
    "selectivity Δ",
    "CI",
    "p",
    "kept guided mean",
    "kept unguided mean",
]


def agreement_rows(ds: xr.Dataset) -> list[list[str]]:
    """Guiding vs held-out encoder: Spearman r and each one's mean difference per target."""
    if "held_out" not in ds["encoder"].values:
        return []
    rows = []
    for target in ds["target"].values:
        r = float(ds["agreement"].sel(target=target))
        g = ds["diff"].sel(encoder="guiding", target=target, stat="mean")
        h = ds["diff"].sel(encoder="held_out", target=target, stat="mean")
        if np.isfinite(r) or np.isfinite(float(h)):
            rows.append([str(target), _fmt(r), _fmt(g), _fmt(h)])
    return rows


def gallery_order(ds: xr.Dataset, target: str, n_shown: int = N_SHOWN) -> list[int]:
    """Seeds of the shown guided images: best first by the guiding score of the target."""
    seeds = ds["seed"].values
    if target in ds["roi"].values:
        score = ds["score"].sel(encoder=ds["encoder"].values[0], target=target, roi=target)
        score = score.sel(condition="guided").values
    else:
        score = ds["objective"].sel(target=target, condition="guided").values
    finite = np.flatnonzero(np.isfinite(score))
    order = finite[np.argsort(-score[finite], kind="stable")]
    return [int(seeds[i]) for i in order[:n_shown]]


def _copy(ctx: ReportContext, source: Path, slug: str, name: str) -> str:
    rel = f"{FIGURE_DIR}/diffusion/{slug}/{_SAFE.sub('_', name)}"
    target = ctx.site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.read(source), target)
    return rel


def _target_score(ds: xr.Dataset, target: str, condition: str, seed: int) -> float:
    if target in ds["roi"].values:
        return float(
            ds["score"].sel(
                encoder=ds["encoder"].values[0],
                target=target,
                condition=condition,
                seed=seed,
                roi=target,
            )
        )
    return float(ds["objective"].sel(target=target, condition=condition, seed=seed))


def _gallery(ctx: ReportContext, ds: xr.Dataset, target: str, synth: Path | None, slug: str):
    root = synth if synth is not None and synth.is_dir() else Path(ds.attrs.get("images_root", ""))
    rows, missing = [], 0
    for seed in gallery_order(ds, target):
        row = []
        for condition in ("guided", "unguided"):
            rel = str(ds["image"].sel(target=target, condition=condition, seed=seed).values)
            if not rel or not (root / rel).is_file():
                missing += 1
                continue
            src = _copy(ctx, root / rel, slug, f"{target}_{condition}_{seed}.png")
            score = _fmt(_target_score(ds, target, condition, seed))
            row.append(
                Figure(
                    src=src,
                    alt=f"{condition} image of seed {seed} for {target}",
                    caption=f"seed {seed}, {condition} (score {score})",
                )
            )
        if row:
            rows.append(row)
    return rows, missing


def _diff_figure(ctx: ReportContext, ds: xr.Dataset, slug: str) -> Figure | None:
    """Per-seed guided - unguided differences of each target (guiding encoder), mean and CI."""
    targets = [t for t in ds["target"].values if t in ds["roi"].values]
    if not targets:
        return None
    enc = ds["encoder"].values[0]
    values = []
    for t in targets:
        sc = ds["score"].sel(encoder=enc, target=t, roi=t)
        d = (sc.sel(condition="guided") - sc.sel(condition="unguided")).values
        values.append(d[np.isfinite(d)])
    if not any(v.size for v in values):
        return None
    fig = MplFigure(figsize=(1.2 + 0.9 * len(targets), 3.2))
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, (t, v) in enumerate(zip(targets, values, strict=True)):
        ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=12, alpha=0.6, color="tab:blue")
        d = ds["diff"].sel(encoder=enc, target=t)
        low, high = float(d.sel(stat="low")), float(d.sel(stat="high"))
        mean = float(d.sel(stat="mean"))
        if np.isfinite(low) and np.isfinite(high):
            ax.errorbar(i + 0.3, mean, yerr=[[mean - low], [high - mean]], fmt="o", color="k")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(range(len(targets)), [str(t) for t in targets])
    ax.set_xlim(-0.6, len(targets) - 0.3)
    ax.set_ylabel("guided - unguided (ROI mean prediction)")
    ax.set_xlabel("target ROI")
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        f"{slug}-differences",
        alt="Per-seed differences between guided and unguided images, one column per ROI.",
        caption="Each dot is one seed's guided minus unguided prediction of the target ROI "
        "under the guiding encoder; black: mean with its bootstrap interval. Above 0: guidance "
        "raised the ROI.",
    )


def _category_blocks(ds: xr.Dataset) -> list[Block]:
    reason = str(ds.attrs.get("categories", ""))
    if "category_share" not in ds:
        return [Notice(f"Zero-shot category shares: {reason or 'not computed.'}", "info")]
    rows = []
    for target in ds["target"].values:
        preferred = str(ds["preferred_label"].sel(target=target).values)
        for label in ds["label"].values:
            share = ds["category_share"].sel(target=target, label=label)
            rows.append(
                [
                    str(target),
                    str(label) + (" (preferred)" if label == preferred else ""),
                    *[_fmt(100 * float(share.sel(share_set=k)), 1) for k in ds["share_set"].values],
                ]
            )
    return [
        Table(
            ["ROI", "label", "kept guided %", "guided %", "unguided %"],
            rows,
            caption="Zero-shot CLIP categories: each image goes to the label whose prompt is "
            "nearest its embedding; the share of each label among the kept guided images (top "
            "fraction), all guided images and the unguided twins.",
        )
    ]


def _run_section(
    ctx: ReportContext, ds: xr.Dataset, name: str, synth: Path | None, simulated: bool
) -> Section:
    slug = slugify(f"diffusion-{name}")
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    config = ds.attrs.get("config", "")
    blocks.append(Notice(f"Encoders: {ds.attrs.get('encoders', '')}.", "info"))
    rows = stats_rows(ds)
    if rows:
        blocks.append(
            Table(
                STATS_COLUMNS,
                rows,
                caption="Paired guided - unguided differences of the target ROI's mean "
                "prediction (same seeds): mean with a percentile bootstrap interval over seeds, "
                "two-sided Wilcoxon signed-rank p, and the share of seeds that rose; selectivity "
                "is the target minus the other ROIs' mean; kept: the top fraction of each "
                "condition's images by the guiding encoder (BrainDiVE keeps the top 20%).",
            )
        )
        fig = _diff_figure(ctx, ds, slug)
        if fig is not None:
            blocks.append(fig)
    else:
        blocks.append(Notice("No target of this run is an ROI of the encoder.", "info"))
    agree = agreement_rows(ds)
    if agree:
        blocks.append(
            Table(
                ["ROI", "Spearman r (guiding vs held-out)", "mean Δ guiding", "mean Δ held-out"],
                agree,
                caption="Held-out encoder (another backbone, same betas): a guided rise that "
                "the held-out encoder does not see is overfitting to the guide.",
            )
        )
    else:
        blocks.append(Notice("No held-out encoder was configured for this run.", "info"))
    objective = [
        [
            str(t),
            _fmt(ds["objective_diff"].sel(target=t, stat="mean")),
            _interval(
                ds["objective_diff"].sel(target=t, stat="low"),
                ds["objective_diff"].sel(target=t, stat="high"),
            ),
            _p(ds["objective_diff"].sel(target=t, stat="p")),
        ]
        for t in ds["target"].values
        if np.isfinite(float(ds["objective_diff"].sel(target=t, stat="mean")))
    ]
    if objective:
        blocks.append(
            Table(
                ["objective", "mean Δ", "CI", "Wilcoxon p"],
                objective,
                caption="The guiding objective itself (the synthesis manifest's score, which "
                "also covers contrasts and voxel sets), guided minus unguided.",
            )
        )
    blocks += _category_blocks(ds)
    for target in ds["target"].values:
        gallery, missing = _gallery(ctx, ds, str(target), synth, slug)
        if gallery:
            blocks.append(
                Gallery(
                    gallery,
                    caption=f"{target}: the {len(gallery)} best guided images by the guiding "
                    "encoder's score, each next to its unguided twin (same seed).",
                )
            )
        if missing:
            blocks.append(
                Notice(f"{target}: {missing} image file(s) of the run were not found.", "warning")
            )
    if config:
        blocks.append(Table(["attribute", "value"], [["settings", str(config)]], caption=""))
    return Section(f"Run {name}", blocks)
