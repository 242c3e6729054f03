"""Helpers shared by the readers: reading delimited files with errors that name the file."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from neuroalign._check import NeuroalignError, check_file

#: pandas' default missing-value markers (``read_csv``'s ``na_values`` documentation).
DEFAULT_NA = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def read_delimited(
    path: str | Path, what: str, *, words: Iterable[str] = (), **kwargs: Any
) -> pd.DataFrame:
    """Read a CSV/TSV file (tab-separated when the name ends in .tsv).

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, named in errors.
    words : iterable of str
        Columns of words or sentences: read as text, so that real words such as "NA",
        "null" and "None" stay words (pandas would read them as missing); other columns keep
        pandas' missing-value markers. Only an empty field is missing in these columns.
        With ``words``, ``na_values`` (a list) adds markers for the other columns only.
    **kwargs
        More options of ``pandas.read_csv``.

    Errors (missing file, unparsable content, a file cut short) become NeuroalignError
    naming the file.
    """
    path = check_file(path, what)
    kwargs.setdefault("sep", "\t" if path.suffix.lower() == ".tsv" else ",")
    words = list(words)
    try:
        if words:
            header = pd.read_csv(path, nrows=0, **kwargs).columns
            extra = kwargs.pop("na_values", None) or []
            extra = [extra] if isinstance(extra, str) else list(extra)
            other = [*DEFAULT_NA, *extra]
            kwargs["keep_default_na"] = False
            kwargs["na_values"] = {c: [""] if c in words else other for c in header}
            kwargs["dtype"] = {**kwargs.get("dtype", {}), **{c: str for c in words if c in header}}
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NeuroalignError(f"{path}: cannot read this {what} ({err}).") from err
    _check_not_truncated(path, df, what)
    return df


def _check_not_truncated(path: Path, df: pd.DataFrame, what: str) -> None:
    """Refuse a file cut short: no final newline and a last row with fewer fields.

    pandas fills the missing fields of a cut last line with NaN and reads on; a download or
    copy that stopped mid-line would then pass as data.
    """
    size = path.stat().st_size
    if size == 0 or df.empty:
        return
    with open(path, "rb") as f:
        f.seek(max(0, size - 65536))
        tail = f.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    n_fields = len(
        next(csv.reader([last], delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    )
    if n_fields < df.shape[1]:
        raise NeuroalignError(
            f"{path}: this {what} looks cut short (its last line has {n_fields} of "
            f"{df.shape[1]} fields and no line end); fetch or copy the file again."
        )


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
