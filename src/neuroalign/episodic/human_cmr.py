"""Human lag-CRPs placed in the heads' token-sequence CMR parameter space.

Each subject's lag-CRP, and each dataset's group lag-CRP (the mean over subjects that
:func:`neuroalign.episodic.analysis.compare_with_human` compares heads with), is fitted with the
same token-sequence CMR grid and the same CMR distance as the heads, on lags
``-fit_lag..fit_lag`` without lag 0 (a free-recall CRP has none): the best grid point
(``cmr_*``) and the continuous fit from it (``cmr_fit_*``). The model is Ji-An et al.'s
token-sequence CMR (100 items, recall with replacement, an absorbing end state), not the full
free-recall CMR with a stop rule and recall without repeats; its lag distribution stands in for a
CRP because with recall with replacement every lag in the window is almost always available, and
the distance ignores the curves' shift and scale.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign.episodic.cmr import fit_continuous, fit_grid

FIELDS = ("beta_enc", "beta_rec", "gamma_ft", "inv_temp", "distance")

METHOD = (
    "token-sequence CMR (Ji-An et al. 2024; not the free-recall CMR with a stop rule) fitted to "
    "the actual/possible lag-CRP on lags -{L}..{L} without lag 0, with the heads' CMR distance "
    "(both curves shifted to minimum 0, the model curve scaled to the CRP's maximum, squared "
    "error over the CRP's variance) and the heads' grid (model curves renormalized without lag "
    "0). cmr_*: best grid point; cmr_fit_*: continuous fit from it (grid curves interpolated "
    "linearly, L-BFGS-B within the grid bounds). Per subject (dataset, subject) and for the "
    "group curve, the mean CRP over subjects (group_*, dataset). NaN where the CRP is undefined "
    "at a lag of the window."
)


def fit_crps(crps: np.ndarray, lags: np.ndarray, grid: xr.DataArray, *, fit_lag: int) -> dict:
    """Grid and continuous CMR fits of lag-CRPs, lag 0 excluded.

    Parameters
    ----------
    crps : ndarray of shape (n_curves, n_lags)
        Lag-CRPs (NaN at lag 0 is ignored).
    lags : ndarray of shape (n_lags,)
        Their lags; must include ``-fit_lag..fit_lag``.
    grid : xarray.DataArray
        From :func:`neuroalign.episodic.cmr.cmr_grid`.
    fit_lag : int
        Fit window.

    Returns
    -------
    fits : dict of str to ndarray of shape (n_curves,)
        ``cmr_<field>`` (best grid point) and ``cmr_fit_<field>`` (continuous) for each field
        of :data:`FIELDS`.
    """
    crps = np.atleast_2d(np.asarray(crps, dtype=float))
    lags = np.asarray(lags)
    window = (np.abs(lags) <= fit_lag) & (lags != 0)
    valid = np.isfinite(crps[:, window]).all(axis=1)
    out = {f"{p}_{k}": np.full(len(crps), np.nan) for p in ("cmr", "cmr_fit") for k in FIELDS}
    if valid.any():
        best = fit_grid(crps[valid], lags, grid, fit_lag=fit_lag, exclude_zero=True)
        continuous = fit_continuous(crps[valid], lags, grid, fit_lag=fit_lag)
        for k in FIELDS:
            out[f"cmr_{k}"][valid] = best[k]
            out[f"cmr_fit_{k}"][valid] = continuous[k]
    return out


def human_cmr(human: xr.Dataset, grid: xr.DataArray, *, fit_lag: int) -> xr.Dataset:
    """CMR fits of every subject's and every dataset's group lag-CRP.

    Parameters
    ----------
    human : xarray.Dataset
        With ``crp`` (dataset, subject, lag), as from
        :func:`neuroalign.episodic.outputs.human_dataset`.
    grid : xarray.DataArray
        The heads' CMR grid.
    fit_lag : int
        The heads' fit window.

    Returns
    -------
    fits : xarray.Dataset
        ``cmr_*`` and ``cmr_fit_*`` (dataset, subject) and ``group_cmr_*``,
        ``group_cmr_fit_*`` (dataset); the method in ``attrs["cmr_fit"]``.
    """
    crp = human["crp"].transpose("dataset", "subject", "lag")
    lags = human["lag"].values
    per_subject = fit_crps(crp.values.reshape(-1, len(lags)), lags, grid, fit_lag=fit_lag)
    group = fit_crps(crp.mean("subject", skipna=True).values, lags, grid, fit_lag=fit_lag)
    shape = crp.shape[:2]
    data = {k: (("dataset", "subject"), v.reshape(shape)) for k, v in per_subject.items()}
    data.update({f"group_{k}": ("dataset", v) for k, v in group.items()})
    return xr.Dataset(
        data,
        coords={"dataset": crp["dataset"].values, "subject": crp["subject"].values},
        attrs={
            "cmr_fit": METHOD.format(L=fit_lag),
            "cmr_fit_lag": fit_lag,
            "cmr_grid_seed": str(grid.attrs.get("seed", "")),
            "cmr_grid_n_runs": str(grid.attrs.get("n_runs", "")),
        },
    )
