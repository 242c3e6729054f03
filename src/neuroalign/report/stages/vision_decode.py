"""Decoding: identification and retrieval of decoded embeddings, and the image-metric table.

Reads every ``<results>/vision/decode/<dataset>/sub-<subject>/<model>/decode.nc`` written by
``neuroalign vision-decode`` and the ``metrics/<recon>.nc`` beside it written by ``neuroalign
image-metrics``. The reconstructions themselves are on the gallery page.
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

SIMULATED_NOTICE = (
    "Simulated data: these embeddings are decoded from a simulated vision dataset whose voxels "
    "are a planted linear map of image features, not from a recording."
)
RANDOM_NOTICE = (
    "The perceptual metrics here use feature networks with random weights: they test the "
    "pipeline, not perceptual similarity."
)
LABELS = {
    "two_way": "2-way identification",
    "retrieval_forward": "retrieval brain -> image (top-1)",
    "retrieval_backward": "retrieval image -> brain (top-1)",
    "pixcorr": "PixCorr",
    "ssim": "SSIM",
    "alexnet2": "AlexNet(2) 2-way",
    "alexnet5": "AlexNet(5) 2-way",
    "inception": "InceptionV3 2-way",
    "clip": "CLIP 2-way",
    "effnet": "EffNet-B1 distance",
    "swav": "SwAV distance",
}
#: Test images shown in the retrieval examples, and candidates listed per image.
N_EXAMPLES = 8
TOP_K = 3


def _fmt(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{float(value):.3f}"


def _interval(low, high) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"[{_fmt(low)}, {_fmt(high)}]"


def collect(ctx: ReportContext) -> Page | None:
    """The decoding page, one section per decoded (dataset, subject, model), or None."""
    folder = ctx.results_path("vision", "decode")
    files = sorted(folder.rglob("decode.nc")) if folder is not None and folder.is_dir() else []
    if not files:
        return None
    sections, simulated, headlines = [], [], []
    for path in files:
        name = path.parent.relative_to(folder).as_posix()
        simulated.append(name.startswith("sim_"))
        sections.append(_run_section(ctx, path, name, simulated[-1]))
        headlines.append(_headline(load_netcdf(path, "decoding result"), name))
    return Page(
        slug="vision-decode",
        title="Vision decoding",
        headline=first_headline(headlines),
        summary=f"{len(files)} decoding run(s): identification, retrieval and image metrics",
        sections=sections,
        simulated=all(simulated),
    )


def _headline(ds: xr.Dataset, where: str) -> Headline | None:
    """2-way identification accuracy with its bootstrap interval and chance."""
    metrics = [str(m) for m in ds["metric"].values] if "metric" in ds.coords else []
    if "two_way" not in metrics:
        return None
    pick = ds.sel(metric="two_way")
    return Headline(
        LABELS["two_way"],
        float(pick["score"]),
        float(pick["low"]),
        float(pick["high"]),
        interval="95% bootstrap interval over test images",
        where=where,
        note=f"chance {float(pick['chance']):.3f}",
    )


def score_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows of the decoding score table: score, value, interval, chance."""
    return [
        [
            LABELS.get(str(m), str(m)),
            _fmt(float(ds["score"].sel(metric=m))),
            _interval(float(ds["low"].sel(metric=m)), float(ds["high"].sel(metric=m))),
            _fmt(float(ds["chance"].sel(metric=m))),
        ]
        for m in ds["metric"].values
    ]


def metric_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows of the image-metric table: metric, value, interval, chance, better."""
    return [
        [
            LABELS.get(str(m), str(m)),
            _fmt(float(ds["value"].sel(metric=m))),
            _interval(float(ds["low"].sel(metric=m)), float(ds["high"].sel(metric=m))),
            _fmt(float(ds["chance"].sel(metric=m))),
            "higher" if bool(ds["higher_is_better"].sel(metric=m)) else "lower",
        ]
        for m in ds["metric"].values
    ]


def retrieval_examples(ds: xr.Dataset, n: int = N_EXAMPLES, k: int = TOP_K) -> list[list[str]]:
    """For the first ``n`` test images: the ``k`` true embeddings nearest to the prediction."""
    pred = ds["pred"].values.astype(float)
    true = ds["true"].values.astype(float)
    pred /= np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
    true /= np.maximum(np.linalg.norm(true, axis=1, keepdims=True), 1e-12)
    sim = pred @ true.T
    ids = ds["image_test"].values.astype(str)
    rows = []
    for j in range(min(n, len(ids))):
        order = np.argsort(-sim[j], kind="stable")
        rank = int(np.flatnonzero(order == j)[0]) + 1
        nearest = ", ".join(f"{ids[i]} ({sim[j, i]:.2f})" for i in order[:k])
        rows.append([ids[j], nearest, f"{rank} of {len(ids)}"])
    return rows


def _figure(ctx: ReportContext, ds: xr.Dataset, name: str) -> Block:
    metrics = [str(m) for m in ds["metric"].values]
    value = ds["score"].values.astype(float)
    low, high = ds["low"].values.astype(float), ds["high"].values.astype(float)
    chance = ds["chance"].values.astype(float)
    fig = MplFigure(figsize=(5.5, 3.0))
    ax = fig.subplots()
    x = np.arange(len(metrics))
    err = np.vstack([value - low, high - value])
    err = np.where(np.isfinite(err), err, 0.0)
    ax.bar(x, value, color="#1b9e77", yerr=err, capsize=4, label="decoded")
    ax.scatter(x, chance, color="black", marker="_", s=400, zorder=3, label="chance")
    ax.set_xticks(x, [LABELS.get(m, m).replace(" (top-1)", "") for m in metrics], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (fraction)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        slugify(f"vision-decode-{name}"),
        alt=f"Bar chart of 2-way identification and top-1 retrieval for {name}, with chance.",
        caption="Decoding scores with percentile-bootstrap intervals over test images; the "
        "black ticks are chance (0.5 for 2-way, 1/subset size for retrieval).",
    )


def _run_section(ctx: ReportContext, path: Path, name: str, simulated: bool) -> Section:
    ds = load_netcdf(ctx.read(path), "decoding result")
    attrs = ds.attrs
    blocks: list[Block] = [Notice(SIMULATED_NOTICE, "simulated")] if simulated else []
    blocks.append(
        Table(
            ["score", "value", "95% interval", "chance"],
            score_rows(ds),
            caption=f"{attrs.get('n_test_images', '')} test images, "
            f"{attrs.get('n_train_images', '')} training images, "
            f"{attrs.get('n_voxels', '')} voxels. 2-way: {attrs.get('two_way', '')}. "
            f"Retrieval: {attrs.get('retrieval', '')}. Intervals: {attrs.get('bootstrap', '')}.",
        )
    )
    blocks.append(_figure(ctx, ds, name))
    blocks.append(
        Table(
            ["test image", f"nearest {TOP_K} true embeddings (cosine)", "rank of its own"],
            retrieval_examples(ds),
            caption="Retrieval examples: for each prediction, the test images whose true "
            "embeddings are most similar (cosine, over all test images).",
        )
    )
    alphas = ds["alpha"].values.astype(float)
    blocks.append(
        Table(
            ["attribute", "value"],
            [
                ["model", str(attrs.get("model", ""))],
                ["unit space", str(attrs.get("unit", ""))],
                ["normalization", str(attrs.get("normalization", ""))],
                [
                    "alpha (median, range)",
                    f"{np.median(alphas):.3g} ({alphas.min():.3g} to {alphas.max():.3g})",
                ],
                [
                    "dimensions at the grid's edge",
                    f"{attrs.get('n_lower_edge', '')} lower, {attrs.get('n_upper_edge', '')} upper",
                ],
                ["alphas searched", str(attrs.get("alphas_searched", ""))],
                ["settings hash", str(attrs.get("config_hash", ""))],
                ["created", str(attrs.get("created", ""))],
            ],
            caption="Provenance of the decoding run.",
        )
    )
    for metrics_path in sorted((path.parent / "metrics").glob("*.nc")):
        mds = load_netcdf(ctx.read(metrics_path), "image metrics")
        if mds.attrs.get("extractors") == "random":
            blocks.append(Notice(RANDOM_NOTICE, "warning"))
        blocks.append(
            Table(
                ["metric", "value", "95% interval", "chance", "better"],
                metric_rows(mds),
                caption=f"Image metrics of reconstruction run {metrics_path.stem} "
                f"({mds.attrs.get('n_images', '')} images, {mds.attrs.get('n_samples', '')} "
                f"sample(s) each): {mds.attrs.get('definitions', '')}. Intervals: "
                f"{mds.attrs.get('bootstrap', '')}.",
            )
        )
    return Section(f"Run {name}", blocks)
