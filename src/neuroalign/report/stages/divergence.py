"""Where a model's features fail to predict MEG: the word ranking, category contrasts, and the
fine-tuned model against its base and a control.

Reads ``<results>/divergence/<name>/sub-<s>.nc`` (``neuroalign divergence analyze``) and, when
present, ``sub-<s>_finetuned.nc`` beside it (``neuroalign divergence compare``). One subpage per
analysis and subject.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: these errors come from a dataset generated with a planted ground truth, "
    "not from a recording."
)
SHOWN_ATTRS = ("subject", "config_hash", "seed", "neuroalign_version", "created")
MODEL_COLORS = {"base": "0.35", "finetuned": RECOVERED_COLOR, "control": PLANTED_COLOR}


def _summary(ds: xr.Dataset) -> dict:
    try:
        return json.loads(ds.attrs.get("summary", "{}"))
    except (TypeError, ValueError):
        return {}


def collect(ctx: ReportContext) -> Page | None:
    """The divergence page (one subpage per analysis and subject), or None without results."""
    folder = ctx.results_path("divergence")
    if folder is None or not folder.is_dir():
        return None
    files = sorted(p for p in folder.glob("*/sub-*.nc") if not p.stem.endswith("_finetuned"))
    if not files:
        return None
    subpages, rows, headlines = [], [], []
    for path in files:
        name = f"{path.parent.name}/{path.stem}"
        ds = load_netcdf(ctx.read(path), "divergence result")
        compare = path.with_name(path.stem + "_finetuned.nc")
        comp = load_netcdf(ctx.read(compare), "fine-tune comparison") if compare.is_file() else None
        page = _page(ctx, name, ds, comp)
        subpages.append(page)
        s = _summary(ds)
        top = _top(ds)
        rows.append([
            Link(name, page.href), s.get("n_words"), str(top["category"].values),
            _ci_text(top), f"{float(top['test_q']):.3g}", s.get("n_significant"),
            s.get("planted_category") or "none",
        ])  # fmt: skip
        headlines.append(headline(ds, where=name))
    columns = ["analysis", "words", "top category", "error difference (95% CI)", "q"]
    columns += ["categories at q < 0.05", "planted"]
    return Page(
        slug="divergence",
        title="Where models and brains diverge",
        headline=first_headline(headlines),
        summary=f"{len(files)} divergence analysis(es); "
        + "; ".join(h.text() for h in headlines[:2]),
        sections=[
            Section(
                "Analyses",
                [
                    Text(
                        "Each word's MEG response in windows after its onset is predicted from "
                        "the model's features by ridge models fitted on other words; words are "
                        "ranked by their error in the language windows, and each lexicon "
                        "category's mean error is compared with the other words' (category "
                        "labels permuted across words; BH q over categories)."
                    ),
                    Table(columns, rows),
                ],
            )
        ],
        subpages=subpages,
        simulated=all(sub.simulated for sub in subpages),
    )


def _top(ds: xr.Dataset) -> xr.Dataset:
    tests = ds[[v for v in ds.data_vars if v.startswith("test_")]]
    return tests.isel(category=int(np.argmin(tests["test_rank"].values)))


def _ci_text(row: xr.Dataset, prefix: str = "test_") -> str:
    return (
        f"{float(row[prefix + 'difference']):+.3f} [{float(row[prefix + 'ci_low']):+.3f}, "
        f"{float(row[prefix + 'ci_high']):+.3f}]"
    )


def headline(ds: xr.Dataset, where: str = "") -> Headline:
    """The top-ranked category's error difference with its bootstrap interval."""
    top = _top(ds)
    return Headline(
        f"error difference of the top category ({top['category'].values})",
        float(top["test_difference"]), float(top["test_ci_low"]), float(top["test_ci_high"]),
        interval="bootstrap 95% CI", where=where, note=f"q {float(top['test_q']):.3g}",
    )  # fmt: skip


def _page(ctx: ReportContext, name: str, ds: xr.Dataset, comp: xr.Dataset | None) -> Page:
    slug = slugify(f"divergence-{name}")
    simulated = ds.attrs.get("simulated") == "true"
    s = _summary(ds)
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    if simulated:
        planted = s.get("planted_category")
        blocks.append(
            Text(
                f"Planted divergence: the {planted!r} words evoke an extra response no feature "
                "carries; it should rank first and pass."
                if planted
                else "No divergence is planted in this dataset: no category should pass."
            )
        )
    if s.get("warning"):
        blocks.append(Notice(f"Warning: {s['warning']}.", "warning"))
    blocks += [_ranking_figure(ctx, slug, ds), _top_words_table(ds)]
    contrasts = [_contrast_figure(ctx, slug, ds, "test_", "the model's features")]
    contrasts.append(_contrast_table(ds, "test_", "Prediction error by category"))
    if "oracle_difference" in ds:
        contrasts.append(
            _contrast_table(
                ds,
                "oracle_",
                "The same after adding the planted missing feature (the "
                "category's indicator) to the features: the gap should close",
            )
        )
    if "lm_difference" in ds:
        contrasts.append(_contrast_table(ds, "lm_", "The model's next-word loss by category"))
    sections = [Section("Ranking", blocks), Section("Category contrasts", contrasts)]
    if "proposal_text" in ds:
        rows = [
            [str(t), f"{float(a):.3f}"]
            for t, a in zip(ds["proposal_text"].values, ds["proposal_auc"].values, strict=True)
        ]
        sections.append(
            Section(
                "Proposed hypotheses",
                [Table(["description", "held-out AUC"], rows, caption="AUC 0.5 is chance.")],
            )
        )
    if comp is not None:
        sections.append(Section("Fine-tuned vs base", _finetune_blocks(ctx, slug, comp)))
    attrs = [[k, as_text(ds.attrs[k])] for k in SHOWN_ATTRS if k in ds.attrs]
    sections.append(Section("Provenance", [Table(["attribute", "value"], attrs)]))
    return Page(
        slug=slug,
        title=f"Divergence: {name}",
        summary=headline(ds, where=name).text(),
        sections=sections,
        headline=headline(ds, where=name),
        simulated=simulated,
    )


def _categories_of(ds: xr.Dataset, i: int) -> str:
    cats = [str(c) for c in ds["category"].values if bool(ds["member"].sel(category=c)[i])]
    return ", ".join(cats) or "-"


def _ranking_figure(ctx: ReportContext, slug: str, ds: xr.Dataset) -> Block:
    err = ds["error"].values
    order = np.argsort(-err, kind="stable")
    fig = MplFigure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    ranks = np.arange(1, err.size + 1)
    ax.plot(ranks, err[order], color="0.6", lw=1, label="all words")
    top = _top(ds)
    cat = str(top["category"].values)
    member = ds["member"].sel(category=cat).values[order]
    ax.scatter(ranks[member], err[order][member], s=10, color=RECOVERED_COLOR, label=cat, zorder=3)
    ax.set_xlabel("rank of the word (1: worst predicted)")
    ax.set_ylabel("normalized squared error")
    ax.legend(fontsize=8)
    return ctx.save_figure(
        fig, f"{slug}-ranking",
        alt=f"Per-word prediction errors sorted from worst to best, the {cat} words marked",
        caption="Each word's held-out prediction error in the language windows (1: the error "
        "of predicting the mean), sorted; the top-ranked category's words are marked. A "
        "category the features miss piles up on the left.",
    )  # fmt: skip


def _top_words_table(ds: xr.Dataset, n: int = 15) -> Block:
    err = ds["error"].values
    order = np.argsort(-err, kind="stable")[:n]
    rows = [
        [int(i) + 1, str(ds["text"].values[i]), f"{err[i]:.3f}", _categories_of(ds, int(i))]
        for i in order
    ]
    return Table(["word #", "word", "error", "categories"], rows, caption=f"The {n} worst words")


def _contrast_figure(ctx: ReportContext, slug: str, ds: xr.Dataset, prefix: str, what: str):
    cats = [str(c) for c in ds["category"].values]
    diff = ds[prefix + "difference"].values
    lo, hi = ds[prefix + "ci_low"].values, ds[prefix + "ci_high"].values
    q = ds[prefix + "q"].values
    fig = MplFigure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(cats))
    ok = np.isfinite(diff)
    colors = [RECOVERED_COLOR if np.nan_to_num(v, nan=1) < 0.05 else "0.5" for v in q]
    ax.errorbar(
        diff[ok], y[ok], xerr=[diff[ok] - lo[ok], hi[ok] - diff[ok]],
        fmt="none", ecolor="0.3", capsize=3,
    )  # fmt: skip
    # untested categories (too few words) keep their label and get no marker
    ax.scatter(diff[ok], y[ok], color=[c for c, k in zip(colors, ok, strict=True) if k], zorder=3)
    ax.axvline(0, color="0.7", lw=1)
    ax.set_yticks(
        y,
        [
            f"{c} (q {v:.2g})" if np.isfinite(v) else f"{c} (untested)"
            for c, v in zip(cats, q, strict=True)
        ],
    )
    ax.set_xlabel("mean error: category - other words")
    return ctx.save_figure(
        fig, f"{slug}-categories",
        alt=f"Error difference of each category's words with its 95% interval ({what})",
        caption="Mean prediction error of each category's words minus that of the other words, "
        "with percentile bootstrap 95% intervals; filled in colour where q < 0.05 (labels "
        "permuted across words, BH over categories). Right of zero: predicted worse.",
    )  # fmt: skip


def _contrast_table(ds: xr.Dataset, prefix: str, caption: str) -> Block:
    rows = []
    for c in ds["category"].values:
        row = ds[[v for v in ds.data_vars if v.startswith(prefix)]].sel(category=c)
        if not np.isfinite(float(row[prefix + "difference"])):
            rows.append([str(c), int(ds["test_n_words"].sel(category=c)), "untested", "", ""])
            continue
        rows.append([
            str(c), int(ds["test_n_words"].sel(category=c)), _ci_text(row, prefix),
            f"{float(row[prefix + 'p']):.3g}", f"{float(row[prefix + 'q']):.3g}",
        ])  # fmt: skip
    return Table(["category", "words", "difference (95% CI)", "p", "q"], rows, caption=caption)


def _finetune_blocks(ctx: ReportContext, slug: str, comp: xr.Dataset) -> list[Block]:
    windows = comp["window"].values
    fig = MplFigure(figsize=(7, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for m in comp["model"].values:
        ax1.plot(
            windows,
            comp["r"].sel(model=m),
            marker="o",
            label=str(m),
            color=MODEL_COLORS.get(str(m)),
        )
    ax1.set_xlabel("window centre (s after onset)")
    ax1.set_ylabel("encoding r (mean over sensors)")
    ax1.legend(fontsize=8)
    for v in comp["versus"].values:
        imp = comp["improvement"].sel(versus=v).values
        q = comp["q"].sel(versus=v).values
        ax2.plot(windows, imp, marker="o", label=f"vs {v}", color=MODEL_COLORS.get(str(v)))
        sig = q < 0.05
        ax2.scatter(windows[sig], imp[sig], s=60, facecolors="none", edgecolors="k", zorder=3)
    ax2.axhline(0, color="0.7", lw=1)
    ax2.set_xlabel("window centre (s after onset)")
    ax2.set_ylabel("error improvement of the fine-tuned")
    ax2.legend(fontsize=8)
    fig_block = ctx.save_figure(
        fig, f"{slug}-finetuned",
        alt="Encoding r per window of the base, fine-tuned and control models, and the "
        "fine-tuned model's error improvement per window",
        caption="Left: held-out encoding r across words in each window after word onset. "
        "Right: the fine-tuned model's mean per-word error improvement over the base and over "
        "the control; circled where q < 0.05 (signs of the per-word improvements flipped, BH "
        "over windows).",
    )  # fmt: skip
    rows = []
    for c in comp["category"].values:
        cells = [str(c), int(comp["n_words"].sel(category=c))]
        for v in comp["versus"].values:
            imp = float(comp["category_improvement"].sel(versus=v, category=c))
            q = float(comp["category_q"].sel(versus=v, category=c))
            cells.append("untested" if not np.isfinite(imp) else f"{imp:+.4f} (q {q:.3g})")
        rows.append(cells)
    columns = ["category", "words", *[f"improvement vs {v}" for v in comp["versus"].values]]
    table = Table(columns, rows, caption="The fine-tuned model's error improvement per category")
    return [fig_block, table]
