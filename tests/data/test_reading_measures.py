import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.reading_measures import CONVENTIONS, conventions_for, sentence_edges


def test_sentence_edges_flag_first_and_last_word_of_each_sentence():
    table = pd.DataFrame(
        {"story": ["a"] * 6 + ["b"] * 3 + ["c"], "sentence": [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]}
    )
    assert sentence_edges(table).astype(int).tolist() == [1, 0, 1, 1, 0, 1, 1, 0, 1, 1]


def test_unknown_reader_names_the_known_ones():
    assert conventions_for("onestop").group == "story"
    with pytest.raises(NeuroalignError, match=r"reader 'zuco'.*'onestop', 'ucl_frank2013'"):
        conventions_for("zuco")


@pytest.mark.parametrize(
    ("reader", "path"),
    [
        ("ucl_frank2013", "reading/ucl_frank2013_all_measures.csv"),
        ("onestop", "reading/onestop_sample_ia.csv"),
    ],
)
def test_every_named_column_is_in_the_corpus_table(shared_data, reader, path):
    from neuroalign.data.stimuli import get_reader

    table = get_reader(reader).func(shared_data / path)
    conv = CONVENTIONS[reader]
    named = [*conv.measures, *conv.baseline.values(), *conv.surprisal, conv.group]
    assert [c for c in named if c not in table.columns] == []
    numeric = table[[*conv.measures, *conv.baseline.values(), *conv.surprisal]]
    assert all(pd.api.types.is_numeric_dtype(t) for t in numeric.dtypes)
