"""MEG recordings of any BIDS dataset (MEG-MASC, simulated ones) through mne-bids.

`find_meg` lists a subject's recordings (KIT ``.con``/``.sqd``, FIF, CTF ``.ds``),
`read_bids_meg` reads one with :func:`mne_bids.read_raw_bids` together with its
``*_events.tsv`` and ``*_channels.tsv``: bad channels come from the channels file's ``status``
column, and the word events become a table whose onsets and samples are on the raw's time base
(``sample = round(onset * sfreq) + raw.first_samp``, the convention of mne-bids' events files).
`word_table` does the last step alone, so that the events and channels files of a recording
whose raw file is not at hand (the MEG-MASC files of a data mirror) still give the word table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from mne_bids import BIDSPath, read_raw_bids

from neuroalign._check import NeuroalignError, check_file
from neuroalign.data.readers._tables import read_delimited, require_columns

__all__ = [
    "MEG_EXTENSIONS",
    "MegRecording",
    "bad_channels",
    "find_meg",
    "read_bids_meg",
    "read_channels",
    "word_table",
]

logger = logging.getLogger(__name__)

#: Raw MEG file extensions that mne-bids reads (KIT, FIF, CTF, 4D/BTi folders aside).
MEG_EXTENSIONS = (".con", ".sqd", ".fif", ".ds")


@dataclass(frozen=True)
class MegRecording:
    """One MEG recording of a BIDS dataset, read with its sidecar tables.

    Attributes
    ----------
    path : mne_bids.BIDSPath
        The raw file's BIDS path.
    raw : mne.io.BaseRaw
        The recording as mne-bids returns it (bad channels marked, data not preloaded).
    events : DataFrame
        The ``*_events.tsv`` rows.
    channels : DataFrame
        The ``*_channels.tsv`` rows.
    words : DataFrame
        One row per word event (see `word_table`).
    bads : list of str
        Channels whose status is ``bad`` in the channels file.
    """

    path: BIDSPath
    raw: mne.io.BaseRaw
    events: pd.DataFrame
    channels: pd.DataFrame
    words: pd.DataFrame
    bads: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The recording's run label: its BIDS basename without the ``_meg`` suffix."""
        return self.path.copy().update(suffix=None, extension=None).basename


def find_meg(
    root: str | Path,
    subject: str,
    *,
    task: str | None = None,
    session: str | None = None,
    run: str | None = None,
) -> list[BIDSPath]:
    """Return a subject's MEG recordings in a BIDS dataset, in file-name order.

    Parameters
    ----------
    root : str or Path
        The BIDS dataset folder.
    subject : str
        Subject label without ``sub-``.
    task, session, run : str, optional
        Entities to match; None matches any.

    Returns
    -------
    paths : list of mne_bids.BIDSPath
        One per raw file (``*_meg.con``, ``.sqd``, ``.fif`` or ``.ds``; split FIF files once).

    Raises
    ------
    NeuroalignError
        If no recording matches.
    """
    found = []
    for extension in MEG_EXTENSIONS:
        query = BIDSPath(
            root=root,
            subject=subject,
            session=session,
            task=task,
            run=run,
            datatype="meg",
            suffix="meg",
            extension=extension,
            check=False,
        )
        found += [p for p in query.match(ignore_json=True) if p.split in (None, "01")]
    found = sorted({str(p.fpath): p.copy().update(split=None) for p in found}.values(), key=str)
    if not found:
        wanted = ", ".join(
            f"{k}={v!r}"
            for k, v in (("task", task), ("session", session), ("run", run))
            if v is not None
        )
        raise NeuroalignError(
            f"{Path(root) / f'sub-{subject}'}: no MEG recording (*_meg"
            f"{'/'.join(MEG_EXTENSIONS)}) for subject {subject!r}"
            + (f" with {wanted}" if wanted else "")
            + "; check the dataset folder, the subject label (without sub-) and the entities."
        )
    return found


def read_channels(path: str | Path) -> pd.DataFrame:
    """Read a BIDS ``*_channels.tsv`` (columns ``name``, ``type``, and ``status`` if given).

    A missing ``status`` column means every channel is good, as BIDS says.
    """
    table = read_delimited(check_file(path, "BIDS channels file"), "BIDS channels file", sep="\t")
    table.columns = [str(c).lstrip("\ufeff") for c in table.columns]  # files saved with a BOM
    require_columns(table, ("name", "type"), path, "BIDS channels file")
    if "status" not in table:
        table["status"] = "good"
    table["status"] = table["status"].fillna("good").astype(str).str.strip().str.lower()
    unknown = sorted(set(table["status"]) - {"good", "bad"})
    if unknown:
        raise NeuroalignError(
            f"{path}: channel status {unknown} is neither 'good' nor 'bad' (the only BIDS ones)."
        )
    return table


def bad_channels(channels: pd.DataFrame) -> list[str]:
    """Names of the channels whose ``status`` is ``bad``, in file order."""
    return channels.loc[channels["status"] == "bad", "name"].astype(str).tolist()


def word_table(
    events: pd.DataFrame,
    *,
    sfreq: float,
    first_samp: int = 0,
    n_times: int | None = None,
    trial_type: str = "word",
    word_column: str = "word",
    run: str = "",
    story: str = "",
    where: str = "events file",
) -> pd.DataFrame:
    """Return the word events of a recording with onsets and samples on its time base.

    Parameters
    ----------
    events : DataFrame
        A BIDS events table (``onset`` in seconds from the first sample of the recording).
    sfreq : float
        The raw's sampling rate (Hz).
    first_samp : int
        The raw's ``first_samp``: ``sample`` counts from the acquisition start, as MNE does.
    n_times : int, optional
        The raw's length in samples; words past its end are dropped with a warning.
    trial_type : str
        Rows whose ``trial_type`` is this are words (all rows if the column is absent).
    word_column : str
        The column holding the word's text.
    run : str
        Run label of every row.
    story : str
        Story of rows without a ``story`` column (default: ``run``).
    where : str
        The events file, named in error messages.

    Returns
    -------
    words : DataFrame
        Columns ``word``, ``onset`` (s from the first sample), ``duration``, ``sample``
        (``round(onset * sfreq) + first_samp``), ``story``, ``run``, ``position`` (index in
        the recording), sorted by onset; extra columns of the events file are kept.

    Raises
    ------
    NeuroalignError
        If the table has no onset or word column, or no word rows.
    """
    require_columns(events, ("onset", word_column), where, "BIDS events file")
    rows = events
    if "trial_type" in events:
        rows = events[events["trial_type"].astype(str) == trial_type]
    rows = rows[rows["onset"].notna()].sort_values("onset", kind="stable")
    if rows.empty:
        raise NeuroalignError(
            f"{where}: no events with trial_type {trial_type!r}; set trial_type to the word "
            f"events' type (the file has {sorted(set(events.get('trial_type', [])))})."
        )
    out = rows.rename(columns={word_column: "word"}).reset_index(drop=True).copy()
    out["word"] = out["word"].astype(str)
    out["onset"] = out["onset"].astype(float)
    if "duration" not in out:
        out["duration"] = 0.0
    out["duration"] = pd.to_numeric(out["duration"], errors="coerce").fillna(0.0)
    out["sample"] = np.round(out["onset"].to_numpy() * sfreq).astype(np.int64) + int(first_samp)
    if "story" not in out:
        out["story"] = story or run
    out["story"] = out["story"].astype(str)
    out["run"] = run
    if n_times is not None:
        inside = (out["sample"] - first_samp >= 0) & (out["sample"] - first_samp < n_times)
        if not inside.all():
            logger.warning(
                "%s: %d of %d words lie outside the recording (%d samples); dropped",
                where,
                int((~inside).sum()),
                len(out),
                n_times,
            )
            out = out[inside].reset_index(drop=True)
    out["position"] = np.arange(len(out))
    return out


def read_bids_meg(
    path: BIDSPath, *, trial_type: str = "word", word_column: str = "word"
) -> MegRecording:
    """Read one MEG recording (see `find_meg`) with its events, channels and word table.

    Parameters
    ----------
    path : mne_bids.BIDSPath
        The raw file.
    trial_type, word_column : str
        Which events are words, and where their text is (see `word_table`).

    Returns
    -------
    recording : MegRecording
        ``raw.info["bads"]`` holds the channels file's bad channels.

    Raises
    ------
    NeuroalignError
        If the events or channels file is missing, or MNE cannot read the raw file.
    """
    events_path = path.copy().update(suffix="events", extension=".tsv", split=None).fpath
    channels_path = path.copy().update(suffix="channels", extension=".tsv", split=None).fpath
    for sidecar, what in ((events_path, "events"), (channels_path, "channels")):
        if not Path(sidecar).is_file():
            raise NeuroalignError(f"{path.fpath}: no {what} file {Path(sidecar).name} beside it.")
    try:
        raw = read_raw_bids(path, verbose="error")
    except (ValueError, RuntimeError, OSError) as err:
        raise NeuroalignError(
            f"{path.fpath}: mne-bids cannot read this recording ({err})."
        ) from err
    channels = read_channels(channels_path)
    bads = [name for name in bad_channels(channels) if name in raw.ch_names]
    raw.info["bads"] = sorted(set(raw.info["bads"]) | set(bads), key=raw.ch_names.index)
    events = read_delimited(events_path, "BIDS events file", words=(word_column,), sep="\t")
    label = path.copy().update(suffix=None, extension=None).basename
    words = word_table(
        events,
        sfreq=raw.info["sfreq"],
        first_samp=raw.first_samp,
        n_times=raw.n_times,
        trial_type=trial_type,
        word_column=word_column,
        run=label,
        story=path.task or label,
        where=str(events_path),
    )
    logger.info(
        "read %s: %d channels at %g Hz, %d bad from %s, %d words",
        path.basename,
        len(raw.ch_names),
        raw.info["sfreq"],
        len(raw.info["bads"]),
        Path(channels_path).name,
        len(words),
    )
    return MegRecording(path, raw, events, channels, words, list(raw.info["bads"]))
