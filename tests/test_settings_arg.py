import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli._settings import read_settings


def test_settings_from_text_or_file(tmp_path):
    assert read_settings(None) == {}
    assert read_settings('{"n_runs": 2}') == {"n_runs": 2}
    path = tmp_path / "s.json"
    path.write_text('{"steps": 10}')
    assert read_settings(str(path)) == {"steps": 10}


@pytest.mark.parametrize(
    ("text", "message"), [("{n_runs: 2}", "not valid JSON"), ("[1]", "JSON object")]
)
def test_bad_settings_are_one_line(text, message):
    with pytest.raises(NeuroalignError, match=message) as err:
        read_settings(text)
    assert "\n" not in str(err.value)
