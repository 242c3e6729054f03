"""KIT MEG reader on the real MNE testing file."""

from __future__ import annotations

import mne
import pytest
from mne.io.constants import FIFF

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.kit import kit_events, read_kit


def test_kit_file(shared_data):
    raw, events = read_kit(shared_data / "formats" / "test_as-raw.con")
    assert raw.info["description"] == (
        "Academia Sinica/Institute of Linguistics//Magnetoencephalograph System (261) "
        "V2R004 PQ1160R-N2"
    )
    assert raw.ch_names[100] == "MEG 101"
    assert raw.info["chs"][100]["coil_type"] == FIFF.FIFFV_COIL_KIT_GRAD
    assert raw.ch_names[157] == "MEG 158"
    assert raw.info["chs"][157]["coil_type"] == FIFF.FIFFV_COIL_KIT_REF_MAG
    assert raw.ch_names[160] == "EEG 001"
    assert mne.channel_type(raw.info, 160) == "eeg"
    assert events[["sample", "previous", "value"]].to_numpy().tolist() == [[91, 0, 2]]
    assert events["onset"].iloc[0] == pytest.approx(91 / raw.info["sfreq"])
    with pytest.raises(NeuroalignError, match="no trigger channel 'STI 999'"):
        kit_events(raw, stim_channel="STI 999")


def test_bad_slope(shared_data):
    with pytest.raises(ValueError, match="'slope'"):
        read_kit(shared_data / "formats" / "test_as-raw.con", slope="up")
