"""CMR parameter recovery: curves simulated at interior non-grid points with a fresh seed are
fitted back within one grid step in at least 90% of draws (the bar of the stage's spec), and a
wrong fit fails the bar.

The draws cover the spec's interior box with beta_enc from 0.4, fitted on lags -8..8: where
docs/episodic.md shows beta_rec to be identifiable (below, curves along a beta_enc-beta_rec-gamma
ridge are nearly equal once shifted and scaled). Over seeds 1-8 the continuous fit's lowest rate
was 0.96 on this coarse grid, and 0.38 with the beta_rec axis reversed.
"""

import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.episodic.cmr import cmr_grid
from neuroalign.episodic.recovery import (
    INTERIOR,
    PARAMETERS,
    grid_spec,
    parameter_recovery,
    recover,
    within_one_step,
)
from neuroalign.episodic.settings import GridSettings

BAR = 0.9
STEPS = (0.2, 0.4, 0.6, 0.8, 1.0)


@pytest.fixture(scope="module")
def grid():
    """A coarse grid around the interior box (steps of 0.2), 100 runs per point."""
    spec = GridSettings(beta_enc=STEPS, beta_rec=STEPS, gamma_ft=(0.0, 0.2, 0.4, 0.6), n_runs=5)
    return cmr_grid(spec, seed=0)


BOUNDS = {**INTERIOR, "beta_enc": (0.4, 0.9)}


@pytest.fixture(scope="module")
def recovery(grid):
    """24 draws with seed 11 (the grid's is 0), fitted on lags -8..8."""
    return parameter_recovery(grid, n_draws=24, seed=11, fit_lag=8, bounds=BOUNDS)


def _rates(ds, fit):
    return dict(zip(PARAMETERS, ds[f"{fit}_within"].mean("draw").values, strict=True))


def test_draws_are_interior_non_grid_points(grid, recovery):
    truth = recovery.truth.values
    for i, name in enumerate(PARAMETERS):
        low, high = BOUNDS[name]
        assert (truth[:, i] >= low).all() and (truth[:, i] <= high).all()
        assert np.abs(truth[:, i, None] - grid[name].values).min() > 1e-6
    assert recovery.attrs["seed"] == 11 and recovery.attrs["grid_seed"] == 0


def test_continuous_fit_recovers_every_parameter_within_one_step(recovery):
    rates = _rates(recovery, "continuous")
    assert min(rates.values()) >= BAR, rates
    grid_rates = _rates(recovery, "grid")
    assert grid_rates["beta_enc"] >= BAR, grid_rates
    assert recovery.attrs["rate_continuous_beta_rec"] == rates["beta_rec"]


def test_mislabelled_beta_rec_axis_fails_the_bar(grid, recovery):
    wrong = grid.assign_coords(beta_rec=grid["beta_rec"].values[::-1]).sortby("beta_rec")
    rates = _rates(
        recover(recovery.curve.values, recovery.truth.values, wrong, fit_lag=8), "continuous"
    )
    assert rates["beta_rec"] < 0.6, rates
    assert rates["beta_enc"] >= BAR  # only the mislabelled axis breaks


def test_within_one_step_uses_the_cell_of_the_truth():
    axis = np.array([0.0, 0.1, 0.3, 1.0])
    # truth 0.2 lies in the cell 0.1..0.3 (step 0.2): 0.0 and 0.4 are exactly one step away
    assert within_one_step(np.array([0.0, 0.4, 0.41]), np.full(3, 0.2), axis).tolist() == [
        True,
        True,
        False,
    ]
    assert within_one_step(np.array([0.3]), np.array([1.0]), axis)[0]  # top point: last cell
    with pytest.raises(NeuroalignError, match="within the grid"):
        within_one_step(np.array([0.5]), np.array([1.5]), axis)


def test_draw_settings_come_from_the_grid_and_the_seed_must_be_fresh(grid):
    spec = grid_spec(grid)
    assert (spec.n_runs, spec.n_starts, spec.max_lag) == (5, 20, 8)
    assert spec.beta_rec == STEPS
    with pytest.raises(NeuroalignError, match="fresh"):
        parameter_recovery(grid, n_draws=2, seed=0)
    with pytest.raises(NeuroalignError, match=r"beta_enc draw bounds .* leave the grid"):
        parameter_recovery(grid, n_draws=2, seed=1, bounds={**INTERIOR, "beta_enc": (0.1, 0.9)})
