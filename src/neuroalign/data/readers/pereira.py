"""Pereira et al. (2018) sentences with their mean language-network fMRI response."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.readers._tables import as_paths, read_delimited, require_columns
from neuroalign.data.stimuli import standardize


def read_pereira2018(path: str | Path, *, stimset: str = "pereira2018") -> pd.DataFrame:
    """Read the sentence-means CSV (``,Sentence,EffectSize``) into a sentence table.

    Parameters
    ----------
    path : path
        The CSV: an unnamed index, the sentence text and the mean effect size (averaged
        over voxels, the five left-hemisphere language fROIs and participants).
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        One row per sentence in file order (alphabetical: the presentation order and the
        passage of each sentence are not in the file, so each sentence is its own story,
        ``s<index>``). ``text`` keeps the source text unchanged (upstream quirks included);
        extra columns ``effect_size`` and ``source_index``.
    """
    paths = as_paths(path)
    if len(paths) != 1:
        raise NeuroalignError(f"the pereira2018 reader takes one CSV, got {len(paths)}.")
    path = paths[0]
    df = read_delimited(path, "Pereira sentence-means CSV", keep_default_na=False)
    require_columns(df, ("Sentence", "EffectSize"), path, "sentence-means CSV")
    index = df[df.columns[0]] if df.columns[0].startswith("Unnamed") else np.arange(len(df))
    effect = pd.to_numeric(df["EffectSize"], errors="coerce")
    if effect.isna().any():
        row = int(np.flatnonzero(effect.isna().to_numpy())[0])
        raise NeuroalignError(f"{path}: column 'EffectSize' is not a number at row {row}.")
    table = pd.DataFrame(
        {
            "text": df["Sentence"].astype(str),
            "story": [f"s{i}" for i in index],
            "position": 0,
            "sentence": 0,
            "effect_size": effect.astype(float),
            "source_index": np.asarray(index, dtype=np.int64),
        }
    )
    return standardize(table, stimset=stimset, reader="pereira2018", sources=[path])
