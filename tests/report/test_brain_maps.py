"""Voxel maps on the MNI template and sensor topographies, and their place on an encoding page."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from neuroalign.data.simulate.grid import brain_grid
from neuroalign.data.simulate.meg import magnetometer_info, sensor_pattern
from neuroalign.report.brain_maps import glass_brain_figure, stat_map_figure, topomap_figure
from neuroalign.report.context import ReportContext
from neuroalign.report.stages._encode_maps import map_blocks


@pytest.fixture(scope="module")
def grid():
    mask, affine = brain_grid(16)
    return mask, affine


@pytest.fixture(scope="module")
def info():
    return magnetometer_info(100.0)


def _ctx(tmp_path) -> ReportContext:
    return ReportContext(config={}, results=tmp_path, data_root=None, site=tmp_path / "site")


def _drawn(ctx: ReportContext, block) -> np.ndarray:
    image = imread(ctx.site / block.src)
    assert image.std() > 0.05  # not a blank canvas
    return image


def test_glass_brain_outlines_the_planted_voxels(grid, tmp_path):
    mask, affine = grid
    vol = np.where(mask, 0.5, 0.0).astype(np.float32)
    outline = nib.Nifti1Image((vol > 0).astype(np.float32), affine)
    fig = glass_brain_figure(nib.Nifti1Image(vol, affine), title="r", outline=outline)
    with_outline = sum(len(ax.collections) for ax in fig.axes)
    bare = glass_brain_figure(nib.Nifti1Image(vol, affine), title="r")
    assert with_outline > sum(len(ax.collections) for ax in bare.axes)
    ctx = _ctx(tmp_path)
    _drawn(ctx, ctx.save_figure(fig, "glass", alt="a", caption="c"))


def test_stat_map_draws_the_template_and_the_cuts(grid):
    mask, affine = grid
    vol = np.where(mask, 0.3, 0.0).astype(np.float32)
    fig = stat_map_figure(nib.Nifti1Image(vol, affine), title="r", n_cuts=4)
    images = [ax for ax in fig.axes if len(ax.images) >= 2]  # template + map
    assert len(images) == 4


def test_topomaps_one_per_map_with_marked_sensors(info, tmp_path):
    positions = np.array([ch["loc"][:3] for ch in info["chs"]])
    dipole = sensor_pattern(positions, [((-0.08, 0.0, 0.04), 1.0), ((0.08, 0.0, 0.04), -1.0)], 0.04)
    mark = np.abs(dipole) > 0.5
    fig = topomap_figure({"r": dipole, "TRF": -dipole}, info, masks={"r": mark})
    assert len(fig.axes) == 4  # two maps, two colour bars
    assert [ax.get_title() for ax in fig.axes[:2] if ax.get_title()] == ["r", "TRF"]
    image = fig.axes[0].images[0]
    assert image.get_clim() == pytest.approx((-1.0, 1.0))
    with pytest.raises(ValueError, match="one value per channel"):
        topomap_figure({"r": dipole[:10]}, info)
    ctx = _ctx(tmp_path)
    _drawn(ctx, ctx.save_figure(fig, "topo", alt="a", caption="c"))


def test_encoding_page_maps_for_fmri_and_meg(grid, info, tmp_path):
    import mne

    mask, affine = grid
    ijk = np.argwhere(mask)
    n = len(ijk)
    rng = np.random.default_rng(0)
    fmri = xr.Dataset(
        {
            "r": ("voxel", rng.uniform(-0.1, 0.6, n)),
            "q": ("voxel", rng.uniform(0, 0.1, n)),
            "planted_language": ("voxel", (rng.uniform(size=n) > 0.7).astype(np.int8)),
        },
        coords={f"voxel_{a}": ("voxel", ijk[:, i]) for i, a in enumerate("ijk")},
    )
    path = tmp_path / "fmri" / "sub-01.nc"
    (tmp_path / "fmri" / "sub-01_maps").mkdir(parents=True)
    nib.save(
        nib.Nifti1Image(np.zeros(mask.shape, np.float32), affine),
        tmp_path / "fmri" / "sub-01_maps" / "r.nii.gz",
    )
    ctx = _ctx(tmp_path)
    blocks = map_blocks(ctx, "fit-fmri", fmri, path, "fmri")
    assert [b.src for b in blocks] == [
        "figures/fit-fmri-glass-brain.png",
        "figures/fit-fmri-stat-map.png",
    ]
    assert "planted language voxels" in blocks[0].caption
    assert str(path.with_name("sub-01_maps") / "r.nii.gz") in ctx.inputs

    n_sensors, lags = len(info["ch_names"]), np.arange(-2, 8) / 100
    meg = xr.Dataset(
        {
            "r": ("sensor", rng.uniform(0, 0.4, n_sensors)),
            "q": ("sensor", rng.uniform(0, 0.1, n_sensors)),
            "r_by_lag": (("lag", "sensor"), rng.standard_normal((lags.size, n_sensors))),
            "trf": (("lag", "predictor", "sensor"), rng.standard_normal((lags.size, 2, n_sensors))),
        },
        coords={"sensor": info["ch_names"][::-1], "lag": lags, "predictor": ["word_onset", "pc0"]},
    )
    evoked = mne.EvokedArray(np.zeros((n_sensors, lags.size)), info, tmin=lags[0])
    path = tmp_path / "meg" / "sub-01.nc"
    path.parent.mkdir()
    evoked.save(path.with_name("sub-01_trf-ave.fif"), verbose="error")
    blocks = map_blocks(ctx, "fit-meg", meg, path, "meg")
    assert [b.src for b in blocks] == [
        "figures/fit-meg-topomaps.png",
        "figures/fit-meg-r-by-lag.png",
    ]
    for block in blocks:
        _drawn(ctx, block)
    missing = map_blocks(ctx, "fit-none", meg, tmp_path / "none.nc", "meg")
    assert len(missing) == 1 and "missing" in missing[0].text
    assert map_blocks(ctx, "fit-eye", meg, path, "eyetracking") == []
