"""OneStop readers on the real sample reports and on a simulated report with fewer columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.onestop import (
    read_onestop_fixations,
    read_onestop_ia,
    read_onestop_measures,
)


@pytest.fixture(scope="module")
def ia_path(shared_data):
    return shared_data / "reading" / "onestop_sample_ia.csv"


def test_stimulus_table_collapses_readers(ia_path):
    table = read_onestop_ia(ia_path)
    assert len(table) == 1307  # 12 paragraphs read by both readers (2,614 IA rows)
    assert table["story"].nunique() == 12
    assert table["story"].iloc[0] == "2_2_1_Adv"
    assert table.loc[0, ["text", "position", "condition"]].tolist() == ["Robert", 0, "Adv"]
    assert (table["n_readers"] == 2).all()
    first = table[table["story"] == "2_2_1_Adv"]
    assert first["position"].tolist() == list(range(111))
    assert first["sentence"].iloc[3] == 0 and first["sentence"].iloc[4] == 1  # "dead." ends it
    assert {"word_length", "gpt2_surprisal", "universal_pos"} <= set(table.columns)
    assert "selected_answer" not in table.columns  # describes the reader, not the word
    assert table.loc[0, "mean_TRT"] == pytest.approx(315.0)


def test_measures_per_reader(ia_path):
    measures = read_onestop_measures(ia_path)
    assert len(measures) == 2614
    assert sorted(measures["participant"].unique()) == ["l37_1129", "l7_1090"]
    row = measures.iloc[0]
    assert (row["text"], row["FFD"], row["GD"], row["TRT"], row["fixation_count"]) == (
        "Robert",
        32.0,
        387.0,
        387.0,
        2,
    )
    skipped = measures["skip"].to_numpy(dtype=bool)
    assert measures.loc[skipped, ["FFD", "GD", "RPD"]].isna().all().all()
    assert measures.loc[measures["fixation_count"] == 0, "TRT"].isna().all()
    assert measures["TRT"].notna().sum() == 1780  # words fixated at least once
    length = pd.read_csv(ia_path, usecols=["word_length"])["word_length"]
    r = np.corrcoef(length, skipped.astype(float))[0, 1]
    assert r == pytest.approx(-0.34, abs=0.01)
    raw = read_onestop_measures(ia_path, conditional=False)
    assert raw["FFD"].notna().all() and (raw.loc[skipped, "FFD"] >= 0).all()


def test_simulated_report_with_fewer_columns(tmp_path):
    rows = []
    for participant, trial in (("p1", 1), ("p2", 5)):
        for ia, word in enumerate(["The", "cat", "sat."]):
            skip = int(participant == "p2" and ia == 1)
            rows.append(
                {
                    "participant_id": participant,
                    "TRIAL_INDEX": trial,
                    "paragraph_id": 7,
                    "IA_ID": ia + 1,
                    "IA_LABEL": word,
                    "IA_FIRST_FIXATION_DURATION": 0 if skip else 200,
                    "IA_FIRST_RUN_DWELL_TIME": 0 if skip else 250,
                    "IA_DWELL_TIME": 0 if skip else 300,
                    "IA_SKIP": skip,
                    "IA_FIXATION_COUNT": 0 if skip else 1,
                    "word_length": len(word),
                    "wordfreq_frequency": 10.0 + ia,
                    "surprisal": 3.0 * ia,
                }
            )
    path = tmp_path / "ia.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = read_onestop_ia(path)
    assert table["text"].tolist() == ["The", "cat", "sat."]
    assert table["position"].tolist() == [0, 1, 2]  # IA_ID counted from 1 here
    assert table["story"].unique().tolist() == ["7"]
    assert table["skip_rate"].tolist() == [0.0, 0.5, 0.0]
    assert table["surprisal"].tolist() == [0.0, 3.0, 6.0]
    measures = read_onestop_measures(path)
    assert measures["RPD"].isna().all()  # not in this report
    assert np.isnan(measures.loc[4, "GD"]) and measures.loc[3, "GD"] == 250.0


def test_readers_must_see_the_same_words(tmp_path):
    rows = pd.DataFrame(
        {
            "participant_id": ["a", "b"],
            "TRIAL_INDEX": [1, 1],
            "paragraph_id": [1, 1],
            "IA_ID": [0, 0],
            "IA_LABEL": ["cat", "dog"],
        }
    )
    path = tmp_path / "ia.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(NeuroalignError, match="readers saw different words at paragraph '1'"):
        read_onestop_ia(path)
    rows.drop(columns="paragraph_id").to_csv(path, index=False)
    with pytest.raises(NeuroalignError, match="'paragraph_id' missing"):
        read_onestop_ia(path)


def test_fixation_report(shared_data, ia_path):
    fixations = read_onestop_fixations(shared_data / "reading" / "onestop_sample_fixations.csv")
    assert len(fixations) == 3209
    assert (fixations["position"] == -1).sum() == 1  # one fixation outside any word
    first = fixations.iloc[0]
    assert (first["text"], first["position"], first["x"], first["y"]) == ("Robert", 0, 374, 196)
    assert first["onset"] == pytest.approx(18.288) and first["duration"] == pytest.approx(0.032)
    # Fixation IA ids are 1-based, IA-report ids 0-based: positions must agree on the word.
    ia = read_onestop_measures(ia_path)
    merged = fixations[fixations["position"] >= 0].merge(
        ia, on=["participant", "trial", "position"], suffixes=("", "_ia")
    )
    assert len(merged) == 3208
    assert (merged["text"] == merged["text_ia"]).all()
