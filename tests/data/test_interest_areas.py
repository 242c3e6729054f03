"""Interest areas and word measures recomputed from fixations, against the OneStop IA report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.interest_areas import (
    MEASURE_NAMES,
    assign_interest_areas,
    check_fixations,
    layout_boxes,
    report_agreement,
    trial_measures,
    word_measures,
)
from neuroalign.data.readers.onestop import (
    read_onestop_boxes,
    read_onestop_fixations,
    read_onestop_measures,
)

# ---------------------------------------------------------------- hand-computed sequences


def test_first_pass_reading_without_regressions():
    m = word_measures(np.array([0, 1, 1, 2]), np.array([200.0, 150.0, 100.0, 300.0]), 4)
    assert m["FFD"].tolist() == [200.0, 150.0, 300.0, 0.0]
    assert m["GD"].tolist() == [200.0, 250.0, 300.0, 0.0]
    assert m["RPD"].tolist() == [200.0, 250.0, 300.0, 0.0]
    assert m["fixation_count"].tolist() == [1, 2, 1, 0]
    assert m["skip"].tolist() == [False, False, False, True]  # word 3 is never fixated
    assert m["regression_in"].isna().tolist() == [False, False, False, True]


def test_regression_path_and_second_pass():
    # 0 1 2 | back to 0 | 1 again | on to 3. Durations 100 .. 600 (ms).
    pos = np.array([0, 1, 2, 0, 1, 3])
    dur = np.array([100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
    m = word_measures(pos, dur, 4)
    # Go-past time of word 2: itself, the regression to 0 and the re-reading of 1, until 3.
    assert m.loc[2, "RPD"] == 300 + 400 + 500
    assert m.loc[2, "GD"] == 300 and m.loc[2, "TRT"] == 300
    assert m.loc[2, "regression_out_count"] == 1 and bool(m.loc[2, "regression_out"])
    # Word 1's first run ended forwards: no regression out, its go-past time is its first run.
    assert m.loc[1, "RPD"] == 200 and m.loc[1, "regression_out_count"] == 0
    assert m.loc[1, "TRT"] == 700 and m.loc[1, "GD"] == 200
    # Regressions into a word: 2 -> 0 enters word 0 from a later word; 0 -> 1 is forwards.
    assert m["regression_in_count"].tolist() == [1, 0, 0, 0]
    assert m.loc[0, "TRT"] == 500 and m.loc[0, "fixation_count"] == 2


def test_skip_is_first_pass_and_measures_stay_eyelinks():
    # Word 1 is skipped (0 -> 2), then read after a regression from 2; word 3 follows.
    pos = np.array([0, 2, 1, 3])
    dur = np.array([210.0, 220.0, 230.0, 240.0])
    m = word_measures(pos, dur, 4)
    assert m["skip"].tolist() == [False, True, False, False]
    # EyeLink reports the later fixation as the skipped word's first fixation and first run,
    # and counts its go-past time from there (word 1 -> word 3).
    assert m.loc[1, ["FFD", "GD", "RPD"]].tolist() == [230.0, 230.0, 230.0]
    # A skipped word makes no first-pass regression out, whatever follows it.
    assert m.loc[1, "regression_out_count"] == 0
    assert m.loc[2, "RPD"] == 220 + 230 and m.loc[2, "regression_out_count"] == 1
    conditional = word_measures(pos, dur, 4, conditional=True)
    assert conditional.loc[1, ["FFD", "GD", "RPD"]].isna().all()
    assert conditional.loc[1, "TRT"] == 230.0  # fixated, so total time is defined


def test_fixations_outside_every_word():
    # -1: a fixation in the margin. It ends the run of word 1 and does not count towards its
    # regression path (Data Viewer sums the fixations on interest areas only).
    pos = np.array([0, 1, -1, 1, 2])
    dur = np.array([100.0, 200.0, 50.0, 300.0, 400.0])
    m = word_measures(pos, dur, 3)
    assert m.loc[1, "GD"] == 200 and m.loc[1, "TRT"] == 500
    assert m.loc[1, "RPD"] == 500 and m.loc[1, "fixation_count"] == 2
    assert m["regression_in_count"].tolist() == [0, 0, 0]


def test_a_fixation_beyond_the_text_is_refused():
    with pytest.raises(NeuroalignError, match="interest area 5, but the text has 3"):
        word_measures(np.array([0, 5]), np.array([1.0, 1.0]), 3)


def test_assign_interest_areas_half_open_boxes():
    boxes = pd.DataFrame({"left": [0, 50], "top": [10, 10], "right": [50, 90], "bottom": [40, 40]})
    x = np.array([0.0, 49.9, 50.0, 89.9, 90.0, 20.0, 20.0, np.nan])
    y = np.array([10.0, 39.9, 20.0, 20.0, 20.0, 40.0, 9.9, 20.0])
    assert assign_interest_areas(x, y, boxes).tolist() == [0, 0, 1, 1, -1, -1, -1, -1]
    with pytest.raises(NeuroalignError, match="missing"):
        assign_interest_areas(x, y, boxes.drop(columns="bottom"))


def test_layout_boxes_tile_each_line_and_wrap():
    words = "Between two paw prints on a muddy mountain track".split()
    boxes = layout_boxes(words, left=100, top=50, char_width=12, line_height=60, line_width=300)
    assert boxes["line"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]  # "on" ends at 300 px
    for _, line in boxes.groupby("line"):
        assert line["left"].iloc[0] == 100  # each line starts at the margin
        assert (line["left"].to_numpy()[1:] == line["right"].to_numpy()[:-1]).all()
        assert (line["left"] - 100 + 12 * line["text"].str.len()).max() <= 300
    assert ((boxes["right"] - boxes["left"]) == 12 * (boxes["text"].str.len() + 1)).all()
    assert (boxes["bottom"] - boxes["top"] == 60).all() and boxes["top"].max() == 110
    # A scanpath over word centres lands on those words, and the first-pass order comes back.
    centre = (boxes["left"] + boxes["right"]) / 2
    middle = (boxes["top"] + boxes["bottom"]) / 2
    order = [0, 1, 3, 2, 3, 5, 6, 8]
    assert assign_interest_areas(centre[order], middle[order], boxes).tolist() == order
    with pytest.raises(NeuroalignError, match="positive"):
        layout_boxes(words, left=0, top=0, char_width=0, line_height=10)


# ---------------------------------------------------------------- the OneStop sample


@pytest.fixture(scope="module")
def onestop(shared_data):
    folder = shared_data / "reading"
    ia_path = folder / "onestop_sample_ia.csv"
    fixations = read_onestop_fixations(folder / "onestop_sample_fixations.csv")
    boxes = read_onestop_boxes(ia_path)
    report = pd.read_csv(ia_path, low_memory=False)
    return fixations, boxes, report, ia_path


@pytest.mark.parametrize("boxes", [False, True])
def test_recomputed_measures_equal_the_ia_report(onestop, boxes):
    """All 2,614 word rows (2 readers x 12 paragraphs) recomputed from the fixation report.

    FFD, GD, TRT, RPD (ms), fixation count, skip and regressions in are exact in every row,
    with the fixation report's interest areas or with ours from the x, y and the word boxes.
    Regressions out differ in 6 rows (0.23%): 3 words whose first-pass exit to an earlier word
    Data Viewer does not count, and 3 words skipped in first pass whose exit it counts, against
    90 other skipped words with a later exit that it does not count. The fixation report does
    not say why (neither the saccade direction, the line nor the last word explains them).
    """
    fixations, words, report, _ = onestop
    measures = trial_measures(fixations, words, boxes=boxes, conditional=False)
    assert len(measures) == len(report) == 2614
    assert (measures["text"].to_numpy() == report["IA_LABEL"].astype(str).to_numpy()).all()
    agreement = report_agreement(measures, report)
    for name in ("FFD", "GD", "TRT", "RPD", "fixation_count", "skip"):
        assert agreement[name] == 1.0, name
    assert agreement["regression_in"] == agreement["regression_in_count"] == 1.0
    assert agreement["regression_out"] == agreement["regression_out_count"] == 1 - 6 / 2614
    with pytest.raises(NeuroalignError, match="2613 rows of measures against 2614"):
        report_agreement(measures.iloc[1:], report)


def test_conditional_measures_equal_the_reader(onestop):
    fixations, words, _, ia_path = onestop
    ours = trial_measures(fixations, words)
    theirs = read_onestop_measures(ia_path)
    for name in ("FFD", "GD", "TRT", "RPD", "fixation_count"):
        pd.testing.assert_series_equal(
            ours[name].astype(float), theirs[name].astype(float), check_names=False
        )
    assert (ours["skip"].to_numpy() == theirs["skip"].to_numpy(dtype=bool)).all()
    assert set(MEASURE_NAMES) <= set(ours.columns)


# ---------------------------------------------------------------- bad inputs


def _tiny():
    words = pd.DataFrame(
        {
            "participant": "p1",
            "trial": [1, 1, 1, 2, 2],
            "position": [0, 1, 2, 0, 1],
            "text": ["The", "cat", "sat.", "A", "dog."],
        }
    )
    fixations = pd.DataFrame(
        {
            "participant": "p1",
            "trial": [1, 1, 2],
            "index": [1, 2, 1],
            "duration": [0.2, 0.25, 0.3],
            "position": [0, 2, 1],
            "text": ["The", "sat.", "dog."],
        }
    )
    return words, fixations


def test_tiny_trials_are_computed():
    words, fixations = _tiny()
    m = trial_measures(fixations, words)
    assert np.allclose(m["TRT"], [200.0, np.nan, 250.0, np.nan, 300.0], equal_nan=True)
    assert m["text"].tolist() == ["The", "cat", "sat.", "A", "dog."]
    assert m["skip"].tolist() == [False, True, False, True, False]


def test_fixations_of_trials_without_words_are_left_out():
    words, fixations = _tiny()
    m = trial_measures(fixations, words[words["trial"] == 1])
    assert m["trial"].tolist() == [1, 1, 1]


def test_a_trial_without_fixations_names_it():
    words, fixations = _tiny()
    with pytest.raises(NeuroalignError, match=r"participant 'p1', trial 2: the trial has no"):
        trial_measures(fixations[fixations["trial"] == 1], words)


def test_a_fixation_on_a_word_the_text_lacks_names_trial_and_area():
    words, fixations = _tiny()
    fixations.loc[2, "position"] = 4
    with pytest.raises(
        NeuroalignError, match=r"trial 2: a fixation is on interest area 4, which .* \(2 interest"
    ):
        check_fixations(fixations, words)


def test_labels_that_disagree_with_the_text_name_trial_and_area():
    words, fixations = _tiny()
    fixations.loc[1, "text"] = "mat."
    with pytest.raises(
        NeuroalignError, match=r"trial 1: interest area 2 is labelled 'mat.' .* has 'sat.'"
    ):
        trial_measures(fixations, words)
    message = ""
    try:
        check_fixations(fixations, words)
    except NeuroalignError as err:
        message = str(err)
    assert "\n" not in message


def test_interest_areas_are_the_words_of_the_text(onestop, shared_data):
    from neuroalign.data.interest_areas import check_text
    from neuroalign.data.readers.onestop import read_onestop_ia

    _, words, _, ia_path = onestop
    text = read_onestop_ia(ia_path)
    check_text(words, text)  # the sample's 24 trials show 12 paragraphs' words exactly
    shifted = text.copy()
    story = shifted["story"] == "2_2_1_Adv"
    shifted.loc[story, "text"] = np.roll(shifted.loc[story, "text"].to_numpy(), 1)
    with pytest.raises(
        NeuroalignError,
        match=r"trial \d+ \(paragraph '2_2_1_Adv'\): interest area 0 is 'Robert' but word 0",
    ):
        check_text(words, shifted)
    with pytest.raises(NeuroalignError, match="111 interest areas but the paragraph has 110"):
        check_text(words, text.drop(index=text.index[story][-1]))
    with pytest.raises(NeuroalignError, match="the texts have no paragraph"):
        check_text(words, text[~story])
