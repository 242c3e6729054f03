"""Helpers shared by the readers: reading delimited files with errors that name the file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from neuroalign._check import NeuroalignError, check_file


def read_delimited(path: str | Path, what: str, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV/TSV file (tab-separated when the name ends in .tsv).

    Errors (missing file, unparsable content) become NeuroalignError naming the file.
    """
    path = check_file(path, what)
    kwargs.setdefault("sep", "\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NeuroalignError(f"{path}: cannot read this {what} ({err}).") from err


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | Path, what: str) -> None:
    """Raise NeuroalignError naming the file and the missing columns, if any."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise NeuroalignError(
            f"{path}: column(s) {missing} missing; a {what} needs them (found "
            f"{list(df.columns)[:12]}{' ...' if df.shape[1] > 12 else ''})."
        )


def as_paths(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """Return ``source`` (one path or several) as a list of Paths."""
    if isinstance(source, str | Path):
        return [Path(source)]
    return [Path(p) for p in source]


def numeric(series: pd.Series, missing: Iterable[str] = (".", "n/a", "NA", "")) -> pd.Series:
    """Return ``series`` as floats, with the given missing-value markers as NaN."""
    cleaned = series.astype(object).where(~series.astype(str).str.strip().isin(list(missing)))
    return pd.to_numeric(cleaned, errors="coerce").astype(float)
