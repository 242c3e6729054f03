"""Word-level reading effects: coefficient tables with intervals, delta log-likelihood per
predictor set, and the lag profiles of the alignment check with the flagged texts.

Reads ``<results>/reading/words/<name>.nc`` (``neuroalign reading-words``). One subpage per
analysis. On simulated readers the planted coefficients (``derivatives/neuroalign-truth``) are
set beside the recovered ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text, slugify
from neuroalign.report.blocks import Block, Link, Notice, Page, Section, Table, Text
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import RECOVERED_COLOR
from neuroalign.report.headline import Headline, first_headline
from neuroalign.results import load_netcdf

SIMULATED_NOTICE = (
    "Simulated data: these readers were generated with planted word effects, not recorded."
)
SHOWN_ATTRS = (
    "dataset",
    "stimset",
    "reader",
    "models",
    "shift_applied",
    "shift_note",
    "on_misalignment",
    "lag_property",
    "misaligned",
    "mixed",
    "length_source",
    "frequency_source",
    "exclusions",
    "coefficients",
    "delta_loglik",
    "config_hash",
    "neuroalign_version",
    "created",
)
#: Planted term -> the predictor of the simulated table that carries it.
PLANTED_TERMS = {"length": "length", "frequency": "frequency", "surprisal": "surprisal"}


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if not np.isfinite(v) else f"{v:.{digits}g}"


def _ci(beta: float, low: float, high: float) -> str:
    if not np.isfinite(beta):
        return "-"
    return f"{beta:+.3g} [{low:+.3g}, {high:+.3g}]"


def _sets(ds: xr.Dataset) -> list[str]:
    return [str(s) for s in ds["set"].values if str(s) != "baseline"]


def _set_predictors(ds: xr.Dataset, s: str) -> list[str]:
    try:
        sets = json.loads(ds.attrs.get("sets", "{}"))
    except (TypeError, ValueError):
        sets = {}
    return list(sets.get(s, []))


def _best_set(ds: xr.Dataset, measure: str) -> str | None:
    sets = _sets(ds)
    if not sets:
        return None
    gains = ds["delta_loglik_heldout"].sel(measure=measure, set=sets).values
    return sets[int(np.nanargmax(gains))] if np.isfinite(gains).any() else sets[0]


def headline(ds: xr.Dataset, where: str = "") -> Headline | None:
    """The standardized effect of the first measure's best predictor set's lead predictor."""
    measure = str(ds["measure"].values[0])
    s = _best_set(ds, measure)
    if s is None:
        return None
    pred = (_set_predictors(ds, s) or [s])[0]
    sel = dict(measure=measure, set=s, predictor=pred)
    gain = float(ds["delta_loglik_heldout"].sel(measure=measure, set=s))
    return Headline(
        f"{pred} on {measure} (SD per SD, OLS on word means)",
        float(ds["ols_beta_std"].sel(**sel)),
        float(ds["ols_std_low"].sel(**sel)),
        float(ds["ols_std_high"].sel(**sel)),
        interval="95% CI, cluster-robust over texts",
        where=where,
        note=f"held-out delta LL {gain:.3g} nats/word",
    )


def collect(ctx: ReportContext) -> Page | None:
    """The word-level effects page (one subpage per analysis), or None without results."""
    folder = ctx.results_path("reading", "words")
    if folder is None or not folder.is_dir():
        return None
    files = sorted(folder.glob("*.nc"))
    if not files:
        return None
    subpages, rows, headlines = [], [], []
    for path in files:
        ds = load_netcdf(ctx.read(path), "word-level effects")
        page = _page(ctx, path.stem, ds)
        subpages.append(page)
        flagged = int(ds["lag_flagged"].any("measure").sum())
        misaligned = [
            str(m)
            for m, v in zip(ds["measure"].values, ds["lag_misaligned"].values, strict=True)
            if v
        ]
        rows.append(
            [
                Link(path.stem, page.href),
                str(ds.attrs.get("dataset", "")),
                len(ds["measure"]),
                ", ".join(_sets(ds)) or "-",
                "yes" if "mixed_beta" in ds else "no",
                f"{flagged} of {ds.sizes['text']}",
                ", ".join(misaligned) or "none",
            ]
        )
        h = headline(ds, where=path.stem)
        if h is not None:
            headlines.append(h)
    columns = ["analysis", "dataset", "measures", "predictor sets", "mixed models"]
    columns += ["texts flagged", "misaligned measures"]
    return Page(
        slug="reading_words",
        title="Word-level reading effects",
        headline=first_headline(headlines) if headlines else None,
        summary=f"{len(files)} analysis(es); " + "; ".join(h.text() for h in headlines[:2]),
        sections=[
            Section(
                "Analyses",
                [
                    Text(
                        "Each reading measure is regressed on a baseline (word length, log "
                        "frequency, position, and the previous words' length and frequency) "
                        "plus one predictor set at a time: a causal LM's surprisal (bits, "
                        "multi-token words summed) and entropy, or a surprisal column shipped "
                        "with the corpus. Coefficients carry their sign and a 95% interval; the "
                        "delta log-likelihood says how much each set adds over the baseline. A "
                        "lag profile checks that each measure belongs to its own word."
                    ),
                    Table(columns, rows),
                ],
            )
        ],
        subpages=subpages,
        simulated=all(sub.simulated for sub in subpages),
    )


def _truth(ctx: ReportContext, ds: xr.Dataset) -> xr.Dataset | None:
    dataset = str(ds.attrs.get("dataset", ""))
    path = ctx.data_path("raw", dataset, "derivatives", "neuroalign-truth", "truth.nc")
    if path is None or not Path(path).is_file():
        return None
    return load_netcdf(ctx.read(path), "planted truth")


def _page(ctx: ReportContext, name: str, ds: xr.Dataset) -> Page:
    slug = slugify(f"reading-words-{name}")
    simulated = ds.attrs.get("simulated") == "true"
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    truth = _truth(ctx, ds) if simulated else None
    if truth is not None:
        blocks.append(_planted_table(ds, truth))
    blocks.append(_coefficient_figure(ctx, slug, ds))
    sections = [Section("Effects", blocks)]
    for m in ds["measure"].values:
        sections.append(Section(f"Coefficients: {m}", _measure_tables(ds, str(m))))
    sections.append(
        Section("Delta log-likelihood", [_delta_figure(ctx, slug, ds), _delta_table(ds)])
    )
    if "feature_r_gain" in ds:
        sections.append(Section("Layer features (ridge)", [_feature_table(ds)]))
    sections.append(Section("Alignment (lag profiles)", _lag_blocks(ctx, slug, ds)))
    attrs = [[k, as_text(ds.attrs[k])] for k in SHOWN_ATTRS if k in ds.attrs]
    sections.append(Section("Provenance", [Table(["attribute", "value"], attrs)]))
    h = headline(ds, where=name)
    return Page(
        slug=slug,
        title=f"Word-level effects: {name}",
        summary=h.text() if h else "",
        sections=sections,
        headline=h,
        simulated=simulated,
    )


def _planted_table(ds: xr.Dataset, truth: xr.Dataset) -> Block:
    """Planted log-duration coefficients of the simulation against the recovered ones."""
    measure = next((str(m) for m in ds["measure"].values if "FFD" in str(m)), None)
    rows = []
    if measure is not None and "duration_coef" in truth:
        log = bool(ds["log_scale"].sel(measure=measure))
        for term, pred in PLANTED_TERMS.items():
            if term not in truth["term"].values or pred not in ds["predictor"].values:
                continue
            s = (
                "surprisal"
                if term == "surprisal" and "surprisal" in ds["set"].values
                else "baseline"
            )
            planted = float(truth["duration_coef"].sel(term=term))
            row = [term, f"{planted:+.3g}"]
            for kind in ("ols", "mixed"):
                if f"{kind}_beta" not in ds:
                    row.append("-")
                    continue
                sel = dict(measure=measure, set=s, predictor=pred)
                b, lo, hi = (
                    float(ds[f"{kind}_{k}"].sel(**sel)) for k in ("beta", "ci_low", "ci_high")
                )
                cover = "covers" if lo <= planted <= hi else "misses"
                row.append(f"{_ci(b, lo, hi)} ({cover})")
            rows.append(row)
        caption = (
            f"Planted effects on log first-fixation duration against {measure} "
            f"({'log scale' if log else 'raw scale: not comparable'}); OLS on word means and "
            "mixed models on the readers' durations, 95% intervals."
        )
    else:
        caption = "No planted duration coefficients to compare with."
    return Table(["term", "planted", "OLS (95% CI)", "mixed model (95% CI)"], rows, caption=caption)


def _measure_tables(ds: xr.Dataset, measure: str) -> list[Block]:
    out: list[Block] = []
    desc = str(ds["measure_description"].sel(measure=measure).values)
    scale = " (log scale)" if bool(ds["log_scale"].sel(measure=measure)) else ""
    for kind, title in (("ols", "OLS on word means"), ("mixed", "mixed model")):
        if f"{kind}_beta" not in ds:
            continue
        rows = []
        for s in ds["set"].values:
            s = str(s)
            fitted = ds[f"{kind}_beta"].sel(measure=measure, set=s).values
            preds = (
                _set_predictors(ds, s)
                if s != "baseline"
                else [
                    str(p)
                    for p, v in zip(ds["predictor"].values, fitted, strict=True)
                    if np.isfinite(v)
                ]
            )
            for p in preds:
                sel = dict(measure=measure, set=s, predictor=p)
                v = {
                    k: float(ds[f"{kind}_{k}"].sel(**sel))
                    for k in ("beta", "ci_low", "ci_high", "beta_std", "std_low", "std_high", "p")
                }
                if not np.isfinite(v["beta"]):
                    continue
                rows.append(
                    [
                        s,
                        p,
                        _ci(v["beta"], v["ci_low"], v["ci_high"]),
                        _ci(v["beta_std"], v["std_low"], v["std_high"]),
                        _fmt(v["p"]),
                    ]
                )
        if rows:
            out.append(
                Table(
                    ["set", "predictor", "beta (95% CI)", "standardized (95% CI)", "p"],
                    rows,
                    caption=f"{title}: {measure}{scale}, {desc}; beta per predictor unit "
                    "(surprisal and entropy in bits), standardized in SD per SD.",
                )
            )
    return out or [Text(f"No fit for {measure} (too few words with every predictor).")]


def _lead(ds: xr.Dataset, s: str) -> str:
    return (_set_predictors(ds, s) or [s])[0]


def _coefficient_figure(ctx: ReportContext, slug: str, ds: xr.Dataset) -> Block:
    sets = _sets(ds)
    measures = [str(m) for m in ds["measure"].values]
    fig = MplFigure(
        figsize=(7, 0.5 + 0.45 * max(1, len(sets) * len(measures))), layout="constrained"
    )
    ax = fig.subplots()
    labels, y = [], 0
    for s in sets or ["baseline"]:
        pred = _lead(ds, s) if s != "baseline" else "length"
        for m in measures:
            sel = dict(measure=m, set=s, predictor=pred)
            b, lo, hi = (
                float(ds[f"ols_{k}"].sel(**sel)) for k in ("beta_std", "std_low", "std_high")
            )
            if np.isfinite(b):
                ax.errorbar(
                    [b],
                    [y],
                    xerr=[[b - lo], [hi - b]],
                    fmt="o",
                    color=RECOVERED_COLOR,
                    ecolor="0.3",
                    capsize=3,
                )
            else:
                ax.plot([0], [y], marker="x", color="0.6")
            labels.append(f"{pred} -> {m}")
            y += 1
    ax.axvline(0, color="0.7", lw=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("standardized coefficient (SD of measure per SD of predictor)")
    return ctx.save_figure(
        fig, f"{slug}-coefficients",
        alt="Standardized coefficient of each predictor set's lead predictor on each measure, "
        "with 95% intervals",
        caption="Lead predictor of each set (surprisal for an LM) on each measure over the "
        "baseline, OLS on word means, 95% intervals cluster-robust over texts; x: no fit.",
    )  # fmt: skip


def _delta_figure(ctx: ReportContext, slug: str, ds: xr.Dataset) -> Block:
    sets = _sets(ds)
    measures = [str(m) for m in ds["measure"].values]
    fig = MplFigure(figsize=(7, 3), layout="constrained")
    ax = fig.subplots()
    if not sets:
        ax.text(0.5, 0.5, "no predictor set beyond the baseline", ha="center", va="center")
        ax.plot([0], [0], alpha=0)
    width = 0.8 / max(len(sets), 1)
    for k, s in enumerate(sets):
        v = ds["delta_loglik_heldout"].sel(set=s).values
        ax.bar(np.arange(len(measures)) + k * width, np.nan_to_num(v), width, label=s)
    ax.axhline(0, color="0.5", lw=1)
    ax.set_xticks(np.arange(len(measures)) + 0.4 - width / 2, measures, fontsize=8, rotation=20)
    ax.set_ylabel("held-out delta LL (nats per word)")
    if sets:
        ax.legend(fontsize=7)
    return ctx.save_figure(
        fig, f"{slug}-delta-ll",
        alt="Held-out delta log-likelihood per word of each predictor set over the baseline, "
        "per measure",
        caption="Gaussian log-likelihood of held-out words (folds of whole texts) under baseline + "
        "set minus baseline, per word; above zero: the set predicts new texts better.",
    )  # fmt: skip


def _delta_table(ds: xr.Dataset) -> Block:
    rows = []
    for m in ds["measure"].values:
        for s in _sets(ds):
            sel = dict(measure=m, set=s)
            row = [
                str(m),
                s,
                _fmt(float(ds["delta_loglik"].sel(**sel)), 4),
                _fmt(float(ds["lr_p"].sel(**sel))),
                _fmt(float(ds["delta_loglik_heldout"].sel(**sel))),
            ]
            if "mixed_delta_loglik" in ds:
                row.append(_fmt(float(ds["mixed_delta_loglik"].sel(**sel)), 4))
            rows.append(row)
    columns = ["measure", "set", "delta LL in sample (nats)", "LR p", "held-out delta LL per word"]
    if "mixed_delta_loglik" in ds:
        columns.append("mixed-model delta LL (nats)")
    return Table(
        columns,
        rows,
        caption=f"Words per measure: {', '.join(str(int(n)) for n in ds['n_words'].values)}.",
    )


def _lag_blocks(ctx: ReportContext, slug: str, ds: xr.Dataset) -> list[Block]:
    lags = ds["lag"].values
    prop = str(ds.attrs.get("lag_property", "length"))
    fig = MplFigure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    for m in ds["measure"].values:
        ax.plot(lags, ds["lag_pooled"].sel(measure=m).values, marker="o", label=str(m))
    ax.axvline(0, color="0.7", lw=1)
    ax.axhline(0, color="0.85", lw=1)
    ax.set_xticks(lags)
    ax.set_xlabel(f"offset k: {prop} of word i + k")
    ax.set_ylabel(f"r(measure of word i, {prop})")
    ax.legend(fontsize=7)
    figure = ctx.save_figure(
        fig, f"{slug}-lags",
        alt=f"Pooled lag profile of each measure against word {prop}, offsets {lags[0]} to "
        f"{lags[-1]}",
        caption=f"Correlation of each measure with the {prop} of the word k places away, pooled "
        "over texts (centered within each). Aligned measures peak at 0; a peak at -1 means the "
        "measures sit one word late.",
    )  # fmt: skip
    rows = [
        [
            str(m),
            f"{int(ds['lag_peak'].sel(measure=m)):+d}",
            "yes" if bool(ds["lag_misaligned"].sel(measure=m)) else "no",
            int(ds["lag_flagged"].sel(measure=m).sum()),
        ]
        for m in ds["measure"].values
    ]
    blocks: list[Block] = [
        figure,
        Table(["measure", "pooled peak offset", "misaligned", "texts flagged"], rows),
    ]
    flagged = []
    for m in ds["measure"].values:
        mask = ds["lag_flagged"].sel(measure=m).values
        for t in ds["text"].values[mask][:20]:
            r = ds["lag_r"].sel(measure=m, text=t).values
            peak = int(lags[int(np.nanargmax(np.abs(r)))]) if np.isfinite(r).any() else 0
            flagged.append([str(m), str(t), f"{peak:+d}", " ".join(_fmt(v, 2) for v in r)])
    if flagged:
        blocks.append(
            Table(
                ["measure", "text", "peak offset", "r at each offset"],
                flagged,
                caption="Flagged texts (up to 20 per measure): their own profile peaks off zero.",
            )
        )
    else:
        blocks.append(Text("No text's own lag profile peaks off zero."))
    if ds.attrs.get("shift_applied", "0") not in ("0", ""):
        blocks.append(
            Notice(
                f"Shift applied before the analysis: {ds.attrs.get('shift_note', '')}.", "warning"
            )
        )
    return blocks


def _feature_table(ds: xr.Dataset) -> Block:
    rows = []
    for m in ds["measure"].values:
        for f in ds["feature"].values if "feature" in ds.coords else range(ds.sizes["feature"]):
            sel = dict(measure=m, feature=f)
            rows.append(
                [
                    str(m),
                    str(ds["feature_id"].sel(feature=f).values),
                    _fmt(float(ds["feature_r_baseline"].sel(**sel))),
                    _fmt(float(ds["feature_r_gain"].sel(**sel))),
                    _fmt(float(ds["feature_r2_gain"].sel(**sel))),
                    _fmt(float(ds["feature_delta_loglik_heldout"].sel(**sel))),
                ]
            )
    return Table(
        ["measure", "layer", "r baseline", "r gain", "R^2 gain", "held-out delta LL per word"],
        rows,
        caption="Each layer's units (ridge, penalty by inner CV) over the least-squares baseline, "
        "out-of-fold predictions over folds of whole texts.",
    )
