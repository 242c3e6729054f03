import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate.settings import resolve_settings
from neuroalign.schemas import load_schema


@pytest.mark.parametrize("kind", ["fmri", "localizer", "meg", "eyetracking"])
def test_every_setting_has_type_default_and_description(kind):
    definition = load_schema("config")["$defs"][f"sim_{kind}"]
    assert definition["properties"]["enabled"]["default"] is True
    for name, prop in definition["properties"].items():
        assert "default" in prop and "description" in prop and "type" in prop, name
    resolved = resolve_settings(kind)
    assert set(definition["properties"]) <= set(resolved)


def test_partial_settings_keep_values_and_fill_nested_defaults():
    resolved = resolve_settings("eyetracking", {"n_readers": 3, "skip": {"length": -1.0}})
    assert resolved["n_readers"] == 3
    assert resolved["skip"]["length"] == -1.0
    assert resolved["skip"]["intercept"] == -0.6
    assert resolved["duration"]["noise_sd"] == 0.25


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(NeuroalignError, match=r"simulate\.fmri\.noise_sdd.*noise_sd"):
        resolve_settings("fmri", {"noise_sdd": 1.0}, source="--settings")


def test_out_of_range_value_names_the_field():
    with pytest.raises(NeuroalignError, match=r"simulate\.meg\.sfreq"):
        resolve_settings("meg", {"sfreq": 10})


def test_unknown_story_and_test_story_in_training_are_refused():
    with pytest.raises(NeuroalignError, match=r"unknown story chapter 'lighthose'.*lighthouse"):
        resolve_settings("meg", {"stories": ["lighthose"]})
    with pytest.raises(NeuroalignError, match="also a training story"):
        resolve_settings("fmri", {"test_story": "ferry"})
    with pytest.raises(NeuroalignError, match="greater than tmin"):
        resolve_settings("meg", {"tmin": 0.5, "tmax": 0.2})
