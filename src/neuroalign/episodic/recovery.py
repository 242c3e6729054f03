"""Parameter recovery of the token-sequence CMR fits (planted ground truth).

Curves are simulated at random interior parameters with a seed of their own (never the grid's),
then fitted back with the replication grid fit (lags ``-fit_lag..fit_lag``, lag 0 included) and
the continuous fit (lag 0 excluded). A fitted value counts as recovered when it lies within one
grid step of the truth, the step being the spacing of the grid cell that holds the truth; for a
truth between two grid points only those two points pass.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.episodic.cmr import fit_continuous, fit_grid, simulate_curves
from neuroalign.episodic.settings import GridSettings, RecoverySettings

PARAMETERS = ("beta_enc", "beta_rec", "gamma_ft")
#: The default draw bounds (the grid's interior), as in the schema's ``episodic.recovery``.
INTERIOR = RecoverySettings().bounds()


def interior_draws(
    n: int, rng: np.random.Generator, bounds: dict[str, tuple[float, float]] | None = None
) -> np.ndarray:
    """Parameters drawn uniformly within ``bounds`` (default :data:`INTERIOR`).

    Returns
    -------
    theta : ndarray of shape (n, 3)
        Columns beta_enc, beta_rec, gamma_ft.
    """
    bounds = bounds or INTERIOR
    return np.column_stack([rng.uniform(*bounds[name], size=n) for name in PARAMETERS])


def grid_spec(grid: xr.DataArray, **overrides) -> GridSettings:
    """The simulation settings a grid was made with (from its coords and attrs)."""
    lags = grid["lag"].values
    settings = {
        "beta_enc": tuple(grid["beta_enc"].values.tolist()),
        "beta_rec": tuple(grid["beta_rec"].values.tolist()),
        "gamma_ft": tuple(grid["gamma_ft"].values.tolist()),
        "max_lag": int(lags.max()),
        **{k: int(grid.attrs[k]) for k in ("n_items", "n_starts", "n_runs", "max_recalls")},
    }
    return GridSettings(**{**settings, **overrides})


def simulate_draws(
    theta: np.ndarray, *, spec: GridSettings, rng: np.random.Generator
) -> np.ndarray:
    """Lag curves of the token-sequence CMR at each row of ``theta`` (one simulation each).

    Returns
    -------
    curves : ndarray of shape (n, 2 * spec.max_lag + 1)
    """
    return np.stack(
        [
            simulate_curves(b_enc, np.array([b_rec]), np.array([gamma]), spec=spec, rng=rng)[0]
            for b_enc, b_rec, gamma in np.asarray(theta, dtype=float)
        ]
    )


def within_one_step(fitted: np.ndarray, truth: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Whether each fitted value lies within one grid step of the truth.

    The step is the spacing of the grid cell that holds the truth (the last cell for a truth on
    the top grid point); a truth outside the grid raises.
    """
    axis = np.asarray(axis, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if (truth < axis[0]).any() or (truth > axis[-1]).any():
        raise NeuroalignError(
            f"recovery draws must lie within the grid ({axis[0]}..{axis[-1]}); widen the grid "
            "or narrow the draw bounds"
        )
    cell = np.clip(np.searchsorted(axis, truth, side="right") - 1, 0, len(axis) - 2)
    step = axis[cell + 1] - axis[cell]
    return np.abs(np.asarray(fitted) - truth) <= step * (1 + 1e-9)


def recover(
    curves: np.ndarray, theta: np.ndarray, grid: xr.DataArray, *, fit_lag: int = 5
) -> xr.Dataset:
    """Fit simulated curves back on ``grid`` and score them against their parameters.

    Parameters
    ----------
    curves : ndarray of shape (n_draws, n_lags)
        Curves on the grid's lags.
    theta : ndarray of shape (n_draws, 3)
        Their beta_enc, beta_rec and gamma_ft.
    grid : xarray.DataArray
        From :func:`neuroalign.episodic.cmr.cmr_grid`.
    fit_lag : int
        Fit window, as in the head analysis.

    Returns
    -------
    recovery : xarray.Dataset
        ``curve`` (draw, lag); ``truth``, ``grid`` and ``continuous`` (draw, parameter) with
        the true and fitted values; ``grid_within`` and ``continuous_within`` (draw,
        parameter); the recovery rate of each fit and parameter in attrs
        (``rate_<fit>_<parameter>``), with ``fit_lag``.
    """
    lags = grid["lag"].values
    fits = {
        "grid": fit_grid(curves, lags, grid, fit_lag=fit_lag),
        "continuous": fit_continuous(curves, lags, grid, fit_lag=fit_lag),
    }
    dims = ("draw", "parameter")
    data = {"curve": (("draw", "lag"), curves), "truth": (dims, theta)}
    attrs = {"fit_lag": fit_lag}
    for name, fit in fits.items():
        fitted = np.column_stack([fit[p] for p in PARAMETERS])
        within = np.column_stack(
            [
                within_one_step(fitted[:, i], theta[:, i], grid[p].values)
                for i, p in enumerate(PARAMETERS)
            ]
        )
        data[name] = (dims, fitted)
        data[f"{name}_within"] = (dims, within)
        attrs.update(
            {f"rate_{name}_{p}": float(within[:, i].mean()) for i, p in enumerate(PARAMETERS)}
        )
    coords = {"draw": np.arange(len(theta)), "parameter": list(PARAMETERS), "lag": lags}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def parameter_recovery(
    grid: xr.DataArray,
    *,
    n_draws: int,
    seed: int,
    fit_lag: int = 5,
    n_runs: int | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> xr.Dataset:
    """Simulate curves at interior parameters and fit them back on ``grid``.

    Parameters
    ----------
    grid : xarray.DataArray
        From :func:`neuroalign.episodic.cmr.cmr_grid`; the draws use its simulation settings.
    n_draws : int
        Number of draws.
    seed : int
        Seed of the draws; it must differ from the grid's, so the noise is fresh.
    fit_lag : int
        Fit window, as in the head analysis.
    n_runs : int, optional
        Runs per start item of each draw (default: the grid's).
    bounds : dict, optional
        Draw bounds per parameter (default :data:`INTERIOR`).

    Returns
    -------
    recovery : xarray.Dataset
        As from :func:`recover`, with the draw settings in attrs.
    """
    if int(grid.attrs["seed"]) == seed:
        raise NeuroalignError(f"recovery seed {seed} is the grid's seed; draw with a fresh one")
    bounds = bounds or INTERIOR
    for name, (low, high) in bounds.items():
        axis = grid[name].values
        if low < axis.min() or high > axis.max():
            raise NeuroalignError(
                f"{name} draw bounds {low}..{high} leave the grid ({axis.min()}..{axis.max()}); "
                "narrow the bounds or widen the grid"
            )
    rng = np.random.default_rng(seed)
    theta = interior_draws(n_draws, rng, bounds)
    spec = grid_spec(grid, **({"n_runs": n_runs} if n_runs else {}))
    out = recover(simulate_draws(theta, spec=spec, rng=rng), theta, grid, fit_lag=fit_lag)
    out.attrs.update(
        {
            "seed": seed,
            "n_draws": n_draws,
            "n_runs": spec.n_runs,
            "grid_seed": int(grid.attrs["seed"]),
            "grid_n_runs": int(grid.attrs["n_runs"]),
            **{f"bounds_{p}": f"{lo} {hi}" for p, (lo, hi) in bounds.items()},
        }
    )
    return out
