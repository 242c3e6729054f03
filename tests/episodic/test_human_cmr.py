"""Human lag-CRPs fitted with the heads' token-sequence CMR (planted grid points)."""

import numpy as np
import pytest
import xarray as xr

from neuroalign.episodic.cmr import cmr_grid
from neuroalign.episodic.human_cmr import fit_crps, human_cmr
from neuroalign.episodic.settings import GridSettings

HUMAN_LAGS = np.arange(-11, 12)  # a 12-item list


@pytest.fixture(scope="module")
def grid():
    spec = GridSettings(
        beta_enc=(0.3, 0.6, 0.9), beta_rec=(0.2, 0.5, 0.8), gamma_ft=(0.0, 0.3), n_runs=3
    )
    return cmr_grid(spec, seed=0)


def _crp(grid, **point):
    """A CRP-like curve (affine in the model's lag distribution) on the human lags."""
    curve = grid.sel(**point).values
    out = np.full(len(HUMAN_LAGS), 0.02)
    inside = np.abs(HUMAN_LAGS) <= 8
    out[inside] = 0.03 + 0.6 * curve
    out[HUMAN_LAGS == 0] = np.nan
    return out


def _human(curves):
    """A human dataset: datasets x subjects, NaN-padded like an outer join."""
    crp = np.stack([np.stack(c) for c in curves])
    return xr.Dataset(
        {"crp": (("dataset", "subject", "lag"), crp)},
        coords={"dataset": ["a", "b"], "subject": ["s1", "s2", "s3"], "lag": HUMAN_LAGS},
    )


def test_planted_grid_points_are_recovered_per_subject_and_group(grid):
    truth = [
        {"beta_enc": 0.6, "beta_rec": 0.5, "gamma_ft": 0.3},
        {"beta_enc": 0.9, "beta_rec": 0.8, "gamma_ft": 0.0},
    ]
    missing = np.full(len(HUMAN_LAGS), np.nan)
    gap = _crp(grid, **truth[1])
    gap[HUMAN_LAGS == 2] = np.nan  # no possible transition at a lag of the window
    human = _human(
        [
            [_crp(grid, **truth[0])] * 3,
            [_crp(grid, **truth[1]), gap, missing],
        ]
    )
    fits = human_cmr(human, grid, fit_lag=5)
    assert fits["cmr_distance"].dims == ("dataset", "subject")
    for prefix in ("cmr", "cmr_fit"):
        for name in ("beta_enc", "beta_rec", "gamma_ft"):
            values = fits[f"{prefix}_{name}"]
            assert values.sel(dataset="a").values == pytest.approx([truth[0][name]] * 3)
            assert float(values.sel(dataset="b", subject="s1")) == pytest.approx(truth[1][name])
            assert values.sel(dataset="b", subject=["s2", "s3"]).isnull().all()
            group = fits[f"group_{prefix}_{name}"]
            assert group.values == pytest.approx([truth[0][name], truth[1][name]])
        assert float(fits[f"group_{prefix}_distance"].max()) < 1e-12
    assert "lag 0" in fits.attrs["cmr_fit"] and fits.attrs["cmr_fit_lag"] == 5


def test_fit_ignores_lag_zero_and_the_scale_of_the_crp(grid):
    crp = _crp(grid, beta_enc=0.3, beta_rec=0.2, gamma_ft=0.3)
    other = crp * 4 + 1
    other[HUMAN_LAGS == 0] = 123.0  # a value at lag 0 must not matter
    fits = fit_crps(np.stack([crp, other]), HUMAN_LAGS, grid, fit_lag=5)
    for name in ("beta_enc", "beta_rec", "gamma_ft", "distance"):
        np.testing.assert_allclose(fits[f"cmr_{name}"][0], fits[f"cmr_{name}"][1], atol=1e-12)
    assert (fits["cmr_beta_enc"][0], fits["cmr_beta_rec"][0]) == pytest.approx((0.3, 0.2))
