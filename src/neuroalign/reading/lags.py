"""Alignment diagnostic of a word table: does a word property predict the measure of its own row?

A table whose measures are shifted against its words (an off-by-one join, a dropped first
word) is a common and silent error: every regression still runs. The **lag profile** of a text
is the Pearson correlation of the measure of word ``i`` with a property (length, frequency) of
word ``i + k``, for offsets ``k = -max_lag .. max_lag`` within the text (no pairs across
texts). A property that drives its own word's measure peaks at ``k = 0``; measures stored one
word late peak at ``k = -1`` (they belong to the word before), one word early at ``k = +1``.

Per text, the profile is *flagged* when its largest absolute correlation is at ``k != 0`` and
exceeds the one at ``k = 0`` by more than ``margin`` standard errors (Fisher z difference,
``sqrt(2 / (n - 3))``), so short noisy texts are not flagged by chance; texts with fewer than
``min_words`` pairs are not judged. The whole table's profile pools the pairs of every text;
the table is **misaligned** when that pooled profile peaks off zero by the same rule.
Self-paced reading is the exception: there the previous word's properties weigh more than the
word's own (spillover), so an aligned table peaks at ``k = -1`` (the Natural Stories RTs,
realigned by their reader, peak at -1 with nothing at +1; the file as shipped peaks at 0 with a
large +1, the same profile one word early); ``expected`` (setting ``lag_expected``) names the
offset an aligned table peaks at, and the rules above use it in place of 0.
``on_misalignment`` says what then happens: ``error`` refuses the table, ``warn`` logs a
warning naming the peak and the flagged texts. A shift the user applies (``shift_measures``) is
recorded in the results' provenance.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option

__all__ = ["LagProfile", "check_alignment", "lag_profiles", "shift_measures"]

logger = logging.getLogger(__name__)

ON_MISALIGNMENT = ("error", "warn")


@dataclass(frozen=True)
class LagProfile:
    """Lag profiles of a table's texts and the pooled profile.

    Attributes
    ----------
    lags : ndarray of shape (n_lags,)
        Offsets ``-max_lag .. max_lag``.
    texts : ndarray of shape (n_texts,)
        Text names.
    r : ndarray of shape (n_texts, n_lags)
        Per-text correlation at each offset (NaN where too few pairs).
    n : ndarray of shape (n_texts, n_lags)
        Pairs behind each correlation.
    flagged : ndarray of bool, shape (n_texts,)
        Texts whose profile peaks off zero (module notes).
    pooled : ndarray of shape (n_lags,)
        Correlation over the pairs of all texts.
    pooled_n : ndarray of shape (n_lags,)
    peak : int
        Offset of the pooled profile's largest absolute correlation.
    misaligned : bool
        The pooled profile peaks off ``expected`` by more than the margin.
    expected : int
        The offset where an aligned table peaks.
    """

    lags: np.ndarray
    texts: np.ndarray
    r: np.ndarray
    n: np.ndarray
    flagged: np.ndarray
    pooled: np.ndarray
    pooled_n: np.ndarray
    peak: int
    misaligned: bool
    expected: int = 0


def _pairs(y: np.ndarray, x: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """(measure of word i, property of word i + lag) over the words of one text."""
    n = len(y)
    if lag >= 0:
        a, b = y[: n - lag], x[lag:]
    else:
        a, b = y[-lag:], x[: n + lag]
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _off_zero(
    r: np.ndarray, n: np.ndarray, lags: np.ndarray, margin: float, expected: int = 0
) -> tuple[int, bool]:
    """The peak offset, and whether it is off ``expected`` by more than ``margin`` SEs."""
    if not np.isfinite(r).any():
        return expected, False
    a = np.where(np.isfinite(r), np.abs(r), -np.inf)
    k = int(np.argmax(a))
    zero = int(np.flatnonzero(lags == expected)[0])
    if lags[k] == expected or not np.isfinite(r[zero]):
        return int(lags[k]), False
    m = max(min(n[k], n[zero]) - 3, 1)
    diff = np.arctanh(min(a[k], 0.999999)) - np.arctanh(min(abs(r[zero]), 0.999999))
    return int(lags[k]), bool(diff > margin * np.sqrt(2.0 / m))


def lag_profiles(
    measure: np.ndarray,
    prop: np.ndarray,
    texts: np.ndarray,
    *,
    max_lag: int = 2,
    margin: float = 2.0,
    min_words: int = 10,
    expected: int = 0,
) -> LagProfile:
    """Lag profile of each text and of the pooled table (module notes).

    Parameters
    ----------
    measure : array of shape (n_words,)
        The measure of each row (NaN where missing).
    prop : array of shape (n_words,)
        A word property (length, frequency) of each row.
    texts : array of shape (n_words,)
        Text of each row; rows of a text in reading order.
    max_lag : int, default=2
        Offsets ``-max_lag .. max_lag``.
    margin : float, default=2.0
        Standard errors by which an off-zero peak must beat offset 0 to flag.
    min_words : int, default=10
        Fewest pairs for a text to be judged.
    expected : int, default=0
        Offset at which an aligned table peaks (module notes).

    Returns
    -------
    profile : LagProfile
    """
    y, x, texts = np.asarray(measure, float), np.asarray(prop, float), np.asarray(texts)
    lags = np.arange(-max_lag, max_lag + 1)
    names = pd.unique(texts)
    codes = pd.Series(texts).map({t: i for i, t in enumerate(names)}).to_numpy()
    r = np.full((len(names), len(lags)), np.nan)
    n = np.zeros((len(names), len(lags)), np.int64)
    flagged = np.zeros(len(names), bool)
    pooled_a: list[list[np.ndarray]] = [[] for _ in lags]
    pooled_b: list[list[np.ndarray]] = [[] for _ in lags]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for t in range(len(names)):
        rows = order[bounds[t] : bounds[t + 1]]
        for j, lag in enumerate(lags):
            a, b = _pairs(y[rows], x[rows], int(lag))
            n[t, j] = len(a)
            if len(a) >= min_words:
                r[t, j] = _corr(a, b)
            if len(a):
                # centered within the text: the pooled profile compares words within texts
                pooled_a[j].append(a - a.mean())
                pooled_b[j].append(b - b.mean())
        flagged[t] = _off_zero(r[t], n[t], lags, margin, expected)[1]
    pooled = np.array(
        [
            _corr(np.concatenate(a), np.concatenate(b)) if a else np.nan
            for a, b in zip(pooled_a, pooled_b, strict=True)
        ]
    )
    pooled_n = np.array([sum(map(len, a)) for a in pooled_a])
    peak, misaligned = _off_zero(pooled, pooled_n, lags, margin, expected)
    return LagProfile(
        lags, np.asarray(names), r, n, flagged, pooled, pooled_n, peak, misaligned, expected
    )


def check_alignment(
    profile: LagProfile, on_misalignment: str, *, what: str, prop: str, measure: str
) -> None:
    """Refuse (``error``) or warn about (``warn``) a table whose pooled profile peaks off zero.

    Raises
    ------
    NeuroalignError
        With ``on_misalignment="error"``, if the table is misaligned.
    """
    check_option("on_misalignment", on_misalignment, ON_MISALIGNMENT)
    flagged = profile.texts[profile.flagged].tolist()
    if not profile.misaligned:
        if flagged:
            logger.info(
                "%s: %d of %d texts have a %s-%s lag profile peaking off zero: %s",
                what,
                len(flagged),
                len(profile.texts),
                prop,
                measure,
                ", ".join(map(str, flagged[:5])),
            )
        return
    zero = int(np.flatnonzero(profile.lags == profile.expected)[0])
    k = int(np.flatnonzero(profile.lags == profile.peak)[0])
    late = profile.expected - profile.peak
    message = (
        f"{what}: the {prop}-{measure} lag profile peaks at offset {profile.peak:+d}, not "
        f"{profile.expected:+d} (r={profile.pooled[k]:.2f}, r={profile.pooled[zero]:.2f} at "
        f"{profile.expected:+d}): the measures look {abs(late)} word(s) "
        f"{'late' if late > 0 else 'early'} against the words; {len(flagged)} of "
        f"{len(profile.texts)} texts flagged; set shift: {-late} to realign, or "
        "on_misalignment: warn to go on"
    )
    if on_misalignment == "error":
        raise NeuroalignError(message)
    warnings.warn(message, UserWarning, stacklevel=3)
    logger.warning(message)


def shift_measures(table: pd.DataFrame, columns: list[str], text: str, shift: int) -> pd.DataFrame:
    """Move the measure columns ``shift`` words later within each text (NaN where none).

    With ``shift=1`` the measures of word ``i`` come from row ``i - 1``.

    Examples
    --------
    >>> t = pd.DataFrame({"story": ["a", "a", "a"], "rt": [1.0, 2.0, 3.0]})
    >>> shift_measures(t, ["rt"], "story", 1)["rt"].tolist()
    [nan, 1.0, 2.0]
    """
    if not shift:
        return table
    out = table.copy()
    out[columns] = table.groupby(table[text].to_numpy(), sort=False)[columns].shift(shift)
    return out
