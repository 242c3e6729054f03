"""Headline numbers of a stage with their interval, for the index page and the stage pages.

A stage's page carries at most one :class:`Headline` (``Page.headline``): what is estimated, on
which result, the number and its interval with the interval's kind. The index shows it next to
the stage's link and the stage page under its title, both from the same object, so the two can
never disagree; :func:`first_headline` picks a stage's from its subpages'.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Headline", "estimate_text", "first_headline", "median_ci"]


@dataclass(frozen=True)
class Headline:
    """A stage's headline number with its interval.

    Parameters
    ----------
    label : str
        What is estimated (``"median r over the 30 voxels with q < 0.05"``).
    value : float
        The estimate.
    low, high : float
        The interval's bounds (NaN when the result has none; the text then says so).
    interval : str
        The interval's kind and level (``"95% CI"``, ``"BCa 95% CI"``, ``"re-split central
        95%"``).
    where : str
        The result it comes from (``"sim_fmri/minilm"``), shown before the label.
    digits : int
        Decimals shown.
    note : str
        Shown after the number (``"chance 0.500"``).

    Examples
    --------
    >>> Headline("2-way identification", 0.8123, 0.75, 0.86, where="sim_vision/sub-01").text()
    'sim_vision/sub-01: 2-way identification = 0.812 (95% CI [0.750, 0.860])'
    """

    label: str
    value: float
    low: float = float("nan")
    high: float = float("nan")
    interval: str = "95% CI"
    where: str = ""
    digits: int = 3
    note: str = ""

    @property
    def has_interval(self) -> bool:
        """Whether both bounds are finite."""
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def number(self) -> str:
        """The value with its interval (``"0.812 (95% CI [0.750, 0.860])"``)."""
        text = estimate_text(
            self.value, self.low, self.high, digits=self.digits, kind=self.interval
        )
        if np.isfinite(self.value) and not self.has_interval:
            text += " (no interval: the result holds a single estimate)"
        return text + (f", {self.note}" if self.note else "")

    def text(self) -> str:
        """``where: label = number``."""
        head = f"{self.where}: " if self.where else ""
        return f"{head}{self.label} = {self.number()}"


def first_headline(headlines: Iterable[Headline | None]) -> Headline | None:
    """The first headline with an interval, else the first one, else None (NaN values skipped)."""
    found = [h for h in headlines if h is not None and np.isfinite(h.value)]
    return next((h for h in found if h.has_interval), found[0] if found else None)


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
