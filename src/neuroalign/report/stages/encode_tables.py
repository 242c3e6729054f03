"""Encoding pages for responses held in stimulus tables: sentence layer sweeps and word-level
reading gains (``neuroalign encode sentences`` / ``encode words``).

Reads the saved netCDF only: layer-sweep curves with the length baseline and the permutation
null for sentences; gains per reading measure of the model's layers and of the corpus'
surprisal columns for words.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text
from neuroalign.report.blocks import Block, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR

KINDS = ("sentences", "words")
NULL_COLOR = "0.55"


def _pct(null: np.ndarray) -> np.ndarray:
    """95th percentile of each set's null (NaN without permutations)."""
    if null.shape[1] == 0:
        return np.full(null.shape[0], np.nan)
    return np.percentile(null, 95, axis=1)


def _p(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3g}"


def _sweep_figure(layers, curves, null, baseline, ylabel: str, title: str) -> MplFigure:
    fig = MplFigure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(layers))
    for (label, values), color in zip(
        curves.items(), (PLANTED_COLOR, RECOVERED_COLOR), strict=False
    ):
        ax.plot(x, values, marker="o", color=color, label=label)
    if not np.isnan(null).all():
        ax.plot(x, null, ls="--", color=NULL_COLOR, label="null, 95th percentile")
    if baseline is not None:
        ax.axhline(baseline, color="k", lw=1, ls=":", label="baseline")
    ax.axhline(0, color="0.85", lw=0.8)
    ax.set_xticks(x, [str(v) for v in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def sentence_blocks(ctx: ReportContext, slug: str, ds: xr.Dataset) -> tuple[str, list[Block]]:
    """Layer-sweep curves (r per layer, baseline, null) and the gain over sentence length."""
    layers = [str(v) for v in ds["layer"].values]
    blocks: list[Block] = [Text(f"Baseline: {baseline_text(ds)}.")]
    headlines = []
    for target in ds["target"].values:
        t = ds.sel(target=target)
        baseline = used_baseline(ds, "target", target)
        peak = str(t["peak_layer"].values)
        k = layers.index(peak)
        headlines.append(
            f"{target}: peak layer {peak} (depth {float(t['peak_depth']):.2f}), "
            f"r = {float(t['r'][k]):.3f} vs baseline ({baseline}) r = "
            f"{float(t['r_baseline']):.3f}; "
            f"R^2 gain {float(t['r2_gain'][k]):.3f}"
        )
        blocks.append(
            ctx.save_figure(
                _sweep_figure(
                    layers,
                    {"layer alone": t["r"].values, "baseline + layer": t["r_full"].values},
                    _pct(t["null_r"].values),
                    float(t["r_baseline"]),
                    "held-out r",
                    f"{target}: layer sweep",
                ),
                f"{slug}-{target}-sweep",
                alt=f"Held-out r of each layer for {target}, with the baseline and the "
                "permutation null",
                caption=f"Layer sweep for {target}: held-out Pearson r of each layer's features "
                f"alone (blue) and of the baseline ({baseline}) plus the layer (orange), "
                "from nested cross-validation over sentences; the dotted line is the baseline "
                "alone, the dashed line the 95th percentile of the refit permutation null.",
            )
        )
        blocks.append(
            ctx.save_figure(
                _sweep_figure(
                    layers,
                    {"R^2 gain over the baseline": t["r2_gain"].values},
                    _pct(t["null_gain"].values),
                    None,
                    "held-out R^2 gain",
                    f"{target}: gain over the baseline",
                ),
                f"{slug}-{target}-gain",
                alt=f"R^2 gain of each layer over the baseline for {target}",
                caption="Held-out R^2 of baseline + layer minus that of the baseline alone (only "
                "the layer's features are penalized); the dashed line is the 95th percentile of "
                "the Freedman-Lane permutation null.",
            )
        )
        rows = [
            [
                layer,
                as_text(float(t["r"][i])),
                _p(float(t["p"][i])),
                as_text(float(t["r_full"][i])),
                as_text(float(t["r2_gain"][i])),
                _p(float(t["p_gain"][i])),
            ]
            for i, layer in enumerate(layers)
        ]
        blocks.append(
            Table(
                ["layer", "r", "p", "r (baseline + layer)", "R^2 gain", "p (gain)"],
                rows,
                caption=f"{target}: baseline ({baseline}) r = {float(t['r_baseline']):.3f} "
                f"(R^2 {float(t['r2_baseline']):.3f}); p of the peak against the maximum over "
                f"layers {_p(float(t['p_peak']))}; {int(t['n_items'])} sentences.",
            )
        )
    return "; ".join(headlines), blocks


def _baseline_names(ds: xr.Dataset) -> str:
    return baseline_text(ds)


def _candidates(ds: xr.Dataset):
    base = ds.attrs.get("baseline", "")
    if not isinstance(base, str):
        return base
    try:
        return json.loads(base)
    except ValueError:
        return base


def used_baseline(ds: xr.Dataset, dim: str, value) -> str:
    """The baseline a target's gain is over: name, columns and share of folds choosing it."""
    if "baseline_used" not in ds:
        return _columns_text(_candidates(ds)) or "not recorded"
    name = str(ds["baseline_used"].sel({dim: value}).values)
    cands = _candidates(ds)
    cols = cands.get(name) if isinstance(cands, dict) else None
    text = f"{name}: {', '.join(map(str, cols))}" if cols else name
    share = float(ds["baseline_share"].sel({dim: value})) if "baseline_share" in ds else 1.0
    if len(cands) > 1 and share < 1:
        text += f", in {share:.0%} of the outer folds"
    return text


def _columns_text(base) -> str:
    if isinstance(base, dict):
        return "; ".join(
            f"{k} ({', '.join(map(str, v))})" if isinstance(v, list) else f"{k}: {v}"
            for k, v in base.items()
        )
    if isinstance(base, str):
        return base
    return ", ".join(map(str, np.atleast_1d(base)))


def baseline_text(ds: xr.Dataset) -> str:
    """The baselines a result offered, which it used, and how it chose (as recorded)."""
    base = _candidates(ds)
    if not base:
        return "not recorded in the result"
    text = _columns_text(base)
    if "baseline_used" in ds:
        used = sorted({str(v) for v in np.atleast_1d(ds["baseline_used"].values)})
        text = f"used {' / '.join(used)}; candidates {text}"
    choice = ds.attrs.get("baseline_choice")
    if choice:
        text += f" (choice: {choice})"
    return text


def word_blocks(ctx: ReportContext, slug: str, ds: xr.Dataset) -> tuple[str, list[Block]]:
    """Gains per reading measure of the model's layers and of the corpus' surprisal columns."""
    measures = [str(m) for m in ds["measure"].values]
    best = ds["r2_gain"].max("layer").values
    top = int(np.argmax(best))
    headline = (
        f"largest gain over length/frequency/position: {measures[top]} "
        f"R^2 +{best[top]:.3f} (layer {ds['peak_gain_layer'].values[top]})"
    )
    has_corpus = "surprisal" in ds.dims
    blocks: list[Block] = []
    rows = []
    for i, m in enumerate(measures):
        peak = str(ds["peak_gain_layer"].values[i])
        row = [
            m,
            str(ds["measure_description"].values[i]) if "measure_description" in ds else "",
            int(ds["n_words"].values[i]),
            as_text(float(ds["r2_baseline"].values[i])),
            peak,
            as_text(float(ds["r2_gain"].sel(layer=peak).values[i])),
            _p(float(ds["q_gain"].sel(layer=peak).values[i])),
        ]
        if has_corpus:
            gains = ds["surprisal_r2_gain"].values[:, i]
            j = int(np.argmax(gains))
            row += [
                str(ds["surprisal"].values[j]),
                as_text(float(gains[j])),
                _p(float(ds["surprisal_q_gain"].values[j, i])),
            ]
        rows.append(row)
    columns = ["measure", "what", "words", "R^2 baseline", "best layer", "R^2 gain", "q"]
    if has_corpus:
        columns += ["best surprisal", "R^2 gain", "q"]
    exclusions = "; ".join(json.loads(ds.attrs.get("exclusions", "[]")))
    blocks.append(
        Table(
            columns,
            rows,
            caption="Held-out R^2 (nested CV by sentence or text) of the baseline "
            f"({_baseline_names(ds)}; least squares) and the gain of adding each layer's features "
            "or one surprisal column; q: Benjamini-Hochberg over the table of permutation "
            f"p-values. Excluded: {exclusions}.",
        )
    )
    if "surprisal_beta" in ds:
        coef_rows = [
            [
                m,
                str(c),
                f"{float(ds['surprisal_beta'].sel(surprisal=c, measure=m)):+.3f}",
                f"[{float(ds['surprisal_beta_low'].sel(surprisal=c, measure=m)):+.3f}, "
                f"{float(ds['surprisal_beta_high'].sel(surprisal=c, measure=m)):+.3f}]",
            ]
            for m in measures
            for c in ds["surprisal"].values
        ]
        blocks.append(
            Table(
                ["measure", "predictor", "signed coefficient", "95% CI"],
                coef_rows,
                caption="Direction of each named predictor: standardized least-squares "
                "coefficient of the predictor over the baseline (SD of measure per SD of "
                "predictor), 95% interval from cluster-robust (CR1) standard errors over the "
                "groups. Reading times are expected to grow with surprisal (positive).",
            )
        )
    blocks.append(
        ctx.save_figure(
            _gain_bars(ds, measures, has_corpus),
            f"{slug}-gains",
            alt="R^2 gain over the baseline per reading measure: model and corpus surprisal",
            caption=f"Gain over the baseline ({baseline_text(ds)}) per measure: the "
            "model's best layer and the corpus' best surprisal column (named above its bar); "
            "a star marks q < 0.05.",
        )
    )
    fig = MplFigure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    layers = [str(v) for v in ds["layer"].values]
    for m in measures:
        ax.plot(range(len(layers)), ds["r2_gain"].sel(measure=m).values, marker="o", label=m)
    ax.axhline(0, color="0.85", lw=0.8)
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("held-out R^2 gain")
    ax.legend(fontsize=6, ncol=2)
    blocks.append(
        ctx.save_figure(
            fig,
            f"{slug}-layers",
            alt="R^2 gain over the baseline per layer, one line per measure",
            caption="Layer sweep of the gain over the baseline, per reading measure.",
        )
    )
    conventions = json.loads(ds.attrs.get("conventions", "[]"))
    if conventions:
        blocks.append(Text("Conventions: " + "; ".join(conventions) + "."))
    return headline, blocks


def _gain_bars(ds: xr.Dataset, measures: list[str], has_corpus: bool) -> MplFigure:
    fig = MplFigure(figsize=(max(5.5, 0.7 * len(measures) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(measures))
    width = 0.4 if has_corpus else 0.6
    peak = ds["peak_gain_layer"].values.astype(str)
    model = [float(ds["r2_gain"].sel(layer=peak[i]).values[i]) for i in range(len(measures))]
    q_model = [float(ds["q_gain"].sel(layer=peak[i]).values[i]) for i in range(len(measures))]
    series = [("model, best layer", model, q_model, None, PLANTED_COLOR)]
    if has_corpus:
        j = np.argmax(ds["surprisal_r2_gain"].values, axis=0)
        idx = np.arange(len(measures))
        names = ds["surprisal"].values.astype(str)[j]
        series.append(
            (
                "corpus surprisal, best column",
                ds["surprisal_r2_gain"].values[j, idx],
                ds["surprisal_q_gain"].values[j, idx],
                names,
                RECOVERED_COLOR,
            )
        )
    for s, (label, values, q, names, color) in enumerate(series):
        pos = x + (s - (len(series) - 1) / 2) * width
        ax.bar(pos, values, width=width, color=color, label=label)
        for i, v in enumerate(values):
            mark = "*" if q[i] < 0.05 else ""
            text = f"{names[i]}{mark}" if names is not None else mark
            if text:
                ax.text(pos[i], max(v, 0), text, ha="center", va="bottom", fontsize=6, rotation=90)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(x, measures, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("held-out R^2 gain")
    ax.legend(fontsize=7)
    return fig
