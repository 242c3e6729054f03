import numpy as np
import pytest

from neuroalign.episodic.cmr import (
    cmr_distance,
    cmr_grid,
    fit_continuous,
    fit_grid,
    gaussian_distance,
    iid_corner_curve,
    simulate_curves,
)
from neuroalign.episodic.heads import asymmetry_index
from neuroalign.episodic.settings import GridSettings

LAGS = np.arange(-8, 9)


@pytest.fixture(scope="module")
def grid():
    spec = GridSettings(
        beta_enc=(0.3, 0.6, 0.9, 1.0), beta_rec=(0.0, 0.5, 0.9), gamma_ft=(0.0, 0.4), n_runs=4
    )
    return cmr_grid(spec, seed=0)


def test_monte_carlo_matches_closed_form_corners():
    spec = GridSettings(n_runs=300)
    curve = simulate_curves(
        0.6, np.array([0.0]), np.array([0.0]), spec=spec, rng=np.random.default_rng(0)
    )[0]
    np.testing.assert_allclose(curve, iid_corner_curve(0.6, spec=spec), atol=1e-2)
    one_hot = simulate_curves(
        1.0,
        np.array([1.0]),
        np.array([0.0]),
        spec=GridSettings(n_runs=2),
        rng=np.random.default_rng(0),
    )[0]
    np.testing.assert_array_equal(one_hot, (LAGS == 1).astype(float))


def test_grid_is_reproducible_and_normalized(grid):
    np.testing.assert_allclose(grid.sum("lag"), 1)
    spec = GridSettings(beta_enc=(0.5, 0.8), beta_rec=(0.5,), gamma_ft=(0.2, 0.4), n_runs=2)
    whole = cmr_grid(spec, seed=3)
    np.testing.assert_array_equal(whole.values, cmr_grid(spec, seed=3, jobs=2).values)
    row = cmr_grid(
        GridSettings(beta_enc=(0.8,), beta_rec=(0.5,), gamma_ft=(0.2, 0.4), n_runs=2), seed=3
    )
    np.testing.assert_array_equal(row.values[0], whole.values[1])
    assert not np.array_equal(cmr_grid(spec, seed=4).values, whole.values)


def test_grid_points_recover_themselves(grid):
    curves = grid.values.reshape(-1, len(LAGS))
    fit = fit_grid(curves, LAGS, grid)
    assert np.allclose(fit["distance"], 0)
    interior = grid.sel(beta_rec=[0.5, 0.9], beta_enc=[0.3, 0.6, 0.9])
    b_enc, b_rec, _gamma = np.meshgrid(
        interior.beta_enc, interior.beta_rec, interior.gamma_ft, indexing="ij"
    )
    sub = fit_grid(interior.values.reshape(-1, len(LAGS)), LAGS, grid)
    assert (sub["beta_enc"] == b_enc.ravel()).mean() >= 0.9
    assert (sub["beta_rec"] == b_rec.ravel()).mean() >= 0.9


def test_distance_scale_and_flat_profile():
    a = np.array([[0.0, 1.0, 3.0]])
    dist, scale = cmr_distance(a * 5 + 2, a / 3)
    assert dist[0, 0] == pytest.approx(0)
    assert scale[0, 0] == pytest.approx(15)
    dist, _ = cmr_distance(np.ones((1, 3)), a)
    assert np.isnan(dist[0, 0])


def test_symmetric_kernel_fits_gaussian_and_has_zero_asymmetry(grid):
    profile = np.exp(-np.abs(LAGS))[None]
    assert gaussian_distance(profile, LAGS)[0] < 0.05
    assert asymmetry_index(profile, LAGS)[0] == pytest.approx(0)
    delta = (LAGS == -1).astype(float)[None]
    assert fit_grid(delta, LAGS, grid)["distance"][0] > 0.5


def test_continuous_fit_is_no_worse_than_grid(grid):
    profile = np.log(grid.sel(beta_enc=0.6, beta_rec=0.5, gamma_ft=0.4).values + 1e-4)[None]
    profile = profile + np.random.default_rng(0).normal(scale=0.05, size=profile.shape)
    start = fit_grid(profile, LAGS, grid, exclude_zero=True)
    fit = fit_continuous(profile, LAGS, grid)
    assert fit["distance"][0] <= start["distance"][0] + 1e-12
    assert 0.3 <= fit["beta_enc"][0] <= 1.0
