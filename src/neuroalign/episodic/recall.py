"""Human free recall: serial position curve, first recall, lag-CRP and temporal factor.

Input is the long format of :func:`neuroalign.data.readers.free_recall.read_free_recall` (one row
per study or recall event). Each list's recalls are mapped to study positions (0 for an
intrusion: an item not studied in that list). A transition from recall n to n+1 counts only when
both are valid: recall n is a studied item not recalled before (it then leaves the pool of items
still available) and recall n+1 is still in the pool; so repeats and intrusions are excluded,
and the transition after one of them is skipped. The lag-CRP is actual over possible transitions
pooled over a subject's lists (Kahana 1996).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError


@dataclass(frozen=True)
class RecallLists:
    """Recall sequences as study positions, one row per list.

    Attributes
    ----------
    subject : ndarray of shape (n_lists,)
        Subject of each list.
    recalls : ndarray of int, shape (n_lists, max_recalls)
        Study position (1-based) of each recall in output order; 0 for an intrusion, -1 after
        the last recall.
    list_length : int
        Number of study positions (the largest in the data).
    """

    subject: np.ndarray
    recalls: np.ndarray
    list_length: int


def recall_lists(data: pd.DataFrame) -> RecallLists:
    """Map each list's recalls to study positions.

    Parameters
    ----------
    data : DataFrame
        Free-recall events as returned by ``read_free_recall``.

    Returns
    -------
    lists : RecallLists
        The recall sequences.
    """
    study = data[data["trial_type"] == "study"]
    recall = data[data["trial_type"] == "recall"]
    if study.empty:
        raise NeuroalignError("free-recall data has no study events; cannot compute positions.")
    key = ["subject", "list"]
    position = study.set_index([*key, "item"])["position"]
    index = pd.MultiIndex.from_frame(recall[[*key, "item"]])
    serial = position.reindex(index).fillna(0).to_numpy(np.int64)
    lists = study[key].drop_duplicates().reset_index(drop=True)
    row = pd.MultiIndex.from_frame(lists).get_indexer(pd.MultiIndex.from_frame(recall[key]))
    if (row < 0).any():
        raise NeuroalignError("free-recall data has recalls for a list with no study events.")
    output = recall.groupby(key, sort=False).cumcount().to_numpy()
    n_out = int(output.max()) + 1 if len(output) else 1
    recalls = np.full((len(lists), n_out), -1, dtype=np.int64)
    recalls[row, output] = serial
    return RecallLists(
        subject=lists["subject"].to_numpy(),
        recalls=recalls,
        list_length=int(study["position"].max()),
    )


def _transitions(sequence: np.ndarray, list_length: int):
    """Yield (previous position, next position, positions still available) per valid transition."""
    pool = np.ones(list_length + 1, dtype=bool)
    pool[0] = False
    seq = sequence[sequence >= 0]
    for prev, nxt in itertools.pairwise(seq):
        if not pool[prev]:
            continue
        pool[prev] = False
        if not pool[nxt]:
            continue
        yield int(prev), int(nxt), np.flatnonzero(pool)


def lag_counts(lists: RecallLists) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count actual and possible lags per list.

    Returns
    -------
    lags : ndarray of shape (2 * list_length - 1,)
        Lags from ``-(list_length - 1)`` to ``list_length - 1``.
    actual, possible : ndarray of shape (n_lists, n_lags)
        Transitions made and transitions available at each lag.
    """
    n = lists.list_length
    lags = np.arange(-(n - 1), n)
    actual = np.zeros((len(lists.recalls), len(lags)), dtype=np.int64)
    possible = np.zeros_like(actual)
    for i, sequence in enumerate(lists.recalls):
        for prev, nxt, pool in _transitions(sequence, n):
            actual[i, nxt - prev + n - 1] += 1
            possible[i, pool - prev + n - 1] += 1
    return lags, actual, possible


def temporal_factor(lists: RecallLists) -> np.ndarray:
    """Temporal factor per list: mean percentile rank of each transition's absolute lag.

    A transition scores 1 when its absolute lag is the shortest available and 0 when it is the
    longest; ties take the mean rank. Transitions with a single available item are skipped.

    Returns
    -------
    score_sum, n : ndarray of shape (n_lists,)
        Sum of the per-transition scores and their number (stacked as shape (2, n_lists)).
    """
    out = np.zeros((2, len(lists.recalls)))
    for i, sequence in enumerate(lists.recalls):
        for prev, nxt, pool in _transitions(sequence, lists.list_length):
            if len(pool) < 2:
                continue
            distance = np.abs(pool - prev)
            lag = abs(nxt - prev)
            # mean rank of the actual lag when the farthest available item ranks first
            rank = (distance > lag).sum() + ((distance == lag).sum() + 1) / 2
            out[0, i] += (rank - 1) / (len(pool) - 1)
            out[1, i] += 1
    return out


def _group_sum(values: np.ndarray, subject: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    index = np.searchsorted(subjects, subject)
    out = np.zeros((len(subjects), *values.shape[1:]), dtype=float)
    np.add.at(out, index, values)
    return out


def recall_curves(data: pd.DataFrame, *, dataset: str = "data") -> xr.Dataset:
    """Serial position curve, first recall, lag-CRP and temporal factor per subject.

    Parameters
    ----------
    data : DataFrame
        Free-recall events as returned by ``read_free_recall``.
    dataset : str
        Name stored in the ``dataset`` attribute.

    Returns
    -------
    curves : xarray.Dataset
        ``spc`` and ``pfr`` (subject, position): the fraction of lists in which the item at each
        study position was recalled, and, of the lists with a valid recall, in which the first
        valid recall (intrusions skipped, as psifr counts it) came from it (NaN for a subject
        without any); ``crp``,
        ``crp_actual`` and ``crp_possible`` (subject, lag): the lag-CRP (NaN where no
        transition was possible, always at lag 0); ``temporal_factor`` (subject).
    """
    lists = recall_lists(data)
    n = lists.list_length
    subjects = np.unique(lists.subject)
    n_lists = _group_sum(np.ones(len(lists.subject)), lists.subject, subjects)
    positions = np.arange(1, n + 1)
    recalled = (lists.recalls[:, :, None] == positions).any(axis=1)
    # First recall: the first valid recall (intrusions skipped; a repeat cannot come first),
    # over the lists that have one (psifr's probability of first recall, pnr at output 1).
    valid = lists.recalls > 0
    has_valid = valid.any(axis=1)
    first_valid = lists.recalls[np.arange(len(valid)), valid.argmax(axis=1)]
    first = (first_valid[:, None] == positions) & has_valid[:, None]
    n_first = _group_sum(has_valid.astype(float), lists.subject, subjects)
    lags, actual, possible = lag_counts(lists)
    actual_s = _group_sum(actual, lists.subject, subjects)
    possible_s = _group_sum(possible, lists.subject, subjects)
    with np.errstate(invalid="ignore", divide="ignore"):
        crp = np.where(possible_s > 0, actual_s / possible_s, np.nan)
        tf = _group_sum(temporal_factor(lists).T, lists.subject, subjects)
        tf = tf[:, 0] / tf[:, 1]
        pfr = _group_sum(first.astype(float), lists.subject, subjects) / n_first[:, None]
    spc = _group_sum(recalled.astype(float), lists.subject, subjects) / n_lists[:, None]
    return xr.Dataset(
        {
            "spc": (("subject", "position"), spc),
            "pfr": (("subject", "position"), pfr),
            "crp": (("subject", "lag"), crp),
            "crp_actual": (("subject", "lag"), actual_s.astype(np.int64)),
            "crp_possible": (("subject", "lag"), possible_s.astype(np.int64)),
            "temporal_factor": ("subject", tf),
        },
        coords={"subject": subjects, "position": positions, "lag": lags},
        attrs={"dataset": dataset, "list_length": n, "n_lists": len(lists.subject)},
    )


def group_curve(per_subject: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean and standard error over subjects (NaN-aware).

    Parameters
    ----------
    per_subject : xarray.DataArray
        A curve with a ``subject`` dim.

    Returns
    -------
    mean, sem : xarray.DataArray
        Over subjects with a value at each point.
    """
    count = per_subject.notnull().sum("subject")
    mean = per_subject.mean("subject", skipna=True)
    sem = per_subject.std("subject", ddof=1, skipna=True) / np.sqrt(count)
    return mean, sem
