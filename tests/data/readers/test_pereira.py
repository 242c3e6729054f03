"""Pereira 2018 sentence-means reader on the real CSV."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.pereira import read_pereira2018


def test_sentence_table(shared_data):
    table = read_pereira2018(shared_data / "fmri" / "pereira2018_langnet_sentence_means.csv")
    assert len(table) == 627
    assert table["source_index"].tolist() == list(range(627))
    assert table["story"].nunique() == 627 and (table["position"] == 0).all()
    assert table["text"].iloc[0].startswith("A banana is a long fruit that grows in bunchs,")
    assert table["effect_size"].mean() == pytest.approx(0.586, abs=0.001)
    assert table["effect_size"].min() == pytest.approx(-0.168, abs=0.001)
    assert table["effect_size"].max() == pytest.approx(1.502, abs=0.001)
    assert table["text"].is_monotonic_increasing  # sorted alphabetically upstream


def test_bad_effect_size(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(",Sentence,EffectSize\n0,A cat.,high\n")
    with pytest.raises(NeuroalignError, match="'EffectSize' is not a number at row 0"):
        read_pereira2018(path)
    path.write_text(",Text,EffectSize\n0,A cat.,1\n")
    with pytest.raises(NeuroalignError, match=r"column\(s\) \['Sentence'\] missing"):
        read_pereira2018(path)
