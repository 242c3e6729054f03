import pytest

from neuroalign._check import (
    NeuroalignError,
    check_file,
    check_option,
    check_range,
    check_same_length,
    check_type,
    suggest,
)


def test_check_option_returns_value_and_names_allowed():
    assert check_option("pooling", "mean", ["mean", "last"]) == "mean"
    with pytest.raises(
        ValueError, match=r"'pooling'.*'mean' and 'last'.*'maen'.*Did you mean 'mean'"
    ):
        check_option("pooling", "maen", ["mean", "last"])


def test_suggest_empty_when_nothing_close():
    assert suggest("zzzz", ["mean", "last"]) == ""


def test_check_type():
    assert check_type("n", 3, int) == 3
    with pytest.raises(TypeError, match="'n' must be int or float, got str"):
        check_type("n", "3", (int, float))


@pytest.mark.parametrize(
    ("value", "closed", "ok"),
    [(0.0, "both", True), (0.0, "right", False), (1.0, "left", False), (0.5, "neither", True)],
)
def test_check_range(value, closed, ok):
    if ok:
        assert check_range("p", value, 0.0, 1.0, closed=closed) == value
    else:
        with pytest.raises(ValueError, match="'p' must be in"):
            check_range("p", value, 0.0, 1.0, closed=closed)


def test_check_same_length():
    assert check_same_length(a=[1, 2], b="xy") == 2
    with pytest.raises(ValueError, match="a has 2, b has 3"):
        check_same_length(a=[1, 2], b=[1, 2, 3])


def test_check_file(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("1")
    assert check_file(f) == f
    with pytest.raises(NeuroalignError, match="not found"):
        check_file(tmp_path / "missing.txt", "events file")
