"""The page of a word-epoch MEG fit (``neuroalign encode meg_epochs``).

Reads the result (r per sensor and window, per layer, the mean epoch) and the Evoked file
beside it (``<stem>_r-ave.fif``, for the sensor layout): topographies of r in each window after
the word onset, r over windows (all sensors, the best ones, each layer), the mean epoch of
every sensor, the preprocessing steps and, for simulated data, recovered vs planted latency
and sensors.
"""

from __future__ import annotations

import json
from pathlib import Path

import mne
import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from neuroalign.report._format import as_text
from neuroalign.report.blocks import Block, Notice, Table
from neuroalign.report.context import ReportContext
from neuroalign.report.figures import PLANTED_COLOR, RECOVERED_COLOR
from neuroalign.report.headline import Headline, median_ci

__all__ = ["KIND", "blocks", "headline"]

KIND = "meg_epochs"
RECOVERY_CAPTION = (
    "Recovered vs planted (simulated data): the planted word-onset response (the same for every "
    "word) against the mean epoch's peak time and strongest sensors; the planted feature-driven "
    "response (surprisal) against the window of highest mean r (its centre) and the sensors of "
    "highest r there (overlap of the top 10), and r there against the planted pattern."
)


def _peak(ds: xr.Dataset) -> int:
    return int(np.argmax(ds["r"].mean("sensor").values))


def headline(ds: xr.Dataset, where: str = "") -> Headline:
    """Median r in the window of highest mean r over its sensors with q < 0.05 (else all),
    with its BCa interval (the encoding pages' rule)."""
    w = _peak(ds)
    lo, hi = float(ds["window_start"][w]), float(ds["window_end"][w])
    r = ds["r"].values[:, w]
    passing = ds["q"].values[:, w] < 0.05 if "q" in ds else np.zeros(r.shape, bool)
    over, subset = (
        (r[passing], f"the {int(passing.sum())} sensors with q < 0.05")
        if passing.any()
        else (r, f"all {r.size} sensors")
    )
    med, low, high = median_ci(over)
    return Headline(
        f"median r over {subset}, {lo:.2f}-{hi:.2f} s after word onset (best window)",
        med, low, high, interval="95% CI", where=where,
        note=f"of {ds.sizes['sensor']} sensors, {ds.sizes['word']} words",
    )  # fmt: skip


def blocks(ctx: ReportContext, slug: str, ds: xr.Dataset, path: Path) -> tuple[str, list[Block]]:
    """The headline text and the blocks of the fit's page."""
    w = _peak(ds)
    r = ds["r"].values
    text = headline(ds).text()
    rows = [
        ["words", ds.sizes["word"]],
        ["sensors (bad channels dropped)", ds.sizes["sensor"]],
        ["windows", f"{ds.sizes['window']} of {_width(ds):.2f} s"],
        ["cross-validation", ds.attrs.get("folds", "")],
        ["selected layer", ds.attrs.get("selected_layer", "")],
        ["best window (s)", f"{float(ds['window_start'][w]):.2f}-{float(ds['window_end'][w]):.2f}"],
        ["median r there", np.median(r[:, w])],
        ["max r (any sensor, window)", np.max(r)],
    ]
    if "q" in ds and np.isfinite(ds["q"].values).any():
        rows.append(["sensor-windows with q < 0.05", int((ds["q"].values < 0.05).sum())])
    out: list[Block] = [Table(["statistic", "value"], [[k, as_text(v)] for k, v in rows])]
    fif = path.with_name(path.stem + "_r-ave.fif")
    if fif.is_file():
        info = mne.read_evokeds(ctx.read(fif), verbose="error")[0].info
        out.append(
            ctx.save_figure(
                _topomaps(ds, info),
                f"{slug}-topomaps",
                alt="Topographies of held-out r in each window after word onset",
                caption="Held-out r of every sensor in each window after the word onset (one "
                "colour scale for all windows, red positive; white dots: q < 0.05 against "
                "circularly shifted predictions): where and when the word features predict the "
                "response.",
            )
        )
    else:
        out.append(Notice(f"No topographies: {fif.name} is missing; rerun the encode rule."))
    out.append(
        ctx.save_figure(
            _time_courses(ds),
            f"{slug}-windows",
            alt="Held-out r over windows after word onset, for sensors and layers",
            caption="Left: r over windows, mean over sensors (thick) and the five sensors of "
            "highest r in the best window (thin). Right: mean r over sensors per window for "
            "each layer swept (the selected layer thick).",
        )
    )
    out.append(
        ctx.save_figure(
            _erf(ds),
            f"{slug}-erf",
            alt="Mean epoch of every sensor (butterfly) with the windows marked",
            caption="The mean response of every sensor to a word (after preprocessing and "
            "baseline correction), fT; shaded: the windows whose means are the targets.",
        )
    )
    summary = json.loads(ds.attrs.get("summary", "{}") or "{}")
    if summary:
        out.append(
            Table(
                ["recovery metric", "value"],
                [[k, as_text(v)] for k, v in summary.items()],
                caption=RECOVERY_CAPTION,
            )
        )
    steps = json.loads(ds.attrs.get("preprocessing", "[]") or "[]")
    prep = [
        [entry["recording"], step["step"],
         ", ".join(f"{k}={as_text(v)}" for k, v in step.items() if k != "step")]
        for entry in steps for step in entry["steps"]
    ]  # fmt: skip
    if prep:
        out.append(
            Table(
                ["recording", "step", "parameters"],
                prep,
                caption="Preprocessing, in order (the channels file's bad channels are dropped "
                "at the pick).",
            )
        )
    return text, out


def _width(ds: xr.Dataset) -> float:
    return float(ds["window_end"][0] - ds["window_start"][0])


def _topomaps(ds: xr.Dataset, info: mne.Info) -> MplFigure:
    from mne.viz import plot_topomap

    sensors = [str(s) for s in ds["sensor"].values]
    info = mne.pick_info(info, [info["ch_names"].index(s) for s in sensors])
    r = ds["r"].transpose("sensor", "window").values
    significant = None
    if "q" in ds and np.isfinite(ds["q"].values).any():
        significant = ds["q"].transpose("sensor", "window").values < 0.05
    n = r.shape[1]
    cols = min(n, 5)
    nrows = int(np.ceil(n / cols))
    fig = MplFigure(figsize=(2.4 * cols + 0.8, 2.4 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols)).ravel()
    limit = float(np.nanmax(np.abs(r))) or 1.0
    image = None
    for k, ax in enumerate(axes):
        if k >= n:
            fig.delaxes(ax)
            continue
        image, _ = plot_topomap(
            r[:, k],
            info,
            axes=ax,
            show=False,
            cmap="RdBu_r",
            vlim=(-limit, limit),
            contours=4,
            mask=None if significant is None else significant[:, k],
            mask_params={"marker": "o", "markerfacecolor": "w", "markersize": 3},
        )
        ax.set_title(f"{ds['window_start'][k]:.2f}-{ds['window_end'][k]:.2f} s", fontsize=9)
    fig.colorbar(image, ax=axes[:n].tolist(), shrink=0.8, label="held-out r")
    return fig


def _time_courses(ds: xr.Dataset) -> MplFigure:
    centres = ds["window"].values
    r = ds["r"].transpose("sensor", "window").values
    best = np.argsort(r[:, _peak(ds)])[::-1][:5]
    fig = MplFigure(figsize=(9, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    for k in best:
        left.plot(centres, r[k], color=RECOVERED_COLOR, lw=0.8, alpha=0.8)
    left.plot(centres, r.mean(0), color=PLANTED_COLOR, lw=2.5, label="mean over sensors")
    left.plot([], [], color=RECOVERED_COLOR, lw=0.8, label="5 best sensors")
    left.legend(fontsize=8)
    selected = str(ds.attrs.get("selected_layer", ""))
    for layer in ds["layer"].values:
        mean = ds["r_by_layer"].sel(layer=layer).mean("sensor").values
        right.plot(centres, mean, lw=2.5 if str(layer) == selected else 1.0,
                   label=f"layer {layer}")  # fmt: skip
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("window centre (s after word onset)")
    left.set_ylabel("held-out r")
    return fig


def _erf(ds: xr.Dataset) -> MplFigure:
    fig = MplFigure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    times = ds["time"].values
    ax.plot(times, ds["erf"].transpose("time", "sensor").values, color="0.3", lw=0.5, alpha=0.6)
    for lo, hi in zip(ds["window_start"].values[::2], ds["window_end"].values[::2], strict=True):
        ax.axvspan(lo, hi, color=PLANTED_COLOR, alpha=0.08, lw=0)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("time after word onset (s)")
    ax.set_ylabel("mean response (fT)")
    return fig
