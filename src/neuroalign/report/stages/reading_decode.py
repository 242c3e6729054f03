"""Reading decoding: balanced accuracy per regime and decoder, the online curve, error tables.

Reads every ``<results>/reading/decode/<name>.nc`` written by ``neuroalign decode-reading``.
Each run is a section: a table and a bar chart of balanced accuracy (with its bootstrap interval
over participants) per task, regime and decoder against chance (0.5), the online curve over
the first k fixations, and the paragraphs and participants with the highest error rates. Runs
on one dataset are shown side by side in a comparison table, so a planted null sits next to
the planted effect.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import slugify
from neuroalign.report.blocks import Block, Notice, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: these trials come from neuroalign's simulated goal-directed readers "
    "(planted effects of the reading goal and of fixations on the critical span on "
    "comprehension), not from a recording. A run on the null/ reports (labels shuffled within "
    "each participant) must stay at chance."
)
TASK_LABELS = {
    "goal": "reading goal",
    "correct": "comprehension",
    "goal_selection": "goal selection (which question)",
}
REGIME_LABELS = {
    "item": "new paragraph",
    "participant": "new participant",
    "both": "new paragraph and participant",
}
DECODER_COLORS = {"text": "#7570b3", "eye": "#1b9e77", "fusion": "#d95f02"}
N_WORST = 5


def chance(ds: xr.Dataset, task) -> float:
    """Chance balanced accuracy of ``task`` (0.5; 1/k for goal selection among k questions)."""
    if "chance" in ds and np.isfinite(float(ds["chance"].sel(task=task))):
        return float(ds["chance"].sel(task=task))
    return 0.5


def _fmt(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{float(value):.3f}"


def _interval(low, high) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"[{_fmt(low)}, {_fmt(high)}]"


def collect(ctx: ReportContext) -> Page | None:
    """The reading-decoding page, one section per run, or None without results."""
    folder = ctx.results_path("reading", "decode")
    files = sorted(folder.glob("*.nc")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    runs = {path.stem: load_netcdf(ctx.read(path), "reading decoding result") for path in files}
    simulated = [ds.attrs.get("simulated") == "true" for ds in runs.values()]
    sections: list[Section] = []
    if any(simulated):
        sections.append(Section("Simulated data", [Notice(SIMULATED_NOTICE, "simulated")]))
    sections.append(_comparison(runs))
    sections += [_run_section(ctx, name, ds) for name, ds in runs.items()]
    return Page(
        slug="reading-decode",
        title="Reading decoding",
        headline=first_headline([_headline(ds, name) for name, ds in runs.items()]),
        summary=f"{len(runs)} decoding run(s): reading goal, comprehension and (where the data "
        "have candidate questions) goal selection from eye movements",
        sections=sections,
        simulated=all(simulated),
    )


def _headline(ds: xr.Dataset, name: str) -> Headline | None:
    """The best decoder's balanced accuracy on the reading goal in the hardest regime."""
    if "goal" not in ds["task"].values:
        return None
    regimes = [str(r) for r in ds["regime"].values]
    regime = "both" if "both" in regimes else regimes[-1]
    ba = ds["balanced_accuracy"].sel(task="goal", regime=regime)
    if np.isnan(ba.values).all():
        return None
    best = str(ba.idxmax("decoder").values)
    pick = ds.sel(task="goal", regime=regime, decoder=best)
    return Headline(
        f"reading goal, {REGIME_LABELS.get(regime, regime)} ({best} decoder): balanced accuracy",
        float(pick["balanced_accuracy"]),
        float(pick["ci_low"]),
        float(pick["ci_high"]),
        interval="95% bootstrap interval over participants",
        where=name,
        note="chance 0.5",
    )


def score_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows: task, regime, decoder, balanced accuracy, interval, ROC AUC, chance."""
    rows = []
    for task in ds["task"].values:
        for regime in ds["regime"].values:
            for decoder in ds["decoder"].values:
                pick = ds.sel(task=task, regime=regime, decoder=decoder)
                rows.append(
                    [
                        TASK_LABELS.get(str(task), str(task)),
                        REGIME_LABELS.get(str(regime), str(regime)),
                        str(decoder),
                        _fmt(float(pick["balanced_accuracy"])),
                        _interval(float(pick["ci_low"]), float(pick["ci_high"])),
                        _fmt(float(pick["auc"])),
                        _fmt(chance(ds, task)),
                    ]
                )
    return rows


def _comparison(runs: dict[str, xr.Dataset]) -> Section:
    """Every run's balanced accuracy side by side (a planted null next to the planted run)."""
    names = list(runs)
    keys = []
    for ds in runs.values():
        for task in ds["task"].values:
            for regime in ds["regime"].values:
                for decoder in ds["decoder"].values:
                    key = (str(task), str(regime), str(decoder))
                    if key not in keys:
                        keys.append(key)
    rows = []
    for task, regime, decoder in keys:
        row = [TASK_LABELS.get(task, task), REGIME_LABELS.get(regime, regime), decoder]
        for ds in runs.values():
            try:
                pick = ds.sel(task=task, regime=regime, decoder=decoder)
            except KeyError:
                row.append("")
                continue
            ba = float(pick["balanced_accuracy"])
            row.append(
                f"{_fmt(ba)} {_interval(float(pick['ci_low']), float(pick['ci_high']))}"
                if np.isfinite(ba)
                else "not decodable"
            )
        rows.append(row)
    return Section(
        "All runs side by side",
        [
            Table(
                ["task", "regime", "decoder", *names],
                rows,
                caption="Balanced accuracy [95% bootstrap interval over participants] of each "
                "run; chance is 0.5 (goal selection among k candidate questions: 1/k). On "
                "simulated data the run on the null reports (labels shuffled within "
                "participant) should cover chance while the planted run is well above it.",
            )
        ],
    )


def _bar_figure(ctx: ReportContext, ds: xr.Dataset, name: str) -> Block | None:
    tasks = [t for t in ds["task"].values if np.isfinite(ds["balanced_accuracy"].sel(task=t)).any()]
    if not tasks:
        return None
    regimes = [str(r) for r in ds["regime"].values]
    decoders = [str(d) for d in ds["decoder"].values]
    fig = MplFigure(figsize=(3.2 * len(tasks) + 1.4, 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(tasks), sharey=True))
    width = 0.8 / len(decoders)
    x = np.arange(len(regimes))
    for ax, task in zip(axes, tasks, strict=True):
        for j, decoder in enumerate(decoders):
            pick = ds.sel(task=task, decoder=decoder)
            value = pick["balanced_accuracy"].values.astype(float)
            err = np.vstack([value - pick["ci_low"].values, pick["ci_high"].values - value])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.bar(
                x + (j - (len(decoders) - 1) / 2) * width,
                np.nan_to_num(value),
                width,
                yerr=err,
                capsize=3,
                color=DECODER_COLORS.get(decoder, f"C{j}"),
                label=decoder,
            )
        ax.axhline(chance(ds, task), color="black", lw=1, ls="--", label="chance")
        ax.set_xticks(x, [REGIME_LABELS.get(r, r).replace(" and ", " +\n") for r in regimes])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(TASK_LABELS.get(str(task), str(task)), fontsize=9)
    axes[0].set_ylabel("balanced accuracy")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        slugify(f"reading-decode-{name}"),
        alt=f"Bar chart of balanced accuracy per regime and decoder for run {name}, with chance.",
        caption="Balanced accuracy of out-of-fold predictions per generalization regime and "
        "decoder, with 95% bootstrap intervals over participants; the dashed line is chance.",
    )


def _online_figure(ctx: ReportContext, ds: xr.Dataset, name: str) -> Block | None:
    if ds.sizes.get("k", 0) == 0 or ds.sizes.get("online_decoder", 0) == 0:
        return None
    online = ds["online_balanced_accuracy"]
    if np.isnan(online.values).all():
        return None
    tasks = [t for t in ds["task"].values if np.isfinite(online.sel(task=t)).any()]
    k = ds["k"].values.astype(int)
    fig = MplFigure(figsize=(3.2 * len(tasks) + 1.4, 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(tasks), sharey=True))
    for ax, task in zip(axes, tasks, strict=True):
        for j, decoder in enumerate(ds["online_decoder"].values):
            pick = ds.sel(task=task, online_decoder=decoder)
            color = DECODER_COLORS.get(str(decoder), f"C{j}")
            ax.plot(k, pick["online_balanced_accuracy"], marker="o", color=color, label=decoder)
            ax.fill_between(
                k, pick["online_ci_low"], pick["online_ci_high"], color=color, alpha=0.2
            )
        ax.axhline(chance(ds, task), color="black", lw=1, ls="--", label="chance")
        ax.set_xlabel("first k fixations")
        ax.set_ylim(0, 1.05)
        ax.set_title(TASK_LABELS.get(str(task), str(task)), fontsize=9)
    axes[0].set_ylabel("balanced accuracy")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    regime = REGIME_LABELS.get(ds.attrs.get("online_regime", ""), ds.attrs.get("online_regime"))
    return ctx.save_figure(
        fig,
        slugify(f"reading-decode-online-{name}"),
        alt=f"Line chart of balanced accuracy against the number of first fixations, run {name}.",
        caption=f"Online decoding: each decoder refit and scored on the trials cut to their "
        f"first k fixations ({regime} folds); bands are 95% bootstrap intervals over "
        "participants, the dashed line is chance.",
    )


def worst_rows(ds: xr.Dataset, variable: str, dim: str, n: int = N_WORST) -> list[list[str]]:
    """The ``n`` groups with the highest error rate, per task, for the best decoder (both)."""
    rows = []
    for task in ds["task"].values:
        for regime in ds["regime"].values:
            ba = ds["balanced_accuracy"].sel(task=task, regime=regime)
            if np.isnan(ba.values).all():
                continue
            best = str(ba.idxmax("decoder").values)
            err = ds[variable].sel(task=task, regime=regime, decoder=best)
            order = np.argsort(-np.nan_to_num(err.values, nan=-1), kind="stable")[:n]
            worst = ", ".join(f"{err[dim].values[i]} ({float(err.values[i]):.2f})" for i in order)
            rows.append(
                [
                    TASK_LABELS.get(str(task), str(task)),
                    REGIME_LABELS.get(str(regime), str(regime)),
                    best,
                    _fmt(float(np.nanmean(err.values))),
                    worst,
                ]
            )
    return rows


def _run_section(ctx: ReportContext, name: str, ds: xr.Dataset) -> Section:
    attrs = ds.attrs
    status = json.loads(attrs.get("status", "{}"))
    blocks: list[Block] = []
    if attrs.get("simulated") == "true":
        blocks.append(Notice(SIMULATED_NOTICE, "simulated"))
    undecodable = {t: s for t, s in status.items() if s != "decoded"}
    for task, why in undecodable.items():
        blocks.append(Notice(f"{TASK_LABELS.get(task, task)}: {why}.", "warning"))
    blocks.append(
        Table(
            [
                "task",
                "regime",
                "decoder",
                "balanced accuracy",
                "95% interval",
                "ROC AUC",
                "chance",
            ],
            score_rows(ds),
            caption=f"{attrs.get('n_trials', '')} trials of dataset {attrs.get('dataset', '')}; "
            "folds per regime: "
            + ", ".join(
                f"{r} {int(n)}"
                for r, n in zip(ds["regime"].values, ds["n_folds"].values, strict=True)
            )
            + f". Word features: {attrs.get('features', '')}. Chance is 0.5 for the binary "
            "tasks; goal selection is scored among each paragraph's candidate questions (chance "
            "1/k; the fusion decoder does not choose among candidates and is left blank).",
        )
    )
    for block in (_bar_figure(ctx, ds, name), _online_figure(ctx, ds, name)):
        if block is not None:
            blocks.append(block)
    for variable, dim, what in (
        ("item_error", "item", "paragraphs"),
        ("participant_error", "participant", "participants"),
    ):
        rows = worst_rows(ds, variable, dim)
        if rows:
            blocks.append(
                Table(
                    ["task", "regime", "best decoder", "mean error rate", f"worst {what}"],
                    rows,
                    caption=f"Error rate of the best decoder's out-of-fold predictions per "
                    f"{dim}: the mean over {what} and the {N_WORST} hardest (error rate).",
                )
            )
    if not blocks or all(isinstance(b, Notice) for b in blocks):
        blocks.append(Text("No task of this run had two classes to decode."))
    blocks.append(
        Table(
            ["attribute", "value"],
            [
                ["dataset", str(attrs.get("dataset", ""))],
                ["settings hash", str(attrs.get("config_hash", ""))],
                ["created", str(attrs.get("created", ""))],
            ],
            caption="Provenance of the decoding run.",
        )
    )
    return Section(f"Run {name}", blocks)


def result_path(results: Path, name: str) -> Path:
    """Where the stage writes run ``name``."""
    return results / "reading" / "decode" / f"{name}.nc"
