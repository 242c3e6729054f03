"""BIDS events reader: a tiny BIDS tree written here, and the real MEG-MASC events file."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.bids_events import parse_entities, read_bids_events, run_label
from neuroalign.data.stimuli import run_reader

WORDS = {
    "1": [(0.5, "the"), (0.9, "cat"), (1.4, "sat")],
    "2": [(0.4, "on"), (0.8, "the"), (1.1, "007")],
}


def _write_events(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False, na_rep="n/a")


def _word_rows(run, shift=0.0):
    rows = [{"onset": 0.0, "duration": 0.0, "trial_type": "sound", "word": None}]
    for onset, word in reversed(WORDS[run]):  # unsorted on purpose
        rows.append({"onset": onset + shift, "duration": 0.3, "trial_type": "word", "word": word})
    return rows


@pytest.fixture
def bids_root(tmp_path):
    root = tmp_path / "ds"
    (root / "dataset_description.json").parent.mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.8.0"}')
    for sub in ("01", "02"):
        for run in ("1", "2"):
            name = f"sub-{sub}_task-story_run-{run}_events.tsv"
            _write_events(root / f"sub-{sub}" / "func" / name, _word_rows(run))
    _write_events(root / "derivatives" / "sub-01_task-story_run-9_events.tsv", _word_rows("1"))
    return root


def test_entities_and_run_label():
    entities = parse_entities("sub-03_ses-2_task-lpp_run-10_events.tsv")
    assert entities == {"sub": "03", "ses": "2", "task": "lpp", "run": "10"}
    assert run_label(entities) == "ses-2_task-lpp_run-10"


def test_word_events_from_a_bids_tree(bids_root):
    table = read_bids_events(bids_root)
    assert table["text"].tolist() == ["the", "cat", "sat", "on", "the", "007"]
    assert table["run"].tolist() == ["task-story_run-1"] * 3 + ["task-story_run-2"] * 3
    assert table["story"].unique().tolist() == ["story"]
    assert table["position"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table["onset"].tolist() == [0.5, 0.9, 1.4, 0.4, 0.8, 1.1]
    assert table["offset"].round(6).tolist() == [0.8, 1.2, 1.7, 0.7, 1.1, 1.4]
    assert table["subject"].unique().tolist() == ["01"]
    assert table.attrs["info"]["subjects_checked"]["task-story_run-1"] == ["01", "02"]
    assert "run-9" not in " ".join(table["run"])  # derivatives are skipped


def test_subjects_that_differ_need_the_subject_option(bids_root):
    name = "sub-02_task-story_run-2_events.tsv"
    _write_events(bids_root / "sub-02" / "func" / name, _word_rows("2", shift=0.25))
    with pytest.raises(NeuroalignError, match=r"events differ between subjects.*subject=<label>"):
        read_bids_events(bids_root)
    table = run_reader("bids_events", [bids_root], options={"subject": "02"})
    assert table["subject"].unique().tolist() == ["02"]
    assert table["onset"].iloc[-1] == pytest.approx(1.35)
    with pytest.raises(NeuroalignError, match=r"no events files for subject '07'.*\['01', '02'\]"):
        read_bids_events(bids_root, subject="sub-07")


def test_sentence_localizer_events(tmp_path):
    rows = [
        {"onset": 0.0, "duration": 6.0, "trial_type": "sentence", "stimulus": "THE DOG RAN"},
        {"onset": 6.0, "duration": 6.0, "trial_type": "nonword", "stimulus": "BLOF MIRP TAV"},
        {"onset": 12.0, "duration": 14.0, "trial_type": "fixation", "stimulus": None},
        {"onset": 26.0, "duration": 6.0, "trial_type": "sentence", "stimulus": "A CAT SAT"},
    ]
    path = tmp_path / "sub-01" / "func" / "sub-01_task-langloc_run-1_events.tsv"
    _write_events(path, rows)
    table = read_bids_events(
        [path], trial_type=["sentence", "nonword"], text_column="stimulus", unit="sentence"
    )
    assert table["condition"].tolist() == ["sentence", "nonword", "sentence"]
    assert table["text"].tolist() == ["THE DOG RAN", "BLOF MIRP TAV", "A CAT SAT"]
    assert table["story"].tolist() == [f"task-langloc_run-1_{k}" for k in range(3)]
    assert table["position"].tolist() == [0, 0, 0]


def test_bad_options_name_the_fix(bids_root):
    with pytest.raises(NeuroalignError, match=r"no events with trial_type in \['words'\]"):
        read_bids_events(bids_root, trial_type="words")
    with pytest.raises(NeuroalignError, match=r"column\(s\) \['stim'\] missing"):
        read_bids_events(bids_root, text_column="stim")
    with pytest.raises(ValueError, match="'unit'"):
        read_bids_events(bids_root, unit="phrase")


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(NeuroalignError, match=r"no \*_events.tsv files in this folder"):
        read_bids_events(tmp_path)


def test_real_megmasc_events(shared_data):
    path = shared_data / "meg" / "megmasc_sub-01_ses-0_task-0_events.tsv"
    table = read_bids_events(path, condition_column="condition", keep_columns=("word_index",))
    assert len(table) == 668
    assert table["condition"].value_counts().to_dict() == {
        "sentence": 613,
        "word_list": 54,
        "pseudo_words": 1,
    }
    assert table["run"].unique().tolist() == ["ses-0_task-0"]
    assert table.loc[0, ["text", "onset"]].tolist() == ["Tara", 23.506]
    assert table["onset"].is_monotonic_increasing
    assert table["onset"].iloc[-1] == pytest.approx(362.8, abs=0.05)
    assert table["duration"].mean() == pytest.approx(0.317, abs=0.001)
