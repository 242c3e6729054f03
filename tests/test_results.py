"""The results I/O edge: atomic netCDF, and one completeness rule for activation stores."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.results import (
    is_complete,
    load_netcdf,
    mark_complete,
    open_activations,
    write_netcdf,
)


def _ds(**attrs):
    return xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.ones((3, 2, 4), np.float32))}, attrs=attrs
    )


def test_netcdf_round_trip(tmp_path):
    path = write_netcdf(_ds(stage="x"), tmp_path / "a" / "r.nc")
    back = load_netcdf(path)
    assert back.attrs["stage"] == "x" and back["resid"].shape == (3, 2, 4)
    assert [p.name for p in path.parent.iterdir()] == ["r.nc"]


def test_load_netcdf_errors(tmp_path):
    with pytest.raises(NeuroalignError, match="encoding result not found"):
        load_netcdf(tmp_path / "missing.nc", "encoding result")
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(NeuroalignError, match="not a readable netCDF"):
        load_netcdf(bad)


@pytest.mark.parametrize("flag", [{}, {"complete": "false"}, {"complete": "no"}])
def test_incomplete_stores_refused(tmp_path, flag):
    zarr_store = tmp_path / "s.zarr"
    _ds(**flag).to_zarr(zarr_store, consolidated=False)
    nc_store = write_netcdf(_ds(**flag), tmp_path / "s.nc")
    for store in (zarr_store, nc_store):
        with pytest.raises(NeuroalignError, match="incomplete"):
            open_activations(store)


def test_complete_store_opens(tmp_path):
    store = tmp_path / "s.zarr"
    _ds(complete="false").to_zarr(store, consolidated=False)
    mark_complete(store)
    assert open_activations(store)["resid"].shape == (3, 2, 4)
    assert is_complete({"complete": "true"}) and not is_complete({})
    with pytest.raises(NeuroalignError, match="not found"):
        open_activations(tmp_path / "none.zarr")
