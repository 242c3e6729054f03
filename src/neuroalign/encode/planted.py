"""Fits against the planted truth of a simulated dataset (``derivatives/neuroalign-truth``).

A simulated dataset ships what it planted (`neuroalign.data.simulate`); when an encoding result
is computed on one, its summary says how much of that truth the fit recovered. Real datasets
have no truth folder, and these functions are not called for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from neuroalign.encoding.scores import pearson_r
from neuroalign.results import load_netcdf

__all__ = ["TRUTH", "fmri_recovery", "meg_recovery", "read_truth"]

#: Where a simulated dataset keeps its planted truth.
TRUTH = Path("derivatives") / "neuroalign-truth"


def read_truth(dataset: str | Path) -> xr.Dataset | None:
    """The planted truth of a simulated dataset (``truth.nc``), or None for real data."""
    path = Path(dataset) / TRUTH / "truth.nc"
    return load_netcdf(path, "planted truth") if path.is_file() else None


def _r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two vectors."""
    return float(pearson_r(np.ravel(a)[:, None], np.ravel(b)[:, None])[0])


def fmri_recovery(truth: xr.Dataset, subject: str, r: np.ndarray, q: np.ndarray) -> dict:
    """Voxels found (q < 0.05) against the planted language mask, and r against the ideal r.

    Parameters
    ----------
    truth : Dataset
        The simulated dataset's truth (``language_mask`` per voxel, ``ideal_test_r`` per subject
        and voxel), on the voxels of the fit.
    subject : str
        The subject label.
    r, q : ndarray of shape (n_voxels,)
        Held-out r and q-values of the fit.

    Returns
    -------
    summary : dict
        ``precision_q05``, ``recall_q05``, ``mean_r_language``, ``mean_r_other`` and, when the
        truth knows the subject, ``r_vs_ideal_r``.
    """
    planted = truth["language_mask"].values.astype(bool)
    found = q < 0.05
    tp = int(np.sum(found & planted))
    out = {
        "precision_q05": tp / max(int(found.sum()), 1),
        "recall_q05": tp / max(int(planted.sum()), 1),
        "mean_r_language": float(r[planted].mean()),
        "mean_r_other": float(r[~planted].mean()),
    }
    if subject in truth["subject"].values:
        out["r_vs_ideal_r"] = _r(r, truth["ideal_test_r"].sel(subject=subject).values)
    return out


def meg_recovery(truth: xr.Dataset, subject: str, fit: xr.Dataset) -> dict:
    """Recovered vs planted: the word-onset TRF, and held-out r against planted TRF strength.

    Parameters
    ----------
    truth : Dataset
        The simulated dataset's truth (``trf`` per subject, sensor, lag and predictor).
    subject : str
        The subject label.
    fit : Dataset
        The MEG encoding result (``trf`` with a ``word_onset`` predictor, ``r``, ``q``).

    Returns
    -------
    summary : dict
        ``word_onset_trf_correlation`` (on the lags both have), ``r_vs_planted_strength`` and
        ``sensors_q05``; empty when the truth does not know the subject.
    """
    if subject not in truth["subject"].values:
        return {}
    planted = truth["trf"].sel(subject=subject, predictor="word_onset")
    planted = planted.assign_coords(lag=np.round(planted["lag"].values, 6))
    found = fit["trf"].sel(predictor="word_onset").assign_coords(lag=np.round(fit["lag"].values, 6))
    common = np.intersect1d(planted["lag"].values, found["lag"].values)
    sensors = fit["sensor"].values
    a = found.sel(lag=common).transpose("sensor", "lag").values
    b = planted.sel(lag=common, sensor=sensors).transpose("sensor", "lag").values
    strength = np.sqrt((planted**2).sum("lag")).sel(sensor=sensors).values
    return {
        "word_onset_trf_correlation": _r(a, b),
        "r_vs_planted_strength": _r(fit["r"].values, strength),
        "sensors_q05": int(np.sum(fit["q"].values < 0.05)),
    }
