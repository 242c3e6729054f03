"""Localizer contrasts: which items are positive, which negative, and the two runs.

=============  ====================================  ===========================  =========
localizer      positive vs negative                  runs (disjoint items)        pooling
=============  ====================================  ===========================  =========
language       Fedorenko et al. 2010 sentences vs    run 1 vs run 2 of the fMRI   last
               non-word lists (240 + 240)            lists (120 + 120 each)
md             hard vs easy arithmetic (100 + 100)   odd vs even items            mean
tom            false belief vs false photograph      odd vs even stories          mean
               (10 + 10)
custom         a CSV ``text, condition, split``      its ``split`` column         last
=============  ====================================  ===========================  =========

Texts are lower-cased for the language localizer (its source is in capitals), as in the
reference code. :func:`truncate_texts` cuts each text to the model's first ``n`` tokens (the
paper's 12), so that sentences and non-word lists of very different token counts are compared
over the same window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file, check_option

LOCALIZERS = ("language", "md", "tom", "custom")
DEFAULT_POOLING = {"language": "last", "md": "mean", "tom": "mean", "custom": "last"}


@dataclass(frozen=True)
class Contrast:
    """Items of a localizer with their condition and split.

    Attributes
    ----------
    name : str
        The localizer (``language``, ``md``, ``tom`` or ``custom``).
    table : DataFrame
        One row per item: ``item``, ``text``, ``condition``, ``split`` (1 or 2) and ``positive``.
    positive, negative : str
        The condition labels of the contrast.
    """

    name: str
    table: pd.DataFrame
    positive: str
    negative: str

    @property
    def is_positive(self) -> np.ndarray:
        """Boolean array, True for items of the positive condition."""
        return self.table["positive"].to_numpy(bool)

    @property
    def split(self) -> np.ndarray:
        """Run (1 or 2) of each item."""
        return self.table["split"].to_numpy(np.int64)

    def subset(self, n_per_cell: int, rng: np.random.Generator) -> Contrast:
        """At most ``n_per_cell`` random items of each (condition, split), in table order."""
        keep = []
        for _, rows in self.table.groupby(["positive", "split"], sort=True):
            idx = rows.index.to_numpy()
            keep.append(rng.choice(idx, size=min(n_per_cell, idx.size), replace=False))
        rows = np.sort(np.concatenate(keep))
        return Contrast(
            self.name, self.table.loc[rows].reset_index(drop=True), self.positive, self.negative
        )


def _finish(name: str, table: pd.DataFrame, positive: str, negative: str) -> Contrast:
    table = table.reset_index(drop=True)
    found = set(table["condition"])
    if found != {positive, negative}:
        raise NeuroalignError(
            f"{name} localizer: conditions must be {positive!r} and {negative!r}, found "
            f"{sorted(found)}"
        )
    table["positive"] = table["condition"] == positive
    table["item"] = np.arange(len(table))
    for label in (positive, negative):
        counts = table.loc[table["condition"] == label, "split"].value_counts()
        if len(counts) != 2:
            raise NeuroalignError(
                f"{name} localizer: condition {label!r} must have items in both splits (1 and 2)"
            )
        if counts.min() < 2:
            raise NeuroalignError(
                f"{name} localizer: condition {label!r} needs at least 2 items per split"
            )
    return Contrast(name, table, positive, negative)


def _alternate(table: pd.DataFrame) -> np.ndarray:
    """Split 1 for the 1st, 3rd, ... item of each condition, split 2 for the others."""
    return (table.groupby("condition", sort=False).cumcount().to_numpy() % 2) + 1


def language_contrast(path: str | Path) -> Contrast:
    """Fedorenko et al. (2010) sentences vs non-word lists from the folder of langloc CSVs."""
    from neuroalign.data.readers.localizers import read_langloc

    table = read_langloc(path, lowercase=True)
    table = table[["text", "condition", "run_number", "stim_set", "trial"]].copy()
    table["split"] = table["run_number"].astype(np.int64)
    if set(table["split"]) != {1, 2}:
        raise NeuroalignError(f"{path}: the language localizer needs the run1 and run2 lists")
    return _finish("language", table, "sentence", "nonword")


def md_contrast(path: str | Path) -> Contrast:
    """Hard vs easy arithmetic problems; odd and even items of each condition form the splits."""
    from neuroalign.data.readers.localizers import read_md_arithmetic

    table = read_md_arithmetic(path)[["text", "condition"]].copy()
    table["split"] = _alternate(table)
    return _finish("md", table, "hard", "easy")


def tom_contrast(path: str | Path) -> Contrast:
    """False-belief vs false-photograph stories (with their question); odd vs even stories."""
    from neuroalign.data.readers.localizers import read_tom

    table = read_tom(path)[["text", "condition", "trial"]].copy()
    table["split"] = np.where(table["trial"].to_numpy() % 2 == 1, 1, 2)
    return _finish("tom", table, "belief", "photo")


def _read_custom(path: Path) -> pd.DataFrame:
    """The rows of a custom contrast: a CSV, or a stimulus table whose runs become the splits."""
    if path.suffix != ".parquet":
        return pd.read_csv(path, keep_default_na=False)
    from neuroalign.data.stimuli import read_table

    table, _ = read_table(path)
    if "split" not in table.columns and "run" in table.columns:
        table = table.drop_duplicates(["text", "condition"]).copy()
        runs = sorted(table["run"].astype(str).unique())
        half = {run: 1 + i % 2 for i, run in enumerate(runs)}
        table["split"] = table["run"].astype(str).map(half)
    return table


def custom_contrast(path: str | Path, positive: str | None = None) -> Contrast:
    """A user-defined contrast from a CSV with columns ``text, condition, split``.

    Parameters
    ----------
    path : path
        The CSV. ``condition`` holds exactly two labels; ``split`` is 1 or 2 (the two runs,
        with disjoint items). A stimulus table (``.parquet`` from ``neuroalign stimuli``) with
        ``run`` instead of ``split`` also works: its runs, sorted, alternate between splits 1
        and 2, and repeated texts are kept once.
    positive : str, optional
        The positive label; by default ``pos`` when the labels are ``pos`` and ``neg``.
    """
    path = check_file(path, "custom localizer table")
    table = _read_custom(path)
    missing = [c for c in ("text", "condition", "split") if c not in table.columns]
    if missing:
        raise NeuroalignError(
            f"{path}: column(s) {', '.join(missing)} missing; a custom localizer CSV has columns "
            "text, condition, split"
        )
    labels = sorted(set(table["condition"].astype(str)))
    if len(labels) != 2:
        raise NeuroalignError(
            f"{path}: column 'condition' must hold exactly two labels, found {labels}"
        )
    if positive is None:
        if labels != ["neg", "pos"]:
            raise NeuroalignError(
                f"{path}: conditions {labels}: name the positive one (--positive) or use pos/neg"
            )
        positive = "pos"
    check_option("positive", positive, labels)
    split = pd.to_numeric(table["split"], errors="coerce")
    if not split.isin([1, 2]).all():
        raise NeuroalignError(f"{path}: column 'split' must be 1 or 2 on every row")
    table = pd.DataFrame(
        {"text": table["text"].astype(str), "condition": table["condition"].astype(str)}
    ).assign(split=split.astype(np.int64).to_numpy())
    negative = next(label for label in labels if label != positive)
    return _finish("custom", table, positive, negative)


def load_contrast(name: str, path: str | Path, *, positive: str | None = None) -> Contrast:
    """Load one of :data:`LOCALIZERS` from its stimulus path (a folder or a file)."""
    check_option("localizer", name, LOCALIZERS)
    if name == "language":
        return language_contrast(path)
    if name == "md":
        return md_contrast(path)
    if name == "tom":
        return tom_contrast(path)
    return custom_contrast(path, positive)


def truncate_texts(tokenizer: Any, texts: list[str], n_tokens: int) -> list[str]:
    """Cut each text after its first ``n_tokens`` tokens, special tokens included.

    This is what ``tokenizer(text, truncation=True, max_length=n_tokens)`` keeps, turned back
    into text at the last kept token's character offset, so any extraction engine that tokenizes
    the text itself sees the same window.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise NeuroalignError("truncation to tokens needs a fast tokenizer (offset mappings)")
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=n_tokens,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    out = []
    for text, offsets, special in zip(
        texts, enc["offset_mapping"], enc["special_tokens_mask"], strict=True
    ):
        ends = [
            end for (start, end), sp in zip(offsets, special, strict=True) if not sp and end > start
        ]
        out.append(text[: max(ends)] if ends else text)
    return out
