"""EncodeSettings: one encode entry, validated and defaulted by the schema, typed per kind."""

import json

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.devices import devices_for
from neuroalign.encode.activations import pick_layers, read_activations
from neuroalign.encode.settings import (
    EncodeSettings,
    EyetrackingOptions,
    FmriOptions,
    MegOptions,
    SentenceOptions,
    WordOptions,
)
from neuroalign.settings import DEFAULT_ALPHAS, read_settings, write_settings


@pytest.mark.parametrize(
    ("kind", "options", "n_perm"),
    [
        ("fmri", FmriOptions, 200),
        ("meg", MegOptions, 200),
        ("eyetracking", EyetrackingOptions, None),
        ("sentences", SentenceOptions, 1000),
        ("words", WordOptions, 200),
    ],
)
def test_each_kind_gets_its_options_with_the_schema_defaults(encode_entry, kind, options, n_perm):
    settings = EncodeSettings.from_config(encode_entry(kind))
    assert settings.options == options()
    assert getattr(settings.options, "n_perm", None) == n_perm
    assert settings.alphas == DEFAULT_ALPHAS and settings.layers == "all"
    assert settings.device == "auto" and settings.seed is None and settings.random_seed == 0


def test_settings_round_trip_through_a_file(encode_entry, tmp_path):
    settings = EncodeSettings.from_config(
        encode_entry(
            "words",
            layers=[0, -1],
            alphas=[0.5, 5.0],
            seed=4,
            options={"measures": ["rt"], "surprisal": []},
        )
    )
    assert settings.options.measures == ("rt",) and settings.options.surprisal == ()
    path = write_settings(settings, tmp_path / "words.json")
    assert json.loads(path.read_text())["options"]["measures"] == ["rt"]
    assert read_settings(EncodeSettings, path) == settings
    assert settings.replace(folds=3).options is settings.options


def test_alphas_as_a_list_and_as_a_log10_grid(encode_entry):
    listed = EncodeSettings.from_config(encode_entry("fmri", alphas=[10, 0.1, 1]))
    np.testing.assert_array_equal(listed.grid, [10.0, 0.1, 1.0])
    grid = EncodeSettings.from_config(
        encode_entry("fmri", alphas={"start": -1, "stop": 1, "num": 3})
    )
    np.testing.assert_allclose(grid.grid, [0.1, 1.0, 10.0])
    default = EncodeSettings.from_config(encode_entry("fmri")).grid
    np.testing.assert_allclose(default, np.logspace(-3, 6, 19))
    # the one default grid holds the old encode grid (log10 -1 to 6 in 15 steps)
    assert np.isclose(default[:, None], np.logspace(-1, 6, 15)).any(0).all()
    for bad in ("-1:6:15", [], [1, 0], {"start": -1, "stop": 1}):
        with pytest.raises(NeuroalignError, match=r"field 'alphas"):
            EncodeSettings.from_config(encode_entry("fmri", alphas=bad))


def test_an_unknown_option_key_is_refused_in_one_line(encode_entry, settings_file, capsys):
    with pytest.raises(NeuroalignError) as err:
        EncodeSettings.from_config(encode_entry("fmri", options={"n_prem": 5}), "x.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("x.yaml: unknown key 'options.n_prem'")
    assert "Did you mean 'n_perm'?" in message
    # a key of another kind is refused too
    with pytest.raises(NeuroalignError, match=r"unknown key 'options.tmin'"):
        EncodeSettings.from_config(encode_entry("fmri", options={"tmin": 0.0}))
    with pytest.raises(NeuroalignError, match=r"unknown key 'options.n_perm'; no keys"):
        EncodeSettings.from_config(encode_entry("eyetracking", options={"n_perm": 5}))
    # and from the command line: exit status 2, one line naming the settings file
    path = settings_file("sentences", options={"target": ["x"]})
    argv = ["encode", "sentences", "--settings", str(path), "--activations", "a.zarr"]
    assert main([*argv, "--stimuli", "t.parquet", "--output", "o.nc"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "'options.target'" in lines[0]


def test_options_must_match_the_kind():
    with pytest.raises(NeuroalignError, match="must be FmriOptions, not MegOptions"):
        EncodeSettings(kind="fmri", dataset="d", stimset="s", models=("m",), options=MegOptions())
    with pytest.raises(NeuroalignError, match="kind 'pet' is unknown"):
        EncodeSettings(kind="pet", dataset="d", stimset="s", models=("m",), options=MegOptions())


@pytest.mark.parametrize(
    ("device", "on_four_gpus", "on_the_cpu"),
    [
        ("cpu", "cpu", "cpu"),
        ("auto", "cuda:0", "cpu"),
        ("cuda", "cuda:0", None),
        ("cuda:0", "cuda:0", None),
        ("cuda:3", "cuda:3", None),
    ],
)
def test_cuda_n_is_accepted_and_placed_by_the_one_device_rule(
    encode_entry, device, on_four_gpus, on_the_cpu
):
    """The schema takes every form; the fits run on the first device the rule places."""
    settings = EncodeSettings.from_config(encode_entry("meg", device=device))
    assert settings.device == device
    assert devices_for(settings.device, n_gpus=4)[0] == on_four_gpus
    if on_the_cpu is None:
        with pytest.raises(NeuroalignError, match="needs a CUDA GPU and none is visible"):
            devices_for(settings.device, n_gpus=0, field="encode.device")
    else:
        assert devices_for(settings.device, n_gpus=0) == [on_the_cpu]


def test_devices_the_schema_or_the_machine_refuse(encode_entry):
    for bad in ("gpu", "cuda:x", "cuda:", "cpu:0"):
        with pytest.raises(NeuroalignError, match=r"field 'device'"):
            EncodeSettings.from_config(encode_entry("fmri", device=bad))
    settings = EncodeSettings.from_config(encode_entry("fmri", device="cuda:3"))
    with pytest.raises(NeuroalignError, match=r"encode.device: 'cuda:3' is not visible"):
        devices_for(settings.device, n_gpus=2, field="encode.device")


@pytest.mark.parametrize(
    ("negative", "positive"),
    [([-1], [2]), ([-3, -1], [0, 2]), ([0, -2], [0, 1]), ([-1, 2], [2])],
)
def test_negative_layers_select_their_positive_twins(sentences, negative, positive):
    assert pick_layers(negative, [0, 1, 2], "s") == positive
    a = read_activations(sentences / "acts.nc", "resid", negative)
    b = read_activations(sentences / "acts.nc", "resid", positive)
    assert list(a) == list(b) == positive
    for k in positive:
        xr.testing.assert_identical(a[k], b[k])


def test_layers_index_the_store_labels(tmp_path):
    # a store holding blocks 0, 2 and 5 of a model: labels, and negative counts from the end
    assert pick_layers([-1], [0, 2, 5], "s") == [5]
    assert pick_layers([2, -3], [0, 2, 5], "s") == [2, 0]
    with pytest.raises(NeuroalignError, match=r"layer 1 is not in the store.*-1 to -3"):
        pick_layers([1], [0, 2, 5], "s")
    with pytest.raises(NeuroalignError, match="layer -4 is not in the store"):
        pick_layers([-4], [0, 2, 5], "s")


def test_layers_as_a_string_are_refused_by_the_schema(encode_entry):
    with pytest.raises(NeuroalignError, match=r"field 'layers'"):
        EncodeSettings.from_config(encode_entry("fmri", layers="0,2"))
    assert EncodeSettings.from_config(encode_entry("fmri", layers=[-1])).layers == (-1,)
