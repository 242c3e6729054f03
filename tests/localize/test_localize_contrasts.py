import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.localize.contrasts import custom_contrast, load_contrast


def test_language_localizer_from_mirror(shared_data):
    items = load_contrast("language", shared_data / "localizers" / "language")
    table = items.table
    assert len(table) == 480 and items.is_positive.sum() == 240
    assert (table.groupby(["condition", "split"]).size() == 120).all()
    runs = [set(table.loc[table["split"] == s, "text"]) for s in (1, 2)]
    assert not runs[0] & runs[1]  # the two runs hold disjoint items
    assert table["text"].str.islower().all()
    assert (table["text"].str.split().str.len() == 12).all()


def test_md_and_tom_from_mirror(shared_data):
    md = load_contrast("md", shared_data / "localizers" / "md" / "arithmetic_hard_easy.csv")
    assert md.is_positive.sum() == 100 and len(md.table) == 200
    assert set(md.split) == {1, 2}
    tom = load_contrast("tom", shared_data / "localizers" / "tom")
    assert tom.is_positive.sum() == 10 and len(tom.table) == 20
    assert (tom.table.groupby(["condition", "split"]).size() == 5).all()


def test_subset_keeps_design(shared_data):
    items = load_contrast("language", shared_data / "localizers" / "language")
    small = items.subset(5, np.random.default_rng(0))
    assert len(small.table) == 20
    assert (small.table.groupby(["positive", "split"]).size() == 5).all()


def test_custom_csv(tmp_path):
    path = tmp_path / "moral.csv"
    rows = [(f"pos text {i}", "pos", 1 + i % 2) for i in range(6)]
    rows += [(f"neg text {i}", "neg", 1 + i % 2) for i in range(6)]
    pd.DataFrame(rows, columns=["text", "condition", "split"]).to_csv(path, index=False)
    items = custom_contrast(path)
    assert items.positive == "pos" and items.is_positive.sum() == 6
    flipped = custom_contrast(path, positive="neg")
    assert flipped.positive == "neg"
    with pytest.raises(ValueError, match="positive"):
        custom_contrast(path, positive="other")
    pd.DataFrame({"text": ["a"], "condition": ["pos"]}).to_csv(path, index=False)
    with pytest.raises(NeuroalignError, match="split"):
        custom_contrast(path)
    pd.DataFrame(rows, columns=["text", "condition", "split"]).assign(split=3).to_csv(
        path, index=False
    )
    with pytest.raises(NeuroalignError, match="1 or 2"):
        custom_contrast(path)


def test_custom_from_stimulus_table(tmp_path):
    from neuroalign.data.stimuli import standardize, write_table

    texts = [f"sentence number {i}" for i in range(8)] + [f"blick fop {i}" for i in range(8)]
    frame = pd.DataFrame(
        {
            "text": texts + texts[:2],  # a repeated sentence is kept once
            "story": [f"s{i}" for i in range(18)],
            "position": 0,
            "condition": ["sentence"] * 8 + ["nonword"] * 8 + ["sentence"] * 2,
            "run": ["run-1", "run-2"] * 9,
        }
    )
    path = write_table(standardize(frame, stimset="loc", reader="test"), tmp_path / "loc.parquet")
    items = custom_contrast(path, positive="sentence")
    assert len(items.table) == 16 and items.is_positive.sum() == 8
    assert (items.table.groupby(["condition", "split"]).size() == 4).all()
