"""BIDS MEG through mne-bids: the real KIT file in a BIDS tree, the MEG-MASC sidecars, and the
preprocessing steps against MNE's own calls."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
from mne.io.constants import FIFF
from mne_bids import BIDSPath, write_raw_bids

from neuroalign._check import NeuroalignError
from neuroalign.data.meg_preprocess import preprocess_raw, time_windows, window_means, word_epochs
from neuroalign.data.readers.bids_meg import (
    bad_channels,
    find_meg,
    read_bids_meg,
    read_channels,
    word_table,
)


@pytest.fixture(scope="module")
def kit_bids(shared_data, tmp_path_factory):
    """The real KIT test file written into a BIDS tree by mne-bids (the .con is copied as is),
    its trigger as a word event (with a word column, as MEG-MASC's), and two channels marked
    bad in channels.tsv."""
    raw = mne.io.read_raw_kit(
        shared_data / "formats" / "test_as-raw.con", slope="+", verbose="error"
    )
    raw.info["line_freq"] = 60.0
    root = tmp_path_factory.mktemp("kit") / "bids"
    path = BIDSPath(subject="01", session="0", task="story", datatype="meg", root=root)
    events = mne.find_events(raw, verbose="error")
    write_raw_bids(raw, path, events=events, event_id={"word": 2}, verbose="error")
    channels = path.copy().update(suffix="channels", extension=".tsv").fpath
    table = pd.read_csv(channels, sep="\t")
    table.loc[table["name"].isin(["MEG 005", "MEG 101"]), "status"] = "bad"
    table.to_csv(channels, sep="\t", index=False, na_rep="n/a")
    events_tsv = path.copy().update(suffix="events", extension=".tsv").fpath
    table = pd.read_csv(events_tsv, sep="\t")
    table["word"] = "null"  # a real word that pandas would read as missing
    table.to_csv(events_tsv, sep="\t", index=False)
    return root


def test_kit_through_mne_bids(kit_bids):
    (path,) = find_meg(kit_bids, "01")
    assert path.extension == ".con" and path.task == "story" and path.session == "0"
    rec = read_bids_meg(path)
    assert isinstance(rec.raw, mne.io.kit.kit.RawKIT)
    # the Academia Sinica system's channels (mne-bids anonymizes the description)
    assert rec.raw.ch_names[157] == "MEG 158" and rec.raw.ch_names[160] == "EEG 001"
    assert rec.raw.info["chs"][100]["coil_type"] == FIFF.FIFFV_COIL_KIT_GRAD
    assert rec.bads == ["MEG 005", "MEG 101"] == rec.raw.info["bads"]
    # the trigger at sample 91 (1 kHz) is the one word, on the raw's time base
    assert rec.words[["word", "sample", "story", "run"]].values.tolist() == [
        ["null", 91, "story", "sub-01_ses-0_task-story"]
    ]
    assert rec.words["onset"].iloc[0] == pytest.approx(0.091)
    assert rec.label == "sub-01_ses-0_task-story"


def test_kit_preprocessing_drops_bads_and_references(kit_bids):
    rec = read_bids_meg(find_meg(kit_bids, "01")[0])
    out, steps = preprocess_raw(rec.raw, l_freq=1.0, h_freq=40.0, notch=[60.0], sfreq=None)
    n_grad = sum(ch["coil_type"] == FIFF.FIFFV_COIL_KIT_GRAD for ch in rec.raw.info["chs"])
    assert len(out.ch_names) == n_grad - 2
    assert "MEG 101" not in out.ch_names and "MEG 158" not in out.ch_names  # bad; reference
    assert [s["step"] for s in steps] == ["pick", "notch", "filter"]
    assert steps[0]["dropped_bads"] == ["MEG 005", "MEG 101"]


def test_preprocessing_equals_mne_calls(kit_bids):
    """The same numbers as the MNE calls a user would write, in the same order."""
    rec = read_bids_meg(find_meg(kit_bids, "01")[0])
    out, steps = preprocess_raw(rec.raw, l_freq=2.0, h_freq=45.0, notch=None, sfreq=500.0)
    with mne.use_log_level("error"):
        ref = rec.raw.copy().pick("meg", exclude="bads").load_data()
        ref.pick([c for c in ref.ch_names if c in out.ch_names])
        ref.filter(2.0, 45.0).resample(500.0)
    assert out.ch_names == ref.ch_names
    np.testing.assert_allclose(out.get_data(), ref.get_data(), rtol=1e-10, atol=1e-20)
    assert steps[-1] == {"step": "resample", "sfreq_from": 1000.0, "sfreq": 500.0}
    with pytest.raises(NeuroalignError, match="Nyquist"):
        preprocess_raw(rec.raw, h_freq=300.0, sfreq=500.0)


def test_no_recording(kit_bids):
    with pytest.raises(NeuroalignError, match=r"no MEG recording.*task='other'"):
        find_meg(kit_bids, "01", task="other")


def test_megmasc_sidecars(shared_data):
    """The real MEG-MASC channels and events files: bads, channel types, words on the 1 kHz
    time base (the events' own sample column)."""
    meg = shared_data / "meg"
    channels = read_channels(meg / "megmasc_sub-01_ses-0_task-0_channels.tsv")
    assert (channels["type"] == "MEGGRADAXIAL").sum() == 208
    assert bad_channels(channels) == channels.loc[channels["status"] == "bad", "name"].tolist()
    events = pd.read_csv(
        meg / "megmasc_sub-01_ses-0_task-0_events.tsv",
        sep="\t",
        keep_default_na=False,
        na_values=["n/a", ""],
    )
    words = word_table(events, sfreq=1000.0, run="sub-01_ses-0_task-0")
    assert len(words) == 668
    assert set(words["story"]) == {"lw1"}
    assert words["onset"].is_monotonic_increasing
    expected = events.loc[events["trial_type"] == "word", "sample"].astype(int).to_numpy()
    np.testing.assert_array_equal(words["sample"].to_numpy(), expected)
    cut = word_table(events, sfreq=1000.0, n_times=200_000)
    assert cut["onset"].max() < 200.0 and len(cut) < len(words)


def test_channels_status(tmp_path):
    path = tmp_path / "x_channels.tsv"
    path.write_text("name\ttype\tstatus\nA\tMEGMAG\tgood\nB\tMEGMAG\tBAD\nC\tMEGMAG\tn/a\n")
    assert bad_channels(read_channels(path)) == ["B"]
    path.write_text("name\ttype\tstatus\nA\tMEGMAG\tbroken\n")
    with pytest.raises(NeuroalignError, match="neither 'good' nor 'bad'"):
        read_channels(path)


def test_epochs_and_windows():
    """Epochs sit on the onsets' samples; the baseline and window means are what they say."""
    sfreq = 100.0
    info = mne.create_info(["a", "b"], sfreq, "mag")
    data = np.zeros((2, 1000))
    onsets = np.array([1.0, 3.0, 9.95])
    for t in onsets:
        k = round(t * sfreq)
        data[0, k + 30 : k + 40] += 1.0  # a box 0.30-0.40 s after each word
    raw = mne.io.RawArray(data + 5.0, info, verbose="error")
    words = pd.DataFrame({"onset": onsets})
    epochs, times, steps = word_epochs(raw, words, tmin=-0.1, tmax=0.5, baseline=(None, 0.0))
    assert epochs.shape == (3, 2, 61) and steps[0]["n_padded"] == 1
    means = window_means(epochs, times, time_windows(0.0, 0.5, 0.1))
    np.testing.assert_allclose(means[:2, 0], [[0, 0, 0, 1, 0], [0, 0, 0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(means[:, 1], 0.0, atol=1e-12)


def test_starter_config_builds_the_megmasc_word_table(shared_data, repo_root, tmp_path):
    """The starter config's MEG-MASC entry, fetched from the mirror (events, channels, text;
    no raw), gives the word table with onsets, samples at 1 kHz and the channel summary."""
    from neuroalign.config import load_config
    from neuroalign.data.fetch import fetch_dataset
    from neuroalign.data.stimuli import StimuliSettings, build_stimuli, read_table

    config = load_config(repo_root / "config" / "starter.yaml")
    entry = config["stimuli"]["megmasc_lw1"]
    fetch_dataset(
        repo_root / "data_manifests" / "megmasc.yaml",
        tmp_path,
        subset=config["datasets"]["megmasc"]["subset"],
        mirror=shared_data,
        progressbar=False,
    )
    folder = tmp_path / "raw" / "megmasc"
    assert any(f.endswith("_channels.tsv") for f in entry["files"])
    out = build_stimuli(
        StimuliSettings.from_config(entry),
        inputs=[folder / f for f in entry["files"]],
        stimset="megmasc_lw1",
        output=tmp_path / "megmasc_lw1.parquet",
    )
    table, meta = read_table(out)
    events = pd.read_csv(folder / entry["files"][0], sep="\t")
    words = events[events["trial_type"] == "word"]
    assert len(table) == len(words) == 668
    np.testing.assert_allclose(table["onset"], words["onset"])
    np.testing.assert_array_equal(table["sample"], words["sample"].astype(int))
    channels = meta["info"]["channels"]["ses-0_task-0"]
    assert channels["sfreq"] == 1000.0 and channels["n_by_type"]["MEGGRADAXIAL"] == 208
    assert channels["bad_channels"] == []


def test_cluster_config_names_every_megmasc_recording(repo_root):
    """The cluster config fetches the manifest's recordings subset: every KIT recording of the
    27 subjects with its events and channels files, checksums from the annex keys."""
    from neuroalign.config import load_config
    from neuroalign.data.manifest import load_manifest

    config = load_config(repo_root / "config" / "cluster_megmasc.yaml")
    subset = config["datasets"]["megmasc"]["subset"]
    files = load_manifest(repo_root / "data_manifests" / "megmasc.yaml").subset_files(subset)
    paths = {f.path: f for f in files}
    raws = [p for p in paths if p.endswith("_meg.con")]
    assert len(raws) == 196
    subjects = config["encode"]["megmasc_epochs"]["subjects"]
    assert {p.split("/")[0] for p in raws} == {f"sub-{s}" for s in subjects}
    for raw in raws:
        for sidecar in ("_events.tsv", "_channels.tsv"):
            assert raw.replace("_meg.con", sidecar) in paths
        assert paths[raw].sha256 is not None and paths[raw].size > 10**8
    unverified = [p for p, f in paths.items() if f.sha256 is None]
    assert len(unverified) == 28 and all(p.endswith("task-3_events.tsv") for p in unverified)
    for name in config["stimuli"]["megmasc"]["files"]:
        assert name in paths


def test_megmasc_story_text_matched_case_aside(shared_data, tmp_path):
    """MEG-MASC names story 3 "The_Black_Willow" in its events, its text the_black_willow.txt."""
    from neuroalign.data.readers.megmasc import read_megmasc

    meg = shared_data / "meg"
    events = pd.read_csv(
        meg / "megmasc_sub-01_ses-0_task-0_events.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    events["story"] = events["story"].str.replace("lw1", "The_LW1")
    path = tmp_path / "sub-01_ses-0_task-0_events.tsv"
    events.to_csv(path, sep="\t", index=False)
    text = tmp_path / "the_lw1.txt"
    text.write_bytes((meg / "megmasc_stimuli_text_lw1.txt").read_bytes())
    table = read_megmasc(path, text)
    assert set(table["story"]) == {"The_LW1"} and (table["text_index"] >= 0).sum() == 613
