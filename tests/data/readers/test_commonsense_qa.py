"""Social IQa, PIQA and Fig-QA as released: a few lines in each real format, written here."""

from __future__ import annotations

import json

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.qa import labels_path, qa_texts

SIQA = [
    {"context": "Tracy didn't go home that evening and resisted Riley's attacks.",
     "question": "What does Tracy need to do before this?",
     "answerA": "make a new plan", "answerB": "Go home and see Riley",
     "answerC": "Find somewhere to go"},
    {"context": "Sydney walked past a homeless woman asking for change but did not have any "
                "money they could give to her.", "question": "How would you describe Sydney?",
     "answerA": "sympathetic", "answerB": "like a person who was unable to help",
     "answerC": "incredulous"},
]  # fmt: skip
PIQA = [
    {"goal": "How do I ready a guinea pig cage for it's new occupants?",
     "sol1": "Provide the guinea pig with a cage full of a few inches of bedding made of ripped "
             "paper strips.",
     "sol2": "Provide the guinea pig with a cage full of a few inches of bedding made of ripped "
             "jeans material."},
    {"goal": "dresser", "sol1": "replace drawer with bobby pin ",
     "sol2": "finish, woodgrain with  bobby pin "},
]  # fmt: skip
FIGQA = (
    "startphrase,ending1,ending2,labels,valid,qid\n"
    "Her word had the strength of titanium.,Her promises can be believed.,"
    "Her promises cannot be trusted.,0,1,10\n"
    "Her word had the strength of a wine glass.,Her promises can be believed.,"
    "Her promises cannot be trusted.,1,1,10\n"
)


def _split(folder, name, records, labels):
    """``<name>.jsonl`` and ``<name>-labels.lst`` as the releases lay them out."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / f"{name}-labels.lst").write_text("".join(f"{x}\n" for x in labels))
    return path


def test_social_iqa_split_with_its_labels_file(tmp_path):
    path = _split(tmp_path / "social_iqa", "train", SIQA, [3, 2])
    assert labels_path(path).name == "train-labels.lst"
    assert qa_texts("social_iqa", path) == [
        "Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need "
        "to do before this? Find somewhere to go",
        "Sydney walked past a homeless woman asking for change but did not have any money they "
        "could give to her. How would you describe Sydney? like a person who was unable to help",
    ]


def test_piqa_split_with_its_labels_file_and_whitespace_collapsed(tmp_path):
    path = _split(tmp_path / "piqa", "valid", PIQA, [0, 1])
    texts = qa_texts("piqa", path)
    assert texts[0].startswith("How do I ready a guinea pig cage for it's new occupants? Provide")
    assert texts[0].endswith("ripped paper strips.")
    assert texts[1] == "dresser finish, woodgrain with bobby pin"


def test_fig_qa_csv_and_records_that_carry_their_label(tmp_path):
    csv = tmp_path / "train_xl.csv"
    csv.write_text(FIGQA)
    assert qa_texts("fig_qa", csv) == [
        "Her word had the strength of titanium. Her promises can be believed.",
        "Her word had the strength of a wine glass. Her promises cannot be trusted.",
    ]
    inline = tmp_path / "hub.jsonl"  # the Hugging Face copy: the label inside each record
    inline.write_text(json.dumps({**PIQA[1], "label": 0}) + "\n")
    assert qa_texts("piqa", inline) == ["dresser replace drawer with bobby pin"]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: (d / "train.jsonl").write_text('{"context": "x"\n'),
         r"train\.jsonl line 1: not JSON"),
        (
            lambda d: (d / "train.jsonl").write_text(json.dumps({**SIQA[0], "question": ""}) + "\n"
                                                     + json.dumps(SIQA[1]) + "\n"),
            r"train\.jsonl line 1: field 'question' must be non-empty",
        ),
        (
            lambda d: (d / "train.jsonl").write_text(
                json.dumps(SIQA[0]) + "\n" + json.dumps({k: v for k, v in SIQA[1].items()
                                                         if k != "answerB"}) + "\n"),
            r"train\.jsonl line 2: no field 'answerB'",
        ),
        (lambda d: (d / "train-labels.lst").write_text("3\n4\n"),
         r"train-labels\.lst line 2: field 'label' is '4'; expected one of 1, 2, 3"),
        (lambda d: (d / "train-labels.lst").write_text("3\n"),
         r"train-labels\.lst: 1 labels for the 2 records"),
        (lambda d: (d / "train-labels.lst").unlink(), r"labels file not found: .*train-labels"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_file_and_field(tmp_path, break_it, message):
    folder = tmp_path / "social_iqa"
    path = _split(folder, "train", SIQA, [3, 2])
    break_it(folder)
    with pytest.raises(NeuroalignError, match=message) as err:
        qa_texts("social_iqa", path)
    assert "\n" not in str(err.value)


def test_hidden_test_labels_and_unknown_formats_are_named(tmp_path):
    csv = tmp_path / "test.csv"
    csv.write_text(FIGQA.replace(",0,1,10", ",-1,1,10"))
    with pytest.raises(NeuroalignError, match=r"test\.csv line 2: field 'labels' is '-1'.*hidden"):
        qa_texts("fig_qa", csv)
    with pytest.raises(NeuroalignError, match="Did you mean 'piqa'"):
        qa_texts("piqaa", csv)
    no_label = tmp_path / "x.csv"
    no_label.write_text("startphrase,ending1,ending2\na,b,c\n")
    with pytest.raises(NeuroalignError, match=r"x\.csv line 2: no field 'labels'"):
        qa_texts("fig_qa", no_label)
