import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.localize.evaluate import (
    compare_to_random,
    deficit,
    number_comparison_items,
    split_paradigms,
)


def test_deficit_and_comparison():
    assert deficit(0.9, np.array([0.8]), True)[0] == pytest.approx(0.1)
    assert deficit(3.0, np.array([3.5]), False)[0] == pytest.approx(0.5)
    random = np.array([0.0, 0.01, -0.01, 0.02, 0.0])
    z, pct = compare_to_random(0.3, random)
    assert z > 10 and pct == 100
    z, pct = compare_to_random(0.0, random)
    assert pct == pytest.approx(20 + 20)  # one of five below, two ties count half
    assert np.isnan(compare_to_random(0.1, np.array([0.2]))[0])


def test_number_items_and_paradigm_split():
    texts, labels = number_comparison_items(50, np.random.default_rng(0))
    a = np.array([int(t.split()[0]) for t in texts])
    b = np.array([int(t.split()[1]) for t in texts])
    np.testing.assert_array_equal(labels, a > b)
    assert (a != b).all()
    pairs = pd.DataFrame({"paradigm": list("aabbccdd"), "sentence_good": "x", "sentence_bad": "y"})
    train, test = split_paradigms(pairs, 0.5, np.random.default_rng(0))
    assert not set(train["paradigm"]) & set(test["paradigm"])
    assert len(train) + len(test) == 8
    with pytest.raises(NeuroalignError, match="two paradigms"):
        split_paradigms(pairs.iloc[:2], 0.5, np.random.default_rng(0))
