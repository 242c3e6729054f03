"""MEG-MASC reader on the real events file and story text."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.align import normalize_token
from neuroalign.data.readers.megmasc import read_megmasc
from neuroalign.data.stimuli import run_reader


@pytest.fixture(scope="module")
def megmasc(shared_data):
    meg = shared_data / "meg"
    return run_reader(
        "megmasc",
        [meg / "megmasc_sub-01_ses-0_task-0_events.tsv", meg / "megmasc_stimuli_text_lw1.txt"],
        stimset="lw1",
    )


def test_counts_match_the_source_notes(megmasc):
    assert len(megmasc) == 668
    assert megmasc["condition"].value_counts().to_dict() == {
        "sentence": 613,
        "word_list": 54,
        "pseudo_words": 1,
    }
    counts = megmasc.attrs["info"]["alignment"]["ses-0_task-0/lw1"]
    assert counts["n_aligned_words"] == 613
    assert counts["n_matched"] == 613  # every story word is in the text, in order
    assert counts["n_text_words_without_event"] == 136
    assert counts["n_text_words"] == 749
    assert {"wormhole", "Tarrin", "'s"} <= set(counts["text_words_without_event"])


def test_rows_and_text_index(megmasc, shared_data):
    tokens = (shared_data / "meg" / "megmasc_stimuli_text_lw1.txt").read_text().split()
    first = megmasc.iloc[0]
    assert (first["text"], first["onset"], first["story"], first["text_index"]) == (
        "Tara",
        23.506,
        "lw1",
        0,
    )
    assert first["offset"] == pytest.approx(23.806)
    story = megmasc[megmasc["condition"] == "sentence"]
    assert (story["text_index"] >= 0).all()
    assert story["text_index"].is_monotonic_increasing
    pairs = [(tokens[i], w) for i, w in zip(story["text_index"], story["text"], strict=True)]
    assert all(normalize_token(t) == normalize_token(w) for t, w in pairs)
    assert sum(t != w for t, w in pairs) == 1  # the events spell "It's" as "It s"
    others = megmasc[megmasc["condition"] != "sentence"]
    assert (others["text_index"] == -1).all() and (others["sentence"] == -1).all()
    assert megmasc["onset"].is_monotonic_increasing
    assert story["sentence"].is_monotonic_increasing and story["sentence"].iloc[0] == 0
    assert megmasc["run"].unique().tolist() == ["ses-0_task-0"]


def test_missing_story_text_is_named(shared_data, tmp_path):
    events = shared_data / "meg" / "megmasc_sub-01_ses-0_task-0_events.tsv"
    texts = [tmp_path / "cable_spool_fort.txt", tmp_path / "easy_money.txt"]
    for path in texts:
        path.write_text("x")
    with pytest.raises(NeuroalignError, match="story 'lw1': no text files match"):
        read_megmasc(events, texts)


def test_events_without_words(tmp_path):
    events = tmp_path / "sub-01_task-0_events.tsv"
    pd.DataFrame(
        {
            "onset": [0.0],
            "duration": [0.1],
            "trial_type": ["sound"],
            "word": ["n/a"],
            "story": ["lw1"],
            "condition": ["n/a"],
        }
    ).to_csv(events, sep="\t", index=False)
    text = tmp_path / "lw1.txt"
    text.write_text("A b .")
    with pytest.raises(NeuroalignError, match="no events with trial_type 'word'"):
        read_megmasc(events, text)
