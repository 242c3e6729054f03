"""Brain alignment of localized units: the units of a localize result, and how they compare.

A `neuroalign localize` result holds the localized mask and equal-size random masks (layer,
unit). The fMRI stage fits each set's units alone; `alignment_summary` says how the localized
set's held-out r compares with the random sets'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.results import load_netcdf

__all__ = ["alignment_summary", "read_unit_sets", "select_units"]


def read_unit_sets(path: str | Path, layers: dict[Any, xr.DataArray]) -> dict[str, np.ndarray]:
    """The localized mask and every random mask of a localize result, as (layer, unit) arrays.

    Parameters
    ----------
    path : str or Path
        A `neuroalign localize` result (variables ``mask`` and ``random_mask``).
    layers : dict of layer to DataArray (item, unit)
        The activations the sets index (`neuroalign.encode.activations.read_activations`).

    Returns
    -------
    sets : dict of str to bool ndarray of shape (n_layers, n_units)
        ``"localized"``, then ``"<scheme>_<seed>"`` for every random set.

    Raises
    ------
    NeuroalignError
        If the file is not a localize result, or its layers or unit count differ from the
        activations'.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"unit sets not found: {path}. Run `neuroalign localize` first.")
    loc = load_netcdf(path, "localize result")
    if "mask" not in loc or "random_mask" not in loc:
        raise NeuroalignError(
            f"{path}: no 'mask' and 'random_mask' variables; pass a localize result."
        )
    names = [str(k) for k in layers]
    loc_layers = [str(v) for v in loc["layer"].values]
    width = {int(da.shape[1]) for da in layers.values()}
    if loc_layers != names or width != {loc.sizes["unit"]}:
        raise NeuroalignError(
            f"{path}: localized on layers {loc_layers} x {loc.sizes['unit']} units, but the "
            f"activations have layers {names} x {sorted(width)} units; localize and extract "
            "the same model, unit space and layers."
        )
    sets = {"localized": loc["mask"].isel(network=0).values.astype(bool)}
    for scheme in loc["scheme"].values:
        for seed in loc["seed"].values:
            mask = loc["random_mask"].sel(scheme=scheme, seed=seed).values.astype(bool)
            sets[f"{scheme}_{int(seed)}"] = mask
    return sets


def select_units(layers: dict[Any, xr.DataArray], mask: np.ndarray) -> xr.DataArray:
    """The units of ``mask`` (layer, unit) from every layer, side by side as one (item, unit)."""
    arrays = [da.transpose("item", ...) for da in layers.values()]
    values = np.concatenate(
        [da.values[:, np.asarray(m, bool)] for da, m in zip(arrays, mask, strict=True)], axis=1
    )
    coords = {k: c for k, c in arrays[0].coords.items() if c.dims == ("item",)}
    return xr.DataArray(values, dims=("item", "unit"), coords=coords)


def alignment_summary(mean_r: xr.DataArray) -> dict[str, float]:
    """Localized units vs random sets: mean r over responsive voxels, difference, z, percentile.

    Parameters
    ----------
    mean_r : DataArray (unit_set,)
        Mean held-out r of each unit set; ``"localized"`` is one of them, the rest are random.
    """
    localized = float(mean_r.sel(unit_set="localized"))
    random = mean_r.values[np.asarray(mean_r["unit_set"].values) != "localized"]
    sd = float(random.std(ddof=1)) if random.size > 1 else float("nan")
    return {
        "alignment_localized_r": localized,
        "alignment_random_r_mean": float(random.mean()),
        "alignment_random_r_sd": sd,
        "alignment_difference": localized - float(random.mean()),
        "alignment_z": (localized - float(random.mean())) / sd if sd > 0 else float("nan"),
        "alignment_percentile": float(np.mean(random < localized) * 100),
    }
