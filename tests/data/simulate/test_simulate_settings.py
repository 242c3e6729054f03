import json

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import (
    SETTINGS,
    SimEyetrackingSettings,
    SimFmriSettings,
    SimMegSettings,
    settings_class,
)
from neuroalign.schemas import load_schema
from neuroalign.settings import read_settings, write_settings


@pytest.mark.parametrize("kind", ["fmri", "localizer", "meg", "eyetracking"])
def test_every_setting_has_type_default_and_description(kind):
    definition = load_schema("config")["$defs"][f"sim_{kind}"]
    assert definition["properties"]["enabled"]["default"] is True
    for name, prop in definition["properties"].items():
        assert "default" in prop and "description" in prop and "type" in prop, name
    resolved = settings_class(kind).from_config({})
    assert set(definition["properties"]) <= set(resolved.to_dict())
    assert resolved == settings_class(kind)()
    assert resolved.dataset == f"sim_{kind}"


def test_partial_settings_keep_values_and_fill_nested_defaults():
    resolved = SimEyetrackingSettings.from_config({"n_readers": 3, "skip": {"length": -1.0}})
    assert resolved.n_readers == 3
    assert resolved.skip.length == -1.0
    assert resolved.skip.intercept == -0.6
    assert resolved.duration.noise_sd == 0.25


@pytest.mark.parametrize("kind", ["fmri", "localizer", "meg", "eyetracking"])
def test_settings_round_trip_through_a_file(tmp_path, kind):
    cls = SETTINGS[kind]
    settings = cls.from_config({"seed": 4})
    path = write_settings(settings, tmp_path / f"{kind}.json")
    assert json.loads(path.read_text())["seed"] == 4
    assert read_settings(cls, path) == settings


def test_features_are_nested_settings():
    s = SimFmriSettings.from_config({"features": {"model": "gpt2", "layer": -1}})
    assert s.features.model == "gpt2" and s.features.units == "resid" and s.features.layer == -1
    assert SimFmriSettings.from_config({}).features is None


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(NeuroalignError, match=r"^s\.json: unknown key 'noise_sdd'.*noise_sd"):
        SimFmriSettings.from_config({"noise_sdd": 1.0}, source="s.json")


def test_out_of_range_value_names_the_field():
    with pytest.raises(NeuroalignError, match=r"field 'sfreq'") as err:
        SimMegSettings.from_config({"sfreq": 10})
    assert len(str(err.value).splitlines()) == 1


def test_unknown_story_and_test_story_in_training_are_refused():
    with pytest.raises(NeuroalignError, match=r"unknown story chapter 'lighthose'.*lighthouse"):
        SimMegSettings.from_config({"stories": ["lighthose"]})
    with pytest.raises(NeuroalignError, match=r"^cfg: .*also a training story"):
        SimFmriSettings.from_config({"test_story": "ferry"}, source="cfg")
    with pytest.raises(NeuroalignError, match="greater than tmin"):
        SimMegSettings.from_config({"tmin": 0.5, "tmax": 0.2})
    with pytest.raises(NeuroalignError, match="greater than tmin"):
        SimMegSettings(tmin=0.5, tmax=0.2)


def test_unknown_kind_suggests():
    with pytest.raises(NeuroalignError, match="Did you mean 'meg'"):
        settings_class("mge")
