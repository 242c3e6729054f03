"""Localizer stimulus readers on the real language, MD and ToM files."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.localizers import read_langloc, read_md_arithmetic, read_tom


def test_langloc(shared_data):
    table = read_langloc(shared_data / "localizers" / "language")
    assert len(table) == 480
    assert table["condition"].value_counts().to_dict() == {"sentence": 240, "nonword": 240}
    assert table.groupby("condition")["text"].nunique().to_dict() == {
        "sentence": 240,
        "nonword": 240,
    }
    assert table["run"].nunique() == 10 and table["run"].iloc[0] == "run1_set1"
    assert table["run_number"].value_counts().to_dict() == {1: 240, 2: 240}
    first = table.iloc[0]
    assert first["text"] == "JUST THE BAREST SUGGESTION OF A HEEL IS FOUND ON TEENAGE PUMPS"
    assert (first["condition"], first["trial"], first["story"]) == ("sentence", 1, "run1_set1_S01")
    assert table["text"].str.split().str.len().eq(12).all()
    assert table["story"].is_unique
    lower = read_langloc(
        sorted((shared_data / "localizers" / "language").glob("*run2*")), lowercase=True
    )
    assert len(lower) == 240 and lower["text"].iloc[0] == lower["text"].iloc[0].lower()


def test_langloc_bad_name_and_code(tmp_path):
    bad = tmp_path / "lists.csv"
    bad.write_text("stim1\n")
    with pytest.raises(NeuroalignError, match="must say its run and set"):
        read_langloc(bad)
    path = tmp_path / "langloc_fmri_run1_stim_set1.csv"
    header = ",".join(f"stim{i}" for i in range(1, 15))
    path.write_text(header + "\n1," + ",".join(["A"] * 12) + ",X\n")
    with pytest.raises(NeuroalignError, match="'stim14' must be S or N, found 'X'"):
        read_langloc(path)


def test_md_arithmetic(shared_data):
    table = read_md_arithmetic(shared_data / "localizers" / "md" / "arithmetic_hard_easy.csv")
    assert len(table) == 200
    assert table["condition"].value_counts().to_dict() == {"hard": 100, "easy": 100}
    assert table["text"].iloc[0] == "Question: Solve 151 + 192?\nAnswer: 343"
    hard = table[table["condition"] == "hard"]
    easy = table[table["condition"] == "easy"]
    assert hard["operator"].value_counts().to_dict() == {"+": 56, "-": 44}
    assert easy["operator"].value_counts().to_dict() == {"+": 43, "-": 57}
    assert table["story"].is_unique


def test_tom(shared_data):
    table = read_tom(shared_data / "localizers" / "tom")
    assert len(table) == 20
    assert table["condition"].value_counts().to_dict() == {"belief": 10, "photo": 10}
    assert table["story"].iloc[:3].tolist() == ["1belief", "1photo", "2belief"]
    first = table.iloc[0]
    assert first["story_text"].startswith("Expecting the game to be postponed because of the rain,")
    assert first["question"] == "The Garcia family arrives home believing the score is 5-3."
    assert first["text"].endswith(
        "score of 5-3. The Garcia family arrives home believing the score is 5-3."
    )
    assert "True" not in " ".join(table["question"])
    assert "non-fiction" in table["text"].iloc[1]  # a hyphen at a line end is kept, no space
    assert "\n" not in "".join(table["text"])
    alone = read_tom(shared_data / "localizers" / "tom", include_question=False)
    assert alone["text"].tolist() == alone["story_text"].tolist()


def test_tom_missing_question(shared_data):
    story = shared_data / "localizers" / "tom" / "3photo_story.txt"
    with pytest.raises(NeuroalignError, match=r"no 3photo_question\.txt"):
        read_tom([story])
    assert len(read_tom([story], include_question=False)) == 1
