import numpy as np
import xarray as xr

from neuroalign.data.simulate.grid import voxel_coordinates, voxel_dim_coords


def test_voxel_dim_coords_name_grid_index_and_mm_position():
    mask = np.zeros((3, 4, 2), bool)
    mask[0, 1, 1] = mask[2, 3, 0] = True
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 0.5]
    ds = xr.Dataset(coords=voxel_dim_coords(*voxel_coordinates(mask, affine)))
    assert ds["voxel"].values.tolist() == [0, 1]
    assert ds["voxel_i"].values.tolist() == [0, 2]
    assert ds["voxel_j"].values.tolist() == [1, 3]
    assert ds["voxel_k"].values.tolist() == [1, 0]
    assert ds["x"].values.tolist() == [-10.0, -6.0]
    assert ds["y"].values.tolist() == [8.0, 14.0]
    assert ds["z"].values.tolist() == [4.5, 0.5]
    assert all(ds[name].dims == ("voxel",) for name in ("voxel_i", "x", "z"))
