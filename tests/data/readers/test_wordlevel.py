"""Word-level reading tables: UCL, ZuCo/GECO and Natural Stories (real files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.wordlevel import (
    read_natural_stories_spr,
    read_ucl_frank2013,
    read_wordlevel_gaze,
    split_punctuation,
)


def test_split_punctuation():
    assert split_punctuation(["shoulder.", "well,", "...", "Anne"]) == (
        ["shoulder", "well", "...", "Anne"],
        [".", ",", "", ""],
    )


def test_ucl_reading_order(shared_data):
    table = read_ucl_frank2013(shared_data / "reading" / "ucl_frank2013_all_measures.csv")
    assert len(table) == 1726 + 205  # every sentence's first word restored
    assert table["measured"].sum() == 1726
    assert table["story"].nunique() == 205
    first = table[table["story"] == "1"]
    assert first["text"].tolist() == ["Anne", "lost", "control", "and", "laughed."]
    assert first["position"].tolist() == [0, 1, 2, 3, 4]
    assert first["bare_word"].iloc[-1] == "laughed" and first["punctuation"].iloc[-1] == "."
    assert np.isnan(first["RTfirstpass"].iloc[0])
    assert first["sentence_text"].iloc[0] == "Anne lost control and laughed."
    assert table["prefix"].iloc[2] == "Anne lost"
    measured = table[table["measured"]]
    r = np.corrcoef(measured["s_GPT2"], measured["RTfirstpass"])[0, 1]
    assert r == pytest.approx(0.62, abs=0.01)
    only = read_ucl_frank2013(
        shared_data / "reading" / "ucl_frank2013_all_measures.csv", restore_first_word=False
    )
    assert len(only) == 1726 and only["position"].min() == 1


@pytest.mark.parametrize(
    ("name", "n_words", "n_sentences", "n_zero"),
    [("zuco_wordlevel_train.csv", 18498, 1095, 159), ("geco_en_wordlevel_test.csv", 2869, 283, 6)],
)
def test_wordlevel_gaze(shared_data, name, n_words, n_sentences, n_zero):
    path = shared_data / "reading" / name
    table = read_wordlevel_gaze(path)
    assert len(table) == n_words
    assert table["story"].nunique() == n_sentences
    assert table["all_zero"].sum() == n_zero
    assert table.attrs["info"]["n_all_zero"] == n_zero
    assert table["split"].unique().tolist() == [name.split("_")[-1].removesuffix(".csv")]
    starts = table.groupby("story", sort=False)["position"].min()
    assert (starts == 0).all()


def test_zuco_values_and_splits(shared_data):
    reading = shared_data / "reading"
    table = read_wordlevel_gaze(
        [reading / "zuco_wordlevel_train.csv", reading / "zuco_wordlevel_val.csv"]
    )
    assert table["split"].value_counts().to_dict() == {"train": 18498, "val": 1070}
    assert table.loc[0, ["text", "story", "all_zero"]].tolist() == ["``13", "train_0", False]
    test = read_wordlevel_gaze(reading / "zuco_wordlevel_test.csv")
    assert test.loc[0, ["text", "story", "all_zero"]].tolist() == ["An", "test_0", True]
    train = table[table["split"] == "train"]
    initial = train.groupby("story", sort=False).head(1)
    assert initial["all_zero"].sum() == 61
    r = np.corrcoef(train["text"].str.len(), train["total_fix_dur"])[0, 1]
    assert r == pytest.approx(0.69, abs=0.01)
    with pytest.raises(NeuroalignError, match="option split names one file's split"):
        read_wordlevel_gaze([reading / "zuco_wordlevel_val.csv"] * 2, split="val")


def test_wordlevel_needs_reading_order(tmp_path):
    path = tmp_path / "x_test.csv"
    pd.DataFrame(
        {
            "sentence_num": [1, 0],
            "word": ["a", "b"],
            **{m: [0.0, 0.0] for m in ("n_fix", "first_fix_dur", "first_pass_dur")},
            **{m: [0.0, 0.0] for m in ("total_fix_dur", "mean_fix_dur", "fix_prob")},
            **{m: [0.0, 0.0] for m in ("n_refix", "reread_prob")},
        }
    ).to_csv(path)
    with pytest.raises(NeuroalignError, match="'sentence_num' is not in reading order"):
        read_wordlevel_gaze(path)


def test_natural_stories_shift(shared_data):
    path = shared_data / "reading" / "naturalstories_spr_wordinfo.tsv"
    raw = pd.read_csv(path, sep="\t", keep_default_na=False)
    table = read_natural_stories_spr(path)
    assert len(table) == 10256
    assert table.attrs["options"]["shift"] == 1
    story1 = table[table["story"] == "1"]
    assert story1["text"].iloc[:5].tolist() == ["If", "you", "were", "to", "journey"]
    assert story1["position"].iloc[0] == 0 and story1["zone"].iloc[0] == 1
    # With the shift, the RT of word k is the file's row at zone k-1.
    rt_zone1 = raw.loc[(raw["item"] == 1) & (raw["zone"] == 1), "meanItemRT"].item()
    assert np.isnan(story1["meanItemRT"].iloc[0])
    assert story1["meanItemRT"].iloc[1] == pytest.approx(rt_zone1)
    unshifted = read_natural_stories_spr(path, shift=0)
    assert unshifted["meanItemRT"].iloc[0] == pytest.approx(rt_zone1)
    assert table["meanItemRT"].isna().sum() == 10  # first word of each story
    assert table.groupby("story")["sentence"].max().min() > 10
