"""A subject's recordings in a BIDS dataset, found through mne-bids (BOLD runs, MEG)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mne_bids import BIDSPath

from neuroalign._check import NeuroalignError
from neuroalign.data.readers._tables import read_delimited
from neuroalign.data.readers.bids_meg import MEG_EXTENSIONS

__all__ = ["Recording", "bold_runs", "meg_recording", "read_events"]


@dataclass(frozen=True)
class Recording:
    """One run of a subject: its task, the data file and the events file beside it."""

    task: str
    data: Path
    events: Path


def _recording(path: BIDSPath) -> Recording:
    events = path.copy().update(suffix="events", extension=".tsv", split=None).fpath
    if path.task is None or not events.is_file():
        raise NeuroalignError(
            f"{path.fpath}: needs a task-<label> entity and {events.name} beside it."
        )
    return Recording(path.task, Path(path.fpath), Path(events))


def bold_runs(dataset: str | Path, subject: str) -> list[Recording]:
    """The subject's BOLD runs (``*_bold.nii.gz`` with ``*_events.tsv``), in file-name order.

    Raises
    ------
    NeuroalignError
        If the subject has no BOLD run, or a run lacks its task entity or events file.
    """
    query = BIDSPath(
        root=dataset,
        subject=subject,
        datatype="func",
        suffix="bold",
        extension=".nii.gz",
        check=False,
    )
    runs = sorted(query.match(), key=lambda p: str(p.fpath))
    if not runs:
        raise NeuroalignError(
            f"{Path(dataset) / f'sub-{subject}' / 'func'}: no *_bold.nii.gz for subject "
            f"{subject!r}; check the dataset folder and the subject label (without sub-)."
        )
    return [_recording(run) for run in runs]


def meg_recording(dataset: str | Path, subject: str, task: str | None = None) -> Recording:
    """The subject's one MEG recording of ``task`` (KIT ``.con``/``.sqd``, ``.fif`` or CTF
    ``.ds``, with ``*_events.tsv``).

    Raises
    ------
    NeuroalignError
        If there is not exactly one such recording, or it lacks its events file.
    """
    found = []
    for extension in MEG_EXTENSIONS:
        query = BIDSPath(
            root=dataset,
            subject=subject,
            task=task,
            datatype="meg",
            suffix="meg",
            extension=extension,
        )
        found += [p for p in query.match(ignore_json=True) if p.split in (None, "01")]
    found = sorted(found, key=lambda p: str(p.fpath))
    if len(found) != 1:
        raise NeuroalignError(
            f"{Path(dataset) / f'sub-{subject}' / 'meg'}: expected one *_meg"
            f"{'/'.join(MEG_EXTENSIONS)}{'' if task is None else f' of task {task!r}'} (found "
            f"{len(found)}); set options.task."
        )
    return _recording(found[0].copy().update(split=None))


def read_events(path: str | Path) -> pd.DataFrame:
    """Read a recording's BIDS events file: ``n/a`` (and the like) is missing, except in ``word``.

    The ``word`` column is read as text, so that real words such as "NA", "null" and "None"
    stay words (only an empty field is missing there). A broken file is one error naming it.
    """
    return read_delimited(path, "BIDS events file", words=("word",), sep="\t")
