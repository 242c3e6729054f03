"""BIDS ``*_events.tsv`` files -> stimulus table of word (or sentence) events.

Each events file is one run; its label is built from the filename's BIDS entities other than
``sub`` (``ses-1_task-lpp_run-2``), so every subject's file for the same run shares a label.
When several subjects have events for the same run, they must agree (the same stimuli at the
same onsets) and one copy is used; otherwise pick one with ``subject``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option
from neuroalign.data.readers._tables import as_paths, read_delimited, require_columns
from neuroalign.data.stimuli import standardize

logger = logging.getLogger(__name__)

_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9]+)$")
# BIDS entity order for the run label.
_ORDER = ("ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part")
_SKIP_DIRS = {"derivatives", "sourcedata", "code", ".git"}


def parse_entities(path: str | Path) -> dict[str, str]:
    """Return the BIDS entities of a filename (``sub-01_task-x_events.tsv`` -> sub, task).

    Examples
    --------
    >>> parse_entities("sub-01_ses-0_task-lw1_run-2_events.tsv")
    {'sub': '01', 'ses': '0', 'task': 'lw1', 'run': '2'}
    """
    stem = Path(path).name.split(".")[0]
    entities = {}
    for part in stem.split("_")[:-1]:
        match = _ENTITY.match(part)
        if match:
            entities[match.group(1)] = match.group(2)
    return entities


def run_label(entities: dict[str, str]) -> str:
    """Return the run label of a file's entities: every entity but ``sub``, in BIDS order.

    Examples
    --------
    >>> run_label({"sub": "01", "task": "x", "run": "1"})
    'task-x_run-1'
    """
    keys = [k for k in _ORDER if k in entities]
    keys += sorted(k for k in entities if k not in _ORDER and k != "sub")
    return "_".join(f"{k}-{entities[k]}" for k in keys)


def find_events_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """Return the ``*_events.tsv`` files of a BIDS folder (or the files given), sorted.

    Folders named derivatives, sourcedata or code are skipped.
    """
    files: list[Path] = []
    for path in as_paths(source):
        if path.is_dir():
            found = [
                p
                for p in path.rglob("*_events.tsv")
                if not _SKIP_DIRS.intersection(p.relative_to(path).parts)
            ]
            if not found:
                raise NeuroalignError(
                    f"{path}: no *_events.tsv files in this folder; point --input at a BIDS "
                    "dataset or at events files."
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise NeuroalignError(f"{path}: not found; check the BIDS dataset path.")
    return sorted(set(files), key=lambda p: (_natural_key(run_label(parse_entities(p))), str(p)))


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _trial_types(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _select(
    path: Path,
    trial_types: tuple[str, ...],
    text_column: str,
    condition_column: str | None,
    keep_columns: Sequence[str],
) -> pd.DataFrame:
    events = read_delimited(
        path,
        "BIDS events file",
        keep_default_na=False,
        na_values=["n/a", ""],
        dtype={text_column: str},  # words like "007" or "NA" stay as written
    )
    needed = ["onset", "trial_type", text_column, *keep_columns]
    if condition_column:
        needed.append(condition_column)
    require_columns(events, needed, path, "BIDS events file read with these options")
    rows = events[events["trial_type"].astype(str).isin(trial_types)]
    if rows.empty:
        found = sorted(events["trial_type"].dropna().astype(str).unique())
        raise NeuroalignError(
            f"{path}: no events with trial_type in {list(trial_types)} (found {found}); set "
            "the option trial_type to the value that marks stimuli."
        )
    rows = rows.sort_values("onset", kind="stable")
    for name in ("onset", "duration"):
        if name not in rows:
            continue
        # n/a (read as missing) is allowed; anything else must be a number of seconds.
        bad = pd.to_numeric(rows[name], errors="coerce").isna() & rows[name].notna()
        if bad.any():
            raise NeuroalignError(
                f"{path}: column {name!r} must hold seconds (or n/a); found "
                f"{rows[name][bad].iloc[0]!r}."
            )
    out = pd.DataFrame(
        {
            "text": rows[text_column].to_numpy(),
            "onset": rows["onset"].astype(float).to_numpy(),
            "duration": (
                pd.to_numeric(rows["duration"], errors="coerce").to_numpy()
                if "duration" in rows
                else np.nan
            ),
            "trial_type": rows["trial_type"].astype(str).to_numpy(),
        }
    )
    out["offset"] = out["onset"] + out["duration"].to_numpy()
    if condition_column:
        out["condition"] = rows[condition_column].fillna("").astype(str).to_numpy()
    elif len(trial_types) > 1:
        out["condition"] = out["trial_type"]
    for name in keep_columns:
        out[name] = rows[name].to_numpy()
    if out["text"].isna().any():
        row = int(np.flatnonzero(out["text"].isna().to_numpy())[0])
        raise NeuroalignError(
            f"{path}: column {text_column!r} is empty (n/a) for a selected event at onset "
            f"{out['onset'].iloc[row]:.3f} s; fill it or set the option text_column."
        )
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return (
        len(a) == len(b)
        and np.array_equal(a["text"].astype(str), b["text"].astype(str))
        and np.allclose(a["onset"], b["onset"], rtol=0, atol=1e-6)
    )


def read_bids_events(
    source: str | Path | Iterable[str | Path],
    *,
    trial_type: str | Sequence[str] = "word",
    text_column: str = "word",
    condition_column: str | None = None,
    unit: str = "word",
    subject: str | None = None,
    keep_columns: tuple[str, ...] = (),
    stimset: str = "bids",
) -> pd.DataFrame:
    """Read the stimulus events of a BIDS dataset into a stimulus table.

    Parameters
    ----------
    source : path or list of path
        A BIDS dataset folder (searched for ``*_events.tsv``) or events files.
    trial_type : str or sequence of str
        The ``trial_type`` value(s) that mark stimuli, e.g. ``"word"`` or
        ``("sentence", "nonword")``.
    text_column : str
        Column holding the presented text (``"word"``; ``"stimulus"`` for a localizer).
    condition_column : str, optional
        Column holding the condition. When None and several trial types are selected, the
        trial type is the condition.
    unit : {"word", "sentence"}
        ``"word"``: the rows of a task form one story (``story`` = task, ``position`` counts
        on across the task's runs). ``"sentence"``: each row is an independent stimulus with
        its own story (``<run>_<k>``, position 0).
    subject : str, optional
        Use only this subject's events (label without ``sub-``). When None, subjects with
        events for the same run must agree and the first is used.
    keep_columns : tuple of str
        Other events columns to carry into the table.
    stimset : str
        Name of the stimulus set.

    Returns
    -------
    table : DataFrame
        A stimulus table with extra columns ``duration``, ``trial_type``, ``subject`` and
        ``events_file``; ``attrs["info"]`` lists the runs and the subjects checked.
    """
    check_option("unit", unit, ["word", "sentence"])
    types = _trial_types(trial_type)
    if not types:
        raise NeuroalignError("option trial_type is empty; give the value(s) that mark stimuli.")
    files = find_events_files(source)
    if subject is not None:
        subject = str(subject).removeprefix("sub-")
        chosen = [p for p in files if parse_entities(p).get("sub") == subject]
        if not chosen:
            subjects = sorted({parse_entities(p).get("sub", "") for p in files})
            raise NeuroalignError(
                f"no events files for subject {subject!r}; subjects found: {subjects}."
            )
        files = chosen
    by_run: dict[str, list[Path]] = {}
    for path in files:
        by_run.setdefault(run_label(parse_entities(path)), []).append(path)
    parts = []
    checked: dict[str, list[str]] = {}
    for label, paths in by_run.items():
        first = _select(paths[0], types, text_column, condition_column, keep_columns)
        for other in paths[1:]:
            if not _same(first, _select(other, types, text_column, condition_column, keep_columns)):
                raise NeuroalignError(
                    f"{other.name} and {paths[0].name}: the {label} events differ between "
                    "subjects; choose one with the option subject=<label> (or write one "
                    "stimulus table per subject)."
                )
        checked[label] = [parse_entities(p).get("sub", "") for p in paths]
        entities = parse_entities(paths[0])
        first["run"] = label
        first["subject"] = entities.get("sub", "")
        first["events_file"] = paths[0].name
        first["story"] = entities.get("task", label)
        parts.append(first)
    table = pd.concat(parts, ignore_index=True)
    if unit == "word":
        table["position"] = table.groupby("story", sort=False).cumcount()
    else:
        table["story"] = (
            table["run"] + "_" + table.groupby("run", sort=False).cumcount().astype(str)
        )
        table["position"] = 0
        table["sentence"] = 0
    logger.info("read %d %s events from %d runs", len(table), "/".join(types), len(by_run))
    return standardize(
        table,
        stimset=stimset,
        reader="bids_events",
        sources=[p for paths in by_run.values() for p in paths[:1]],
        options={
            "trial_type": list(types),
            "text_column": text_column,
            "condition_column": condition_column,
            "unit": unit,
            "subject": subject,
            "keep_columns": list(keep_columns),
        },
        info={"runs": list(by_run), "subjects_checked": checked},
    )
