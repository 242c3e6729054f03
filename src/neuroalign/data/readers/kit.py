"""KIT/Yokogawa MEG recordings through MNE, with their trigger events."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_file, check_option


def read_kit(
    path: str | Path, *, slope: str = "+", stim_channel: str = "STI 014"
) -> tuple[mne.io.BaseRaw, pd.DataFrame]:
    """Read a KIT ``.con``/``.sqd`` file with :func:`mne.io.read_raw_kit` and its events.

    Parameters
    ----------
    path : path
        The KIT recording (no marker, elp or hsp file needed).
    slope : {"+", "-"}
        Trigger polarity: ``"+"`` when triggers go up from 0.
    stim_channel : str
        The synthesized trigger channel that :func:`mne.find_events` reads.

    Returns
    -------
    raw : mne.io.Raw
        The recording (data not preloaded).
    events : DataFrame
        Columns ``sample`` (including ``raw.first_samp``), ``onset`` (seconds from the
        first sample), ``previous`` and ``value`` (the trigger code), as
        :func:`mne.find_events` returns them.
    """
    path = check_file(path, "KIT MEG file")
    check_option("slope", slope, ["+", "-"])
    try:
        raw = mne.io.read_raw_kit(path, slope=slope, verbose="error")
    except (ValueError, RuntimeError, OSError, UnicodeDecodeError) as err:
        raise NeuroalignError(f"{path}: MNE cannot read this KIT file ({err}).") from err
    return raw, kit_events(raw, stim_channel=stim_channel)


def kit_events(raw: mne.io.BaseRaw, *, stim_channel: str = "STI 014") -> pd.DataFrame:
    """Return the trigger events of a raw recording as a table (see :func:`read_kit`)."""
    if stim_channel not in raw.ch_names:
        raise NeuroalignError(
            f"no trigger channel {stim_channel!r} in this recording; its stim channels are "
            f"{[raw.ch_names[i] for i in mne.pick_types(raw.info, meg=False, stim=True)]}."
        )
    found = mne.find_events(raw, stim_channel=stim_channel, verbose="error")
    return pd.DataFrame(
        {
            "sample": found[:, 0].astype(np.int64),
            "onset": (found[:, 0] - raw.first_samp) / raw.info["sfreq"],
            "previous": found[:, 1].astype(np.int64),
            "value": found[:, 2].astype(np.int64),
        }
    )
