"""Free-recall reader on the real psifr sample data, and validation errors."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.readers.free_recall import read_free_recall


@pytest.mark.parametrize(
    ("name", "n_rows", "n_subjects", "n_lists", "list_length"),
    [("Morton2013.csv", 71229, 40, 48, 24), ("peers_notask.csv", 96211, 126, 28, 16)],
)
def test_sample_data(shared_data, name, n_rows, n_subjects, n_lists, list_length):
    data = read_free_recall(shared_data / "free_recall" / name)
    assert len(data) == n_rows
    assert data["subject"].nunique() == n_subjects
    assert data.groupby("subject")["list"].nunique().eq(n_lists).all()
    study = data[data["trial_type"] == "study"]
    assert study.groupby(["subject", "list"]).size().eq(list_length).all()
    assert data["position"].dtype == "int64"
    first = data.iloc[0]
    assert first["trial_type"] == "study" and first["position"] == 1


def _write(tmp_path, rows):
    path = tmp_path / "fr.csv"
    pd.DataFrame(rows, columns=["subject", "list", "position", "trial_type", "item"]).to_csv(
        path, index=False
    )
    return path


def test_validation_errors(tmp_path):
    ok = [(1, 1, 1, "study", "A"), (1, 1, 2, "study", "B"), (1, 1, 1, "recall", "B")]
    assert len(read_free_recall(_write(tmp_path, ok))) == 3
    with pytest.raises(NeuroalignError, match="'trial_type' must be 'study' or 'recall'"):
        read_free_recall(_write(tmp_path, [*ok, (1, 1, 2, "test", "A")]))
    with pytest.raises(NeuroalignError, match=r"subject 1, list 1 \(study\) are not 1..n"):
        read_free_recall(_write(tmp_path, [*ok, (1, 1, 4, "study", "C")]))
    with pytest.raises(NeuroalignError, match="item 'A' is studied twice"):
        read_free_recall(_write(tmp_path, [*ok, (1, 1, 3, "study", "A")]))
    with pytest.raises(NeuroalignError, match=r"column\(s\) \['item'\] missing"):
        path = tmp_path / "x.csv"
        path.write_text("subject,list,position,trial_type\n1,1,1,study\n")
        read_free_recall(path)
