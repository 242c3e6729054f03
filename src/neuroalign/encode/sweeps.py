"""Layer sweeps over a declared set of targets, not over every voxel.

Averaging held-out r over every voxel drowns the responsive ones in noise: with most voxels
unresponsive the all-voxel curve is flat and its peak arbitrary. The sweep a reader should look
at averages over a declared set: the targets passing ``q < q_threshold`` (at the selected layer),
else those whose noise ceiling is at least ``ceiling_threshold``, and per ROI where the result
carries ROIs. The all-target curve is kept as the secondary one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

__all__ = ["SweepCurve", "declared_sweeps"]


@dataclass(frozen=True)
class SweepCurve:
    """Mean held-out r per layer over one set of targets.

    Attributes
    ----------
    name : str
        What the set is (e.g. ``"q < 0.05"``).
    n_targets : int
        Targets in the set.
    mean_r : ndarray of shape (n_layers,)
        Mean held-out r of the set per layer.
    peak : str
        Layer label with the highest mean r (empty when the set is empty).
    primary : bool
        The declared set (True) or a secondary curve (all targets, ROIs).
    """

    name: str
    n_targets: int
    mean_r: np.ndarray = field(repr=False)
    peak: str
    primary: bool = False


def _curve(name: str, r_by_layer: np.ndarray, layers: np.ndarray, keep, primary=False):
    keep = np.asarray(keep, bool)
    if not keep.any():
        return SweepCurve(name, 0, np.full(len(layers), np.nan), "", primary)
    mean_r = np.nanmean(r_by_layer[:, keep], axis=1)
    peak = str(layers[int(np.nanargmax(mean_r))]) if np.isfinite(mean_r).any() else ""
    return SweepCurve(name, int(keep.sum()), mean_r, peak, primary)


def declared_sweeps(
    ds: xr.Dataset,
    *,
    q_threshold: float = 0.05,
    ceiling_threshold: float | None = 0.3,
    target_dim: str = "voxel",
) -> list[SweepCurve]:
    """The layer sweep over the declared set, per ROI, and over all targets (secondary).

    Parameters
    ----------
    ds : xarray.Dataset
        An encode result with ``r_by_layer`` (layer, target) and ``q`` (target); optionally
        ``ceiling`` (target), ``roi_mask`` (roi, target) boolean/int masks and, for simulated data,
        ``planted_language`` (target).
    q_threshold : float, default=0.05
        The declared set is the targets with ``q < q_threshold``.
    ceiling_threshold : float or None, default=0.3
        Fallback set when no target passes q: noise ceiling at least this (None: no fallback).
    target_dim : str, default="voxel"
        Name of the target dimension.

    Returns
    -------
    list of SweepCurve
        The primary (declared) curve first, then ROIs, then the all-target curve.
    """
    layers = np.asarray(ds["layer"].values).astype(str)
    r = np.asarray(ds["r_by_layer"].transpose("layer", target_dim).values, dtype=np.float64)
    curves: list[SweepCurve] = []
    if "q" in ds:
        passing = np.asarray(ds["q"].values) < q_threshold
        if passing.any() or ceiling_threshold is None or "ceiling" not in ds:
            curves.append(
                _curve(f"{target_dim}s with q < {q_threshold:g}", r, layers, passing, True)
            )
    if not curves and "ceiling" in ds and ceiling_threshold is not None:
        reliable = np.nan_to_num(np.asarray(ds["ceiling"].values)) >= ceiling_threshold
        curves.append(
            _curve(
                f"{target_dim}s with noise ceiling >= {ceiling_threshold:g}",
                r,
                layers,
                reliable,
                True,
            )
        )
    if "roi_mask" in ds:
        for name in np.asarray(ds["roi"].values).astype(str):
            curves.append(_curve(f"ROI {name}", r, layers, ds["roi_mask"].sel(roi=name).values))
    if "planted_language" in ds:
        curves.append(_curve("planted language voxels", r, layers, ds["planted_language"].values))
    curves.append(_curve(f"all {target_dim}s", r, layers, np.ones(r.shape[1], bool)))
    return curves
