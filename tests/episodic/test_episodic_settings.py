"""The episodic section as typed settings: schema defaults, unknown keys, the workflow's parts."""

import dataclasses

import numpy as np
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.config import validate_config
from neuroalign.episodic.settings import (
    EpisodicSettings,
    GridSettings,
    HeadSettings,
    RecoverySettings,
    TrainSettings,
)
from neuroalign.episodic.workflow import step_settings
from neuroalign.schemas import load_schema, section_schema
from neuroalign.settings import read_settings, write_settings

PARTS = {
    "grid": GridSettings,
    "heads": HeadSettings,
    "train": TrainSettings,
    "train_heads": HeadSettings,
    "recovery": RecoverySettings,
}


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


@pytest.mark.parametrize("cls", [GridSettings, HeadSettings, TrainSettings, RecoverySettings])
def test_nested_defaults_are_the_schema_defaults(cls):
    properties = section_schema(cls.SECTION)["properties"]
    defaults = {f.name: _plain(f.default) for f in dataclasses.fields(cls)}
    assert defaults == {key: sub["default"] for key, sub in properties.items()}
    assert cls.from_config({}) == cls()


def test_section_defaults_and_the_training_checkpoints_default():
    assert EpisodicSettings.from_config({}) == EpisodicSettings()
    schema = load_schema("config")["properties"]["episodic"]["properties"]
    filled = EpisodicSettings.from_config({})
    assert filled.train_heads == HeadSettings.from_config(schema["train_heads"]["default"])
    assert filled.heads == HeadSettings() and filled.train is None
    assert EpisodicSettings.from_config({"train": {}}).train == TrainSettings()
    assert filled.device == "cpu" and filled.random_seed == 0


def test_grid_defaults_are_ji_an_et_al_grid():
    grid = GridSettings()
    np.testing.assert_array_equal(grid.beta_enc, np.round(np.arange(1, 21) / 20, 4))
    np.testing.assert_array_equal(grid.beta_rec, np.round(np.arange(0, 21) / 20, 4))
    np.testing.assert_array_equal(grid.gamma_ft, np.round(np.arange(0, 11) / 10, 4))


@pytest.mark.parametrize("part", sorted(PARTS))
def test_unknown_key_in_a_part_is_a_one_line_error(part):
    with pytest.raises(NeuroalignError) as err:
        EpisodicSettings.from_config({part: {"seedd": 1}}, source="config.yaml")
    message = str(err.value)
    assert f"unknown key '{part}.seedd'" in message and message.startswith("config.yaml: ")
    assert "\n" not in message


def test_bad_values_name_the_field():
    with pytest.raises(NeuroalignError, match=r"field 'grid\.n_runs'"):
        EpisodicSettings.from_config({"grid": {"n_runs": 0}})
    with pytest.raises(NeuroalignError, match=r"field 'recovery\.beta_enc'"):
        EpisodicSettings.from_config({"recovery": {"beta_enc": [0.3]}})


@pytest.mark.parametrize("device", ["cpu", "auto", "cuda", "cuda:0", "cuda:3"])
def test_device_takes_cuda_n(device):
    assert EpisodicSettings.from_config({"device": device}).device == device


def test_bad_device_is_refused():
    with pytest.raises(NeuroalignError, match="field 'device'"):
        EpisodicSettings.from_config({"device": "gpu"})


def test_analyze_trained_needs_a_training_run():
    with pytest.raises(NeuroalignError, match=r"'episodic\.analyze_trained'.*'episodic\.train'"):
        validate_config({"episodic": {"analyze_trained": True}})
    config = validate_config({"episodic": {"analyze_trained": True, "train": {}}})
    assert config["episodic"]["train"]["checkpoints"] == list(TrainSettings().checkpoints)


def test_step_settings_hold_the_part_each_job_reads(tmp_path):
    config = validate_config(
        {
            "seed": 4,
            "episodic": {
                "device": "cuda:1",
                "heads": {"n_seq": 16, "fit_lag": 3},
                "train": {"steps": 10, "checkpoints": [0, 10]},
                "grid": {"n_runs": 2},
            },
        }
    )
    read = {}
    for step in ("human", "grid", "heads", "ablate", "train", "train_heads"):
        path = write_settings(step_settings(config, step), tmp_path / f"{step}.json")
        read[step] = read_settings(EpisodicSettings, path)
    assert read["human"].heads == HeadSettings(fit_lag=3)  # only the fit window
    assert read["grid"].grid.n_runs == 2 and read["grid"].random_seed == 4
    assert read["heads"].heads.n_seq == 16 and read["heads"].device == "cuda:1"
    assert read["ablate"] == read["heads"]
    assert read["train"].train.checkpoints == (0, 10) and read["train"].random_seed == 4
    assert read["train_heads"].train_heads == HeadSettings(
        half_len=16, n_seq=32, max_lag=5, fit_lag=3
    )
    assert read["train_heads"].device == "cpu"
    config["episodic"]["seed"] = 9
    assert step_settings(config, "grid")["seed"] == 9
    with pytest.raises(NeuroalignError, match="episodic job 'trajectory' has no settings"):
        step_settings(config, "trajectory")
