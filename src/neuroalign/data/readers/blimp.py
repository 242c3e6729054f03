"""BLiMP (Warstadt et al. 2020): minimal pairs read from ``BLiMP.zip``."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from neuroalign._check import NeuroalignError, check_file, check_range, suggest

_MEMBER = re.compile(r"^data/([A-Za-z0-9_]+)\.jsonl$")
BLIMP_COLUMNS = (
    "paradigm",
    "field",
    "linguistics_term",
    "UID",
    "pair_id",
    "sentence_good",
    "sentence_bad",
)


def blimp_paradigms(path: str | Path) -> list[str]:
    """Return the paradigm names in a BLiMP zip (``data/<paradigm>.jsonl`` members), sorted."""
    path = check_file(path, "BLiMP zip")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as err:
        raise NeuroalignError(f"{path}: not a zip file ({err}); fetch BLiMP.zip again.") from err
    return sorted(m.group(1) for n in names if (m := _MEMBER.match(n)))


def read_blimp(
    path: str | Path,
    *,
    paradigms: Iterable[str] | None = None,
    n_per_paradigm: int | None = None,
) -> pd.DataFrame:
    """Read BLiMP minimal pairs.

    Parameters
    ----------
    path : path
        ``BLiMP.zip`` (members ``data/<paradigm>.jsonl``; macOS metadata entries ignored).
    paradigms : iterable of str, optional
        Paradigms to read (all 67 by default); an unknown name raises with a suggestion.
    n_per_paradigm : int, optional
        Keep the first n pairs of each paradigm (by pair id).

    Returns
    -------
    pairs : DataFrame
        One row per pair, columns ``paradigm, field, linguistics_term, UID, pair_id,
        sentence_good, sentence_bad`` then the method flags (``simple_LM_method``, ...),
        sorted by paradigm then pair id. A model gets a pair right when it gives the good
        sentence the higher total log-probability.
    """
    available = blimp_paradigms(path)
    if not available:
        raise NeuroalignError(f"{path}: no data/<paradigm>.jsonl members; is this BLiMP.zip?")
    chosen = list(available) if paradigms is None else list(paradigms)
    for name in chosen:
        if name not in available:
            raise NeuroalignError(
                f"{path}: no BLiMP paradigm {name!r} ({len(available)} available)."
                f"{suggest(name, available)}"
            )
    if n_per_paradigm is not None:
        check_range("n_per_paradigm", n_per_paradigm, 1)
    frames = []
    with zipfile.ZipFile(path) as archive:
        for name in chosen:
            member = f"data/{name}.jsonl"
            with archive.open(member) as handle:
                lines = handle.read().decode("utf-8").splitlines()
            try:
                records = [json.loads(line) for line in lines if line.strip()]
            except json.JSONDecodeError as err:
                raise NeuroalignError(f"{path}:{member}: invalid JSON line ({err}).") from err
            df = pd.DataFrame.from_records(records)
            missing = [c for c in ("sentence_good", "sentence_bad", "pairID") if c not in df]
            if missing:
                raise NeuroalignError(f"{path}:{member}: field(s) {missing} missing.")
            df = df.rename(columns={"pairID": "pair_id"})
            df["pair_id"] = pd.to_numeric(df["pair_id"]).astype("int64")
            df["paradigm"] = name
            df = df.sort_values("pair_id", kind="stable")
            if n_per_paradigm is not None:
                df = df.head(n_per_paradigm)
            frames.append(df)
    pairs = pd.concat(frames, ignore_index=True)
    for column in ("field", "linguistics_term", "UID"):
        if column not in pairs:
            pairs[column] = ""
    rest = [c for c in pairs.columns if c not in BLIMP_COLUMNS]
    return pairs[list(BLIMP_COLUMNS) + rest]
