"""Headline numbers of a stage with their interval, for the index page and the stage pages."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["estimate_text", "median_ci"]


def median_ci(
    values: np.ndarray, *, level: float = 0.95, n_boot: int = 999, seed: int = 0
) -> tuple[float, float, float]:
    """Median of the finite values with a BCa bootstrap interval over them.

    Returns ``(median, low, high)``; the bounds are NaN with fewer than 3 finite values or
    where BCa is undefined.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    median = float(np.median(values))
    if values.size < 3 or np.ptp(values) == 0:
        return median, float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (values,),
            np.median,
            n_resamples=n_boot,
            confidence_level=level,
            method="BCa",
            random_state=np.random.default_rng(seed),
        )
    return median, float(res.confidence_interval.low), float(res.confidence_interval.high)


def estimate_text(
    value: float, low: float, high: float, *, digits: int = 3, kind: str = "95% CI"
) -> str:
    """``0.123 (95% CI [0.100, 0.150])``, or the value alone when the bounds are not finite."""
    if not np.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" ({kind} [{low:.{digits}f}, {high:.{digits}f}])"
    return text
