"""BLiMP reader on the real zip."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.blimp import blimp_paradigms, read_blimp


@pytest.fixture(scope="module")
def blimp_zip(shared_data):
    return shared_data / "blimp" / "BLiMP.zip"


def test_all_paradigms(blimp_zip):
    names = blimp_paradigms(blimp_zip)
    assert len(names) == 67 and "adjunct_island" in names
    pairs = read_blimp(blimp_zip)
    assert len(pairs) == 67_000
    assert pairs.groupby("paradigm").size().eq(1000).all()
    assert list(pairs.columns[:7]) == [
        "paradigm",
        "field",
        "linguistics_term",
        "UID",
        "pair_id",
        "sentence_good",
        "sentence_bad",
    ]
    assert (pairs["paradigm"] == pairs["UID"]).all()


def test_selection(blimp_zip):
    pairs = read_blimp(blimp_zip, paradigms=["adjunct_island", "causative"], n_per_paradigm=3)
    assert pairs["paradigm"].tolist() == ["adjunct_island"] * 3 + ["causative"] * 3
    first = pairs.iloc[0]
    assert first["sentence_good"] == "Who should Derek hug after shocking Richard?"
    assert first["sentence_bad"] == "Who should Derek hug Richard after shocking?"
    assert (first["field"], first["linguistics_term"], first["pair_id"]) == (
        "syntax",
        "island_effects",
        0,
    )
    with pytest.raises(NeuroalignError, match=r"no BLiMP paradigm 'adjunct_islands'.*Did you mean"):
        read_blimp(blimp_zip, paradigms=["adjunct_islands"])
    with pytest.raises(ValueError, match="n_per_paradigm"):
        read_blimp(blimp_zip, n_per_paradigm=0)


def test_not_a_zip(tmp_path):
    path = tmp_path / "BLiMP.zip"
    path.write_text("nope")
    with pytest.raises(NeuroalignError, match="not a zip file"):
        read_blimp(path)
