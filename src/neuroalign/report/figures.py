"""Figures of the report, drawn with matplotlib's object API (no pyplot, no global backend).

Every function takes saved values (arrays, xarray, pandas) and returns a `matplotlib.figure.Figure`;
saving it is the caller's business (`ReportContext.save_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

PLANTED_COLOR = "#1b6ca8"
RECOVERED_COLOR = "#d95f02"


MAX_HEATMAP_COLUMNS = 200
MAX_HEATMAP_ROWS = 2000


def recovery_figure(
    planted: xr.DataArray,
    recovered: xr.DataArray,
    *,
    n_lines: int = 3,
    max_points: int = 20_000,
    seed: int = 0,
) -> Figure:
    """Recovered against planted values of one quantity of a simulated dataset.

    A 2-D array with a short second dim (``sensor`` x ``lag``, say; see `is_curve_map`) gives
    the planted and recovered heatmaps side by side on one colour scale, plus both curves of
    the ``n_lines`` rows with the largest planted norm. Anything else (vectors, maps, 3-D
    weights) gives a scatter plot of recovered against planted values with the identity line.

    Parameters
    ----------
    planted, recovered : xarray.DataArray
        Same dims and shape.
    n_lines : int
        Rows drawn as curves in the heatmap case.
    max_points : int
        Scatter plots show at most this many values, drawn at random without replacement.
    seed : int
        Seed of that draw, so the same results give the same figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    if planted.dims != recovered.dims or planted.shape != recovered.shape:
        raise ValueError(
            f"planted {planted.dims}{planted.shape} and recovered "
            f"{recovered.dims}{recovered.shape} differ; they must have the same dims and shape."
        )
    if is_curve_map(planted):
        return _recovery_2d(planted, recovered, n_lines=n_lines)
    return _recovery_scatter(
        np.ravel(planted.values),
        np.ravel(recovered.values),
        str(planted.name),
        max_points=max_points,
        rng=np.random.default_rng(seed),
    )


def is_curve_map(array: xr.DataArray) -> bool:
    """Whether `recovery_figure` draws ``array`` as heatmaps and curves (else as a scatter)."""
    return (
        array.ndim == 2
        and min(array.shape) > 1
        and array.shape[0] <= MAX_HEATMAP_ROWS
        and array.shape[1] <= MAX_HEATMAP_COLUMNS
    )


def _recovery_scatter(
    planted: np.ndarray,
    recovered: np.ndarray,
    name: str,
    *,
    max_points: int,
    rng: np.random.Generator,
) -> Figure:
    fig = Figure(figsize=(4.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ok = np.isfinite(planted) & np.isfinite(recovered)
    x, y = planted[ok], recovered[ok]
    n_total = x.size
    if n_total > max_points:
        keep = np.sort(rng.choice(n_total, size=max_points, replace=False))
        x, y = x[keep], y[keep]
    ax.scatter(x, y, s=8, alpha=0.6, color=RECOVERED_COLOR, edgecolors="none", rasterized=True)
    if x.size:
        lo = float(min(x.min(), y.min()))
        hi = float(max(x.max(), y.max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot(
            [lo - pad, hi + pad], [lo - pad, hi + pad], color="0.3", lw=1, ls="--", label="identity"
        )
        ax.legend(loc="upper left", frameon=False)
    ax.set_xlabel(f"planted {name}")
    ax.set_ylabel(f"recovered {name}")
    shown = f"{x.size} of {n_total}" if x.size < n_total else f"{n_total}"
    ax.set_title(f"{name}: {shown} values", fontsize=10)
    return fig


def _recovery_2d(planted: xr.DataArray, recovered: xr.DataArray, *, n_lines: int) -> Figure:
    row_dim, col_dim = planted.dims
    p = np.asarray(planted.values, dtype=float)
    r = np.asarray(recovered.values, dtype=float)
    finite = np.concatenate([p[np.isfinite(p)], r[np.isfinite(r)]])
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = vmax or 1.0
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, values, label in ((axes[0], p, "planted"), (axes[1], r, "recovered")):
        image = ax.imshow(
            values, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest"
        )
        ax.set_title(f"{label} {planted.name}", fontsize=10)
        ax.set_xlabel(str(col_dim))
        ax.set_ylabel(str(row_dim))
    fig.colorbar(image, ax=axes[:2], shrink=0.8)
    cols = _axis_values(planted, col_dim)
    rows = _axis_values(planted, row_dim)
    col_ticks = np.unique(np.linspace(0, len(cols) - 1, num=min(6, len(cols))).round().astype(int))
    for ax in axes[:2]:  # label the heatmaps with coordinates, as the curves are
        ax.set_xticks(col_ticks, [_tick(cols[i]) for i in col_ticks])
        if len(rows) <= 30:
            ax.set_yticks(np.arange(len(rows)), [_tick(v) for v in rows], fontsize=7)
    norms = np.nansum(p**2, axis=1)
    top = np.argsort(-norms, kind="stable")[: max(1, n_lines)]
    ax = axes[2]
    for k, i in enumerate(top):
        shade = 1.0 - 0.25 * k
        ax.plot(cols, p[i], color=PLANTED_COLOR, alpha=shade, lw=1.5, label=f"planted {rows[i]}")
        ax.plot(
            cols,
            r[i],
            color=RECOVERED_COLOR,
            alpha=shade,
            lw=1.5,
            ls="--",
            label=f"recovered {rows[i]}",
        )
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel(str(col_dim))
    ax.set_title(f"top {len(top)} {row_dim} by planted norm", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return fig


def _tick(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float | np.floating) else str(value)


def _axis_values(array: xr.DataArray, dim: str) -> np.ndarray:
    """Coordinate values of ``dim`` when numeric or labels, else positions."""
    if dim in array.coords:
        return np.asarray(array.coords[dim].values)
    return np.arange(array.sizes[dim])


def bar_figure(
    labels: Sequence[object], counts: Sequence[float], *, xlabel: str, ylabel: str, title: str
) -> Figure:
    """A bar chart of ``counts`` per label (words per run, items per condition, ...)."""
    fig = Figure(figsize=(max(4.0, 0.35 * len(labels) + 2), 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar([str(label) for label in labels], counts, color=PLANTED_COLOR)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if len(labels) > 12:
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    return fig


def histogram_figure(values: np.ndarray, *, xlabel: str, title: str, bins: int = 40) -> Figure:
    """A histogram of finite ``values``."""
    values = np.asarray(values, dtype=float)
    fig = Figure(figsize=(5, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.hist(values[np.isfinite(values)], bins=bins, color=PLANTED_COLOR)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=10)
    return fig


def _has_data(ax) -> bool:
    """Whether an axes draws data: a line, collection, image or patch with finite points."""
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)  # categories already as positions
        if xy.size and np.isfinite(xy).all(axis=-1).any():
            return True
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        if (offsets.size and np.isfinite(offsets).any()) or any(
            len(p.vertices) for p in coll.get_paths()
        ):
            return True
    if ax.images:
        return True
    for patch in ax.patches:
        box = patch.get_extents()
        if box.width > 0 and box.height > 0 and np.isfinite([box.width, box.height]).all():
            return True
    return False


def empty_axes(fig: Figure) -> tuple[int, int]:
    """Count a figure's axes and those that would be drawn empty.

    An axes with its axis on (a frame, ticks and labels) must plot data (:func:`_has_data`):
    a panel with nothing to plot turns its axis off and says why in words (``ax.text``).
    Colorbars, hidden axes and axis-off axes that draw nothing (layout frames) are not
    counted.

    Returns
    -------
    n_axes, n_empty : int
    """
    n_axes = n_empty = 0
    for ax in fig.get_axes():
        if ax.get_label() == "<colorbar>" or not ax.get_visible():
            continue
        said = any(t.get_text().strip() for t in ax.texts)
        if not ax.axison and not (said or _has_data(ax)):
            continue  # draws nothing at all: a layout frame (nilearn's displays have one)
        n_axes += 1
        n_empty += bool(ax.axison and not _has_data(ax))
    return n_axes, n_empty
