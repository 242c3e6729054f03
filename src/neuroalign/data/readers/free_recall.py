"""Free-recall data in psifr's long format (one row per study or recall event)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.readers._tables import read_delimited, require_columns

FREE_RECALL_COLUMNS = ("subject", "list", "position", "trial_type", "item")
TRIAL_TYPES = ("study", "recall")


def read_free_recall(path: str | Path) -> pd.DataFrame:
    """Read and validate a psifr-format free-recall CSV.

    Parameters
    ----------
    path : path
        CSV with columns ``subject, list, position, trial_type (study|recall), item`` and
        optional others (``session``, ``category``, ``response_time``, ...).

    Returns
    -------
    data : DataFrame
        Sorted by subject, list, trial type (study first) and position; ``subject``,
        ``list`` and ``position`` as int, ``trial_type`` and ``item`` as str. Other
        columns are kept.

    Raises
    ------
    NeuroalignError
        For missing columns, unknown trial types, missing items, positions that are not
        1..n within each study list or recall sequence, or an item studied twice in a list.
    """
    df = read_delimited(path, "free-recall CSV", keep_default_na=False, na_values=[""])
    require_columns(df, FREE_RECALL_COLUMNS, path, "psifr-format free-recall table")
    bad = ~df["trial_type"].isin(TRIAL_TYPES)
    if bad.any():
        raise NeuroalignError(
            f"{path}: column 'trial_type' must be 'study' or 'recall'; found "
            f"{df.loc[bad, 'trial_type'].iloc[0]!r} at row {int(np.flatnonzero(bad)[0])}."
        )
    for column in ("subject", "list", "position"):
        values = pd.to_numeric(df[column], errors="coerce")
        if values.isna().any() or (values % 1 != 0).any():
            raise NeuroalignError(f"{path}: column {column!r} must hold whole numbers.")
        df[column] = values.astype(np.int64)
    if df["item"].isna().any():
        row = int(np.flatnonzero(df["item"].isna().to_numpy())[0])
        raise NeuroalignError(f"{path}: column 'item' is empty at row {row}.")
    df["item"] = df["item"].astype(str)
    df["trial_type"] = df["trial_type"].astype(str)
    order = df["trial_type"].map({"study": 0, "recall": 1})
    df = (
        df.assign(_order=order)
        .sort_values(["subject", "list", "_order", "position"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    groups = df.groupby(["subject", "list", "trial_type"], sort=False)["position"]
    expected = groups.cumcount() + 1
    if not np.array_equal(df["position"].to_numpy(), expected.to_numpy()):
        row = int(np.flatnonzero(df["position"].to_numpy() != expected.to_numpy())[0])
        subject, lst, kind = df.loc[row, ["subject", "list", "trial_type"]]
        raise NeuroalignError(
            f"{path}: positions of subject {subject}, list {lst} ({kind}) are not 1..n; "
            "number each list's study and recall events from 1 without gaps."
        )
    study = df[df["trial_type"] == "study"]
    repeated = study.duplicated(["subject", "list", "item"])
    if repeated.any():
        subject, lst, item = study.loc[repeated, ["subject", "list", "item"]].iloc[0]
        raise NeuroalignError(
            f"{path}: item {item!r} is studied twice in subject {subject}, list {lst}; "
            "study lists must not repeat items."
        )
    return df
