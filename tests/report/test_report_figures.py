"""Figure functions and figure saving."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign.report.context import ReportContext
from neuroalign.report.figures import bar_figure, histogram_figure, recovery_figure


def _pair(shape, dims, seed=0):
    rng = np.random.default_rng(seed)
    planted = rng.standard_normal(shape)
    recovered = planted + 0.1 * rng.standard_normal(shape)
    return xr.DataArray(planted, dims=dims, name="w"), xr.DataArray(recovered, dims=dims, name="w")


def test_vector_recovery_is_a_scatter_with_identity_line():
    fig = recovery_figure(*_pair((30,), ("voxel",)))
    (ax,) = fig.axes
    assert len(ax.collections[0].get_offsets()) == 30
    assert ax.get_lines()[0].get_label() == "identity"


def test_nan_values_are_left_out_of_the_scatter():
    planted, recovered = _pair((10,), ("voxel",))
    recovered[3] = np.nan
    (ax,) = recovery_figure(planted, recovered).axes
    assert len(ax.collections[0].get_offsets()) == 9


def test_map_recovery_shows_two_heatmaps_on_one_scale_and_top_rows():
    planted, recovered = _pair((5, 8), ("sensor", "lag"))
    fig = recovery_figure(planted, recovered, n_lines=2)
    heat_p, heat_r, lines = fig.axes[:3]
    assert heat_p.images[0].get_clim() == heat_r.images[0].get_clim()
    assert len(lines.get_lines()) == 2 * 2 + 1  # planted + recovered per row, zero line
    strongest = int(np.argmax((planted.values**2).sum(axis=1)))
    assert lines.get_lines()[0].get_label() == f"planted {strongest}"


def test_large_arrays_are_sampled_the_same_way_each_time():
    planted, recovered = _pair((4, 3000), ("subject", "voxel"))  # too wide for heatmaps
    first = recovery_figure(planted, recovered, max_points=500).axes
    second = recovery_figure(planted, recovered, max_points=500).axes
    assert len(first) == 1 and first[0].get_title() == "w: 500 of 12000 values"
    np.testing.assert_array_equal(
        first[0].collections[0].get_offsets(), second[0].collections[0].get_offsets()
    )


def test_mismatched_shapes_raise():
    planted, _ = _pair((5,), ("voxel",))
    _, recovered = _pair((6,), ("voxel",))
    with pytest.raises(ValueError, match="same dims and shape"):
        recovery_figure(planted, recovered)


def test_save_figure_checks_names_and_text(tmp_path):
    ctx = ReportContext(config={}, results=None, data_root=None, site=tmp_path)
    fig = bar_figure([1, 2], [3, 4], xlabel="run", ylabel="rows", title="t")
    block = ctx.save_figure(fig, "runs", alt="bars", caption="how to read")
    assert block.src == "figures/runs.png" and (tmp_path / block.src).is_file()
    hist = histogram_figure(np.arange(10.0), xlabel="onset", title="t")
    with pytest.raises(ValueError, match="unique"):
        ctx.save_figure(hist, "runs", alt="a", caption="c")
    with pytest.raises(ValueError, match="alt text"):
        ctx.save_figure(hist, "hist", alt=" ", caption="c")
    with pytest.raises(ValueError, match="letters"):
        ctx.save_figure(hist, "a/b", alt="a", caption="c")
