"""Token-sequence CMR (Ji-An et al. 2024) and CMR distances of head lag profiles.

The model: ``n_items`` one-hot items studied once in order, plus an absorbing end state. With T
the shift matrix (T[i, i+1] = 1), the associations are M = (I - (1 - beta_enc) T)^-1 T, so
M[i, j] = (1 - beta_enc)^(j - i - 1) for j > i, used both ways. Recall starts from the context of
item ``s0``, samples an item with probability proportional to M^T t (no softmax, with
replacement), stops at the end state, and after each recall f updates the context:
t_in = norm((1 - gamma_ft) f + gamma_ft M f), t = norm((1 - beta_rec) t + beta_rec t_in).
The curve is the histogram of successive lags (the first one taken from ``s0``) within
``[-max_lag, max_lag]``, divided by the run's number of recalls, averaged over runs and start
items and normalized to sum 1: a lag distribution, not an actual/possible CRP.

Simulation is vectorized over runs, start items and blocks of (beta_rec, gamma_ft) pairs;
finished runs drop out of the arrays. Contexts are float32; the recall CDF is one product with
the row-wise cumulative sum of M, and each pair's t_in rows are tabulated once.

CMR distance (Ji-An et al.): with a = profile - min(profile) and c the model curve shifted to
min 0 and scaled to max(a) (the scale is the inverse temperature), D = mean((c - a)^2) / var(a).
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext

import numpy as np
import xarray as xr
from scipy.interpolate import RegularGridInterpolator
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from neuroalign._check import NeuroalignError
from neuroalign.episodic.settings import GridSettings

logger = logging.getLogger(__name__)


def association_matrix(beta_enc: float, n_items: int) -> np.ndarray:
    """M = (I - (1 - beta_enc) T)^-1 T over ``n_items`` items plus the absorbing end state."""
    n = n_items + 1
    i, j = np.indices((n, n))
    return np.where(j > i, (1.0 - beta_enc) ** np.maximum(j - i - 1, 0), 0.0)


def simulate_curves(
    beta_enc: float,
    beta_rec: np.ndarray,
    gamma_ft: np.ndarray,
    *,
    spec: GridSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Monte-Carlo lag curves for one beta_enc and many (beta_rec, gamma_ft) pairs.

    Parameters
    ----------
    beta_enc : float
        Encoding drift.
    beta_rec, gamma_ft : ndarray of shape (n_pairs,)
        Retrieval drift and item-to-context mixing of each pair.
    spec : GridSettings
        Items, lags, start items, runs per start item and recall cap.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    curves : ndarray of shape (n_pairs, 2 * max_lag + 1)
        Normalized lag distributions (rows sum to 1).
    """
    m = association_matrix(beta_enc, spec.n_items)
    cum = np.cumsum(m, axis=1).astype(np.float32)  # t @ cum = cumsum(M^T t): the recall CDF
    n_state = m.shape[0]
    n_pairs = len(beta_rec)
    per_pair = spec.n_starts * spec.n_runs
    n_total = n_pairs * per_pair
    gamma_ft = np.asarray(gamma_ft, dtype=float)
    # t_in of each (pair, recalled item): norm((1 - gamma_ft) f + gamma_ft M f); the row of
    # item 0 is 0/0 at gamma_ft = 1, but item 0 has no incoming association and is never recalled
    t_in = gamma_ft[:, None, None] * m.T + (1 - gamma_ft)[:, None, None] * np.eye(n_state)
    with np.errstate(invalid="ignore"):
        t_in = (t_in / np.linalg.norm(t_in, axis=2, keepdims=True)).astype(np.float32)
    pair = np.repeat(np.arange(n_pairs), per_pair)
    b_rec = np.repeat(np.asarray(beta_rec, dtype=np.float32), per_pair)
    prev = np.tile(np.repeat(np.arange(spec.n_starts), spec.n_runs), n_pairs)
    context = np.zeros((n_total, n_state), dtype=np.float32)
    context[np.arange(n_total), prev] = 1.0
    active = np.arange(n_total)
    n_lags = 2 * spec.max_lag + 1
    counts = np.zeros((n_total, n_lags))
    total = np.zeros(n_total)
    # one BLAS thread: the products are small, and threads spinning on them cost more than
    # they save (parallelism comes from cmr_grid's jobs)
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(spec.max_recalls):
            cdf = context @ cum
            draw = rng.random(len(active)) * cdf[:, -1]
            item = np.minimum((cdf < draw[:, None]).sum(axis=1), n_state - 1)
            keep = item < n_state - 1
            active, item = active[keep], item[keep]
            context, prev_a = context[keep], prev[active]
            if len(active) == 0:
                break
            lag = item - prev_a
            inside = np.abs(lag) <= spec.max_lag
            counts[active[inside], lag[inside] + spec.max_lag] += 1
            total[active] += 1
            prev[active] = item
            b = b_rec[active, None]
            context *= 1 - b
            context += b * t_in[pair[active], item]
            context /= np.linalg.norm(context, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        per_run = counts / total[:, None]
        mean = np.nanmean(per_run.reshape(n_pairs, per_pair, n_lags), axis=1)
    return mean / mean.sum(axis=-1, keepdims=True)


def _grid_row(beta_enc: float, spec: GridSettings, seed: int, chunk: int) -> np.ndarray:
    """Curves of every (beta_rec, gamma_ft) pair at one beta_enc, from that row's own stream."""
    rng = np.random.default_rng([seed, round(beta_enc * 10**6)])
    b_rec, gamma = np.meshgrid(spec.beta_rec, spec.gamma_ft, indexing="ij")
    b_rec, gamma = b_rec.ravel(), gamma.ravel()
    return np.concatenate(
        [
            simulate_curves(
                beta_enc, b_rec[lo : lo + chunk], gamma[lo : lo + chunk], spec=spec, rng=rng
            )
            for lo in range(0, len(b_rec), chunk)
        ]
    )


def cmr_grid(
    spec: GridSettings | None = None,
    *,
    seed: int = 0,
    chunk: int = 8,
    jobs: int = 1,
) -> xr.DataArray:
    """Simulate the lag curve at every grid point.

    Parameters
    ----------
    spec : GridSettings, optional
        The grid (default: Ji-An et al.'s).
    seed : int
        Random seed. Each beta_enc row draws from its own stream, keyed by the seed and the
        beta_enc value, so the same spec and seed give the same grid, whatever ``jobs``, and a
        grid over a subset of beta_enc values equals those rows of the whole grid.
    chunk : int
        (beta_rec, gamma_ft) pairs simulated together (blocks that fit in the CPU cache run
        fastest).
    jobs : int
        Worker processes (one beta_enc row at a time each).

    Returns
    -------
    grid : xarray.DataArray of shape (beta_enc, beta_rec, gamma_ft, lag)
        Normalized lag curves, with the spec in attrs.
    """
    spec = spec or GridSettings()
    n = len(spec.beta_enc)
    args = (spec.beta_enc, [spec] * n, [seed] * n, [chunk] * n)
    with ProcessPoolExecutor(jobs) if jobs > 1 else nullcontext() as pool:
        rows = []
        for row in (pool.map if pool else map)(_grid_row, *args):
            rows.append(row)
            logger.info(
                "CMR grid: beta_enc %.3f done (%d/%d)", spec.beta_enc[len(rows) - 1], len(rows), n
            )
    curves = np.stack(rows).reshape(len(spec.beta_enc), len(spec.beta_rec), len(spec.gamma_ft), -1)
    return xr.DataArray(
        curves,
        dims=("beta_enc", "beta_rec", "gamma_ft", "lag"),
        coords={
            "beta_enc": list(spec.beta_enc),
            "beta_rec": list(spec.beta_rec),
            "gamma_ft": list(spec.gamma_ft),
            "lag": np.arange(-spec.max_lag, spec.max_lag + 1),
        },
        name="cmr_curve",
        attrs={
            "n_items": spec.n_items,
            "n_starts": spec.n_starts,
            "n_runs": spec.n_runs,
            "max_recalls": spec.max_recalls,
            "seed": seed,
            "model": "token-sequence CMR (Ji-An et al. 2024)",
        },
    )


def iid_corner_curve(beta_enc: float, *, spec: GridSettings) -> np.ndarray:
    """Closed-form curve at beta_rec = 0, gamma_ft = 0 (context never changes).

    Samples are independent draws from p = M[s0] / sum(M[s0]); the lag between two draws has
    distribution sum_k p[k] p[k + lag]. Averaged over start items, normalized over the lags.
    """
    m = association_matrix(beta_enc, spec.n_items)
    lags = np.arange(-spec.max_lag, spec.max_lag + 1)
    out = np.zeros(len(lags))
    for s0 in range(spec.n_starts):
        p = m[s0, :-1] / m[s0].sum()
        full = np.correlate(p, p, mode="full")  # index n - 1 + lag
        curve = full[len(p) - 1 + lags]
        out += curve / curve.sum()
    return out / out.sum()


def _shift(values: np.ndarray) -> np.ndarray:
    return values - np.nanmin(values, axis=-1, keepdims=True)


def cmr_distance(profiles: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CMR distance of each profile to each curve.

    Parameters
    ----------
    profiles : ndarray of shape (n_profiles, n_lags)
        Head lag profiles (pre-softmax or log-probability scale).
    curves : ndarray of shape (n_curves, n_lags)
        Model curves on the same lags.

    Returns
    -------
    distance, inv_temp : ndarray of shape (n_profiles, n_curves)
        D = mean((c_scaled - a)^2) / var(a); NaN for a flat profile. ``inv_temp`` is the scale
        that maps the shifted curve onto the shifted profile.
    """
    a = _shift(np.asarray(profiles, dtype=float))
    c = _shift(np.asarray(curves, dtype=float))
    c_max = c.max(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = a.max(axis=-1)[:, None] / np.where(c_max > 0, c_max, np.nan)[None, :]
        scaled = c[None] * scale[..., None]
        var = a.var(axis=-1)
        distance = ((scaled - a[:, None]) ** 2).mean(axis=-1) / np.where(var > 0, var, np.nan)[
            :, None
        ]
    return distance, scale


def _lag_mask(lags: np.ndarray, fit_lag: int, exclude_zero: bool) -> np.ndarray:
    mask = np.abs(lags) <= fit_lag
    if exclude_zero:
        mask &= lags != 0
    return mask


def fit_grid(
    profiles: np.ndarray,
    lags: np.ndarray,
    grid: xr.DataArray,
    *,
    fit_lag: int = 5,
    exclude_zero: bool = False,
    chunk: int = 256,
) -> dict[str, np.ndarray]:
    """Best grid point per profile (Ji-An et al.'s replication fit).

    Parameters
    ----------
    profiles : ndarray of shape (n_profiles, n_lags)
        Profiles on ``lags``.
    lags : ndarray of shape (n_lags,)
        Their lags (must include every lag in ``[-fit_lag, fit_lag]``).
    grid : xarray.DataArray
        From :func:`cmr_grid`.
    fit_lag : int
        Fit on lags ``-fit_lag .. fit_lag``.
    exclude_zero : bool
        Drop lag 0 (the curves are renormalized over the remaining lags).
    chunk : int
        Profiles per vectorized block.

    Returns
    -------
    fit : dict of str to ndarray of shape (n_profiles,)
        ``beta_enc``, ``beta_rec``, ``gamma_ft``, ``inv_temp``, ``distance``.
    """
    mask = _lag_mask(np.asarray(lags), fit_lag, exclude_zero)
    grid_mask = _lag_mask(grid["lag"].values, fit_lag, exclude_zero)
    if mask.sum() != grid_mask.sum():
        raise NeuroalignError(
            f"profiles cover lags {lags.min()}..{lags.max()}; the fit needs -{fit_lag}..{fit_lag}"
        )
    curves = grid.values[..., grid_mask]
    curves = curves / curves.sum(axis=-1, keepdims=True)
    flat = curves.reshape(-1, curves.shape[-1])
    profiles = np.asarray(profiles, dtype=float)[:, mask]
    out = {k: np.full(len(profiles), np.nan) for k in ("distance", "inv_temp")}
    best = np.zeros(len(profiles), dtype=np.int64)
    for start in range(0, len(profiles), chunk):
        dist, scale = cmr_distance(profiles[start : start + chunk], flat)
        filled = np.where(np.isnan(dist), np.inf, dist)
        idx = filled.argmin(axis=1)
        rows = np.arange(len(idx))
        best[start : start + chunk] = idx
        out["distance"][start : start + chunk] = dist[rows, idx]
        out["inv_temp"][start : start + chunk] = scale[rows, idx]
    i, j, k = np.unravel_index(best, curves.shape[:3])
    nan = np.isnan(out["distance"])
    for name, index in (("beta_enc", i), ("beta_rec", j), ("gamma_ft", k)):
        out[name] = np.where(nan, np.nan, grid[name].values[index])
    return out


def fit_continuous(
    profiles: np.ndarray,
    lags: np.ndarray,
    grid: xr.DataArray,
    *,
    fit_lag: int = 5,
) -> dict[str, np.ndarray]:
    """Continuous CMR fit with lag 0 excluded.

    The grid curves (renormalized without lag 0) are interpolated linearly in
    (beta_enc, beta_rec, gamma_ft); D is minimized with L-BFGS-B within the grid's bounds,
    starting from the best grid point.

    Returns
    -------
    fit : dict of str to ndarray of shape (n_profiles,)
        ``beta_enc``, ``beta_rec``, ``gamma_ft``, ``inv_temp``, ``distance``.
    """
    start = fit_grid(profiles, lags, grid, fit_lag=fit_lag, exclude_zero=True)
    grid_mask = _lag_mask(grid["lag"].values, fit_lag, True)
    mask = _lag_mask(np.asarray(lags), fit_lag, True)
    curves = grid.values[..., grid_mask]
    curves = curves / curves.sum(axis=-1, keepdims=True)
    axes = [grid[n].values for n in ("beta_enc", "beta_rec", "gamma_ft")]
    interp = RegularGridInterpolator(axes, curves)
    bounds = [(float(a.min()), float(a.max())) for a in axes]
    out = {k: v.copy() for k, v in start.items()}
    profiles = np.asarray(profiles, dtype=float)[:, mask]
    for n, profile in enumerate(profiles):
        if np.isnan(start["distance"][n]):
            continue

        def loss(x, profile=profile):
            value = cmr_distance(profile[None], interp(np.asarray(x)[None]))[0]
            return float(value[0, 0])

        x0 = [start[k][n] for k in ("beta_enc", "beta_rec", "gamma_ft")]
        res = minimize(loss, x0, method="L-BFGS-B", bounds=bounds)
        if res.fun <= start["distance"][n]:
            dist, scale = cmr_distance(profile[None], interp(res.x[None]))
            out["beta_enc"][n], out["beta_rec"][n], out["gamma_ft"][n] = res.x
            out["distance"][n], out["inv_temp"][n] = dist[0, 0], scale[0, 0]
    return out


def gaussian_distance(
    profiles: np.ndarray,
    lags: np.ndarray,
    *,
    fit_lag: int = 5,
    centers: np.ndarray | None = None,
    widths: np.ndarray | None = None,
) -> np.ndarray:
    """CMR-style distance of each profile to its best Gaussian kernel (a symmetric baseline).

    Kernels exp(-(lag - mu)^2 / (2 sigma^2)) over a grid of centers and widths are scored with
    :func:`cmr_distance` on lags ``-fit_lag .. fit_lag``.

    Returns
    -------
    distance : ndarray of shape (n_profiles,)
    """
    mask = _lag_mask(np.asarray(lags), fit_lag, False)
    x = np.asarray(lags)[mask]
    centers = np.arange(-fit_lag, fit_lag + 0.01, 0.25) if centers is None else centers
    widths = np.geomspace(0.1, 20, 40) if widths is None else widths
    mu, sigma = np.meshgrid(centers, widths, indexing="ij")
    kernels = np.exp(-((x - mu.reshape(-1, 1)) ** 2) / (2 * sigma.reshape(-1, 1) ** 2))
    dist, _ = cmr_distance(np.asarray(profiles, dtype=float)[:, mask], kernels)
    best = np.where(np.isnan(dist), np.inf, dist).min(axis=1)
    return np.where(np.isinf(best), np.nan, best)
