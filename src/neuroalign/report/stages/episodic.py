"""Induction heads vs human episodic memory.

Reads ``<results>/episodic/``: ``human.nc`` (free-recall curves), ``heads/<model>.nc`` (head
scores, lag profiles, CMR fits), ``ablation/<model>.nc`` and ``trajectory/<run>.nc``. One subpage
per model shows layer x head maps of induction score and CMR distance, the lag profiles of the
top heads next to the human lag-CRP, and the ablation effects against the random sets; one per
training run shows the emergence curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import slugify
from neuroalign.report.blocks import Block, Notice, Page, Section, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

N_TOP = 4
#: Recall runs per start item from which the grid's fits count as precise (the schema default).
PRECISE_RUNS = 200


def collect(ctx: ReportContext) -> Page | None:
    """The episodic-memory page, or None when the stage has no results."""
    root = ctx.results_path("episodic")
    if root is None or not root.is_dir():
        return None
    human = _load(ctx, root / "human.nc")
    head_files = sorted((root / "heads").glob("*.nc"))
    traj_files = sorted((root / "trajectory").glob("*.nc"))
    if human is None and not head_files and not traj_files:
        return None
    sections = []
    if human is not None:
        sections.append(Section("Human free recall", _human_blocks(ctx, human)))
    subpages = [_model_page(ctx, root, path, human) for path in head_files]
    subpages += [_trajectory_page(ctx, path) for path in traj_files]
    if subpages:
        rows = [[sub.title, sub.summary] for sub in subpages]
        sections.append(Section("Models and training runs", [Table(["page", "summary"], rows)]))
    return Page(
        slug="episodic",
        title="Induction heads and human episodic memory",
        headline=first_headline(sub.headline for sub in subpages),
        summary=f"{len(head_files)} model(s), {len(traj_files)} training run(s)",
        sections=sections,
        subpages=subpages,
    )


def _load(ctx: ReportContext, path: Path) -> xr.Dataset | None:
    return load_netcdf(ctx.read(path), "episodic result") if path.is_file() else None


def _human_blocks(ctx: ReportContext, human: xr.Dataset) -> list[Block]:
    fig = MplFigure(figsize=(9, 3.2), layout="constrained")
    axes = fig.subplots(1, 3)
    lags = human["lag"].values
    rows = []
    for name in human["dataset"].values:
        sub = human.sel(dataset=name)
        crp = sub["crp"].mean("subject", skipna=True)
        keep = (np.abs(lags) <= 5) & (lags != 0)
        axes[0].plot(lags[keep & (lags < 0)], crp.values[keep & (lags < 0)], "o-", label=name)
        axes[0].plot(
            lags[keep & (lags > 0)],
            crp.values[keep & (lags > 0)],
            "o-",
            color=axes[0].lines[-1].get_color(),
        )
        spc = sub["spc"].mean("subject", skipna=True).dropna("position")
        axes[1].plot(spc["position"], spc, label=name)
        pfr = sub["pfr"].mean("subject", skipna=True).dropna("position")
        axes[2].plot(pfr["position"], pfr, label=name)
        n_subj = int(sub["temporal_factor"].notnull().sum())
        rows.append(
            [
                str(name),
                n_subj,
                float(crp.sel(lag=1)),
                float(crp.sel(lag=-1)),
                float(sub["temporal_factor"].mean(skipna=True)),
            ]
        )
    for ax, title, xlabel in zip(
        axes,
        ("lag-CRP", "serial position curve", "probability of first recall"),
        ("lag", "study position", "study position"),
        strict=True,
    ):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
    axes[0].legend(fontsize=8)
    figure = ctx.save_figure(
        fig,
        "episodic-human",
        alt="Human lag-CRP, serial position curve and first recall",
        caption="Group means over subjects. The lag-CRP is actual over possible transitions "
        "(repeats and intrusions excluded), lag 0 left out.",
    )
    table = Table(["dataset", "subjects", "CRP(+1)", "CRP(-1)", "temporal factor"], rows)
    if "group_cmr_fit_beta_enc" not in human:
        return [figure, table]
    return [figure, table, *_precision_notice(human), _human_cmr_table(human)]


def _precision_notice(ds: xr.Dataset) -> list[Block]:
    """A warning when the CMR grid behind a result's fits ran few recall runs per point."""
    runs = str(ds.attrs.get("cmr_grid_n_runs", ""))
    if not runs.isdigit() or int(runs) >= PRECISE_RUNS:
        return []
    return [
        Notice(
            f"Low-precision CMR fits: the grid simulated {runs} runs per start item at each "
            f"grid point (fewer than {PRECISE_RUNS}, below which beta_rec is no longer "
            "recoverable to one grid step; see the parameter recovery in docs/episodic.md). "
            "Treat the fitted parameters as a smoke test, not as estimates.",
            level="warning",
        )
    ]


def _human_cmr_table(human: xr.Dataset) -> Table:
    """Group and median per-subject token-sequence CMR fits of each dataset."""
    names = ("beta_enc", "beta_rec", "gamma_ft", "distance")
    rows = []
    for name in human["dataset"].values:
        sub = human.sel(dataset=name)
        fitted = int(sub["cmr_fit_distance"].notnull().sum())
        rows.append(
            [str(name), "group", *[float(sub[f"group_cmr_fit_{k}"]) for k in names], fitted]
        )
        rows.append(
            [
                str(name),
                "subject median",
                *[float(sub[f"cmr_fit_{k}"].median(skipna=True)) for k in names],
                fitted,
            ]
        )
    return Table(
        ["dataset", "curve", "beta_enc", "beta_rec", "gamma_ft", "CMR distance", "subjects fitted"],
        rows,
        caption="Token-sequence CMR (the heads' model and grid, not free-recall CMR with a stop "
        f"rule) fitted to the lag-CRP on lags -{human.attrs.get('cmr_fit_lag', '?')}.."
        f"{human.attrs.get('cmr_fit_lag', '?')} without lag 0; continuous fit.",
    )


def _heatmap(ax, values: np.ndarray, title: str, cmap: str) -> None:
    image = ax.imshow(values, aspect="auto", cmap=cmap, origin="lower")
    # one tick per layer and head (at most about 12 labels per axis)
    for axis, n in ((ax.yaxis, values.shape[0]), (ax.xaxis, values.shape[1])):
        axis.set_ticks(range(0, n, max(1, -(-n // 12))))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)


def _model_page(ctx: ReportContext, root: Path, path: Path, human) -> Page:
    heads = load_netcdf(ctx.read(path), "head analysis")
    name = path.stem
    slug = slugify(f"episodic-{name}")
    rep = heads.sel(probe="repeat")
    blocks: list[Block] = []
    has_cmr = "cmr_distance" in rep
    fig = MplFigure(figsize=(9 if has_cmr else 5, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, 2 if has_cmr else 1))
    _heatmap(axes[0], rep["induction_score"].values, "induction score", "viridis")
    if has_cmr:
        _heatmap(axes[1], rep["cmr_distance"].values, "CMR distance (lower = CMR-like)", "magma_r")
    blocks.append(
        ctx.save_figure(
            fig,
            f"{slug}-maps",
            alt=f"Layer by head maps of induction score for {name}",
            caption="Each cell is one head (repeated random tokens). A low CMR distance alone does "
            "not make a head an induction head: compare both maps and the asymmetry below.",
        )
    )
    if has_cmr:
        blocks += _precision_notice(heads)
    score = rep["induction_score"].values
    order = np.argsort(-np.nan_to_num(score, nan=-1).ravel())[:N_TOP]
    top = [np.unravel_index(i, score.shape) for i in order]
    fig = MplFigure(figsize=(8, 3.4), layout="constrained")
    ax_h, ax_p = fig.subplots(1, 2)
    lags = rep["lag"].values
    keep = (np.abs(lags) <= 5) & (lags != 0)
    for layer, head in top:
        prob = rep["attn_prob_lag"].values[layer, head][keep]
        ax_h.plot(lags[keep], prob / prob.sum(), "o-", label=f"L{layer}H{head}")
    ax_h.set_title("top induction heads: attention by lag", fontsize=10)
    ax_h.set_xlabel("lag")
    ax_h.legend(fontsize=8)
    if human is not None:
        hl = human["lag"].values
        hk = (np.abs(hl) <= 5) & (hl != 0)
        for dataset in human["dataset"].values:
            crp = human["crp"].sel(dataset=dataset).mean("subject", skipna=True).values[hk]
            ax_p.plot(hl[hk], crp / crp.sum(), "o-", label=str(dataset))
        ax_p.legend(fontsize=8)
        ax_p.set_xlabel("lag")
    else:
        ax_p.set_axis_off()
        ax_p.text(
            0.5,
            0.5,
            "no human free-recall results in this run\n(episodic.human in the config)",
            ha="center",
            va="center",
            fontsize=9,
            transform=ax_p.transAxes,
        )
    ax_p.set_title("human lag-CRP (normalized)", fontsize=10)
    blocks.append(
        ctx.save_figure(
            fig,
            f"{slug}-lags",
            alt=f"Lag profiles of the top heads of {name} and human lag-CRPs",
            caption="Both sides on lags -5..5 without 0, each rescaled to sum 1.",
        )
    )
    columns = ["head", "induction", "prev-token", "asymmetry"]
    columns += ["CMR distance", "beta_enc", "beta_rec", "gamma_ft"] if has_cmr else []
    rows = []
    for layer, head in top:
        cell = rep.isel(layer=layer, head=head)
        row = [
            f"L{layer}H{head}",
            float(cell["induction_score"]),
            float(cell["prev_token_score"]),
            float(cell["asym_index"]),
        ]
        if has_cmr:
            row += [
                float(cell[f"cmr_{k}"]) for k in ("distance", "beta_enc", "beta_rec", "gamma_ft")
            ]
        rows.append(row)
    blocks.append(Table(columns, rows, caption="Top heads by induction score"))
    if "cmr_fit_beta_enc" in rep:
        blocks.append(_parameter_scatter(ctx, slug, name, rep, human))
    sections = [Section("Heads", blocks)]
    ablation = _load(ctx, root / "ablation" / path.name)
    if ablation is not None:
        sections.append(Section("Ablation", _ablation_blocks(ctx, slug, ablation)))
    attrs = {k: str(v) for k, v in heads.attrs.items()}
    sections.append(
        Section(
            "Provenance",
            [Table(["attribute", "value"], sorted([list(kv) for kv in attrs.items()]))],
        )
    )
    summary = f"top induction head L{top[0][0]}H{top[0][1]} ({float(score[top[0]]):.2f})"
    value = float(score[top[0]])
    sem = (
        float(rep["induction_score_sem"].values[top[0]])
        if "induction_score_sem" in rep
        else float("nan")
    )
    number = Headline(
        f"top induction score (head L{top[0][0]}H{top[0][1]}, mean over the probe's sequences)",
        value,
        value - 1.96 * sem,
        value + 1.96 * sem,
        interval="normal 95% CI over sequences",
        where=name,
    )
    return Page(
        slug=slug, title=f"Heads of {name}", summary=summary, sections=sections, headline=number
    )


def _parameter_scatter(ctx: ReportContext, slug: str, name: str, rep: xr.Dataset, human) -> Block:
    """Heads and human datasets in the (beta_enc, beta_rec) plane of the continuous CMR fit."""
    fig = MplFigure(figsize=(5.2, 4), layout="constrained")
    ax = fig.subplots()
    points = ax.scatter(
        rep["cmr_fit_beta_enc"].values.ravel(),
        rep["cmr_fit_beta_rec"].values.ravel(),
        c=rep["induction_score"].values.ravel(),
        cmap="viridis",
        s=14,
    )
    fig.colorbar(points, ax=ax, label="induction score")
    same_lags = human is not None and str(human.attrs.get("cmr_fit_lag")) == str(
        rep.attrs.get("fit_lag")
    )
    if same_lags and "group_cmr_fit_beta_enc" in human:
        for i, dataset in enumerate(human["dataset"].values):
            sub = human.sel(dataset=dataset)
            color = f"C{(i + 1) % 10}"
            ax.scatter(
                sub["cmr_fit_beta_enc"], sub["cmr_fit_beta_rec"], color=color, s=6, alpha=0.3
            )
            ax.scatter(
                [float(sub["group_cmr_fit_beta_enc"])],
                [float(sub["group_cmr_fit_beta_rec"])],
                color=color,
                marker="*",
                s=220,
                edgecolor="k",
                label=f"{dataset} (group)",
            )
        ax.legend(fontsize=8)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="beta_enc", ylabel="beta_rec")
    ax.set_title("CMR parameters (continuous fit, lag 0 excluded)", fontsize=10)
    return ctx.save_figure(
        fig,
        f"{slug}-cmr-params",
        alt=f"Heads of {name} and human datasets in the CMR (beta_enc, beta_rec) plane",
        caption="Dots: heads (colour: induction score). Stars: the human group lag-CRPs; faint "
        "points: single subjects. Both sides are fitted with the same token-sequence CMR grid "
        "and distance on the same lags without lag 0 (humans are shown only when their fit "
        "window is the heads').",
    )


def _ablation_blocks(ctx: ReportContext, slug: str, ablation: xr.Dataset) -> list[Block]:
    conditions = [str(c) for c in ablation["condition"].values]
    random = [c for c in conditions if c.startswith("random_")]
    targeted = [c for c in conditions if c != "intact" and c not in random]
    metrics = [str(m) for m in ablation["metric"].values]
    fig = MplFigure(figsize=(3 * len(metrics), 3.2), layout="constrained")
    for ax, metric in zip(np.atleast_1d(fig.subplots(1, len(metrics))), metrics, strict=True):
        effect = ablation["effect"].sel(metric=metric)
        ax.scatter(
            np.zeros(len(random)), effect.sel(condition=random), color="0.6", label="random sets"
        )
        for i, cond in enumerate(targeted, start=1):
            ax.scatter([i], [float(effect.sel(condition=cond))], label=cond)
        ax.set_xticks(range(len(targeted) + 1), ["random", *targeted], rotation=30, fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.axhline(0, color="k", lw=0.5)
    figure = ctx.save_figure(
        fig,
        f"{slug}-ablation",
        alt="Ablation effects of targeted and random head sets",
        caption="Ablated minus intact for each metric; grey points are random sets with the "
        "same layer histogram as the top induction set.",
    )
    rows = [
        [c, *[float(ablation["z_vs_random"].sel(condition=c, metric=m)) for m in metrics]]
        for c in targeted
    ]
    table = Table(["condition", *metrics], rows, caption="z-score of the effect vs random sets")
    if len(random) < 20:
        return [figure, table, Notice(f"Only {len(random)} random sets (20 advised).", "warning")]
    return [figure, table]


def _trajectory_page(ctx: ReportContext, path: Path) -> Page:
    traj = load_netcdf(ctx.read(path), "training trajectory")
    slug = slugify(f"episodic-training-{path.stem}")
    rep = traj.sel(probe="repeat")
    names = [str(c) for c in traj["checkpoint"].values]
    fig = MplFigure(figsize=(8, 3.4), layout="constrained")
    ax_s, ax_l = fig.subplots(1, 2)
    score = rep["induction_score"]
    best = np.unravel_index(
        int(np.nan_to_num(score.isel(checkpoint=-1).values, nan=-1).argmax()), score.shape[1:]
    )
    flat = score.stack(unit=("layer", "head"))
    for unit in range(flat.sizes["unit"]):
        ax_s.plot(names, flat.isel(unit=unit), color="0.75", lw=0.8)
    ax_s.plot(
        names,
        score.isel(layer=best[0], head=best[1]),
        color="C3",
        lw=2,
        label=f"L{best[0]}H{best[1]}",
    )
    ax_s.set_title("induction score by checkpoint", fontsize=10)
    ax_s.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax_s.legend(fontsize=8)
    lags = rep["lag"].values
    for i, name in enumerate(names):
        ax_l.plot(
            lags,
            rep["attn_prob_lag"].isel(checkpoint=i, layer=best[0], head=best[1]),
            label=name,
            color=str(0.8 - 0.8 * i / max(len(names) - 1, 1)),
        )
    ax_l.set_title(f"lag profile of L{best[0]}H{best[1]}", fontsize=10)
    ax_l.set_xlabel("lag")
    ax_l.legend(fontsize=6)
    figure = ctx.save_figure(
        fig,
        f"{slug}-emergence",
        alt="Induction scores and lag profile across checkpoints",
        caption="Left: every head in grey, the final top head in red. Right: the same head's "
        "attention by lag, light (early) to dark (late).",
    )
    final = float(score.isel(checkpoint=-1).max())
    return Page(
        slug=slug,
        title=f"Training run {path.stem}",
        summary=f"{len(names)} checkpoints; final top induction score {final:.2f}",
        sections=[Section("Emergence", [figure])],
    )
