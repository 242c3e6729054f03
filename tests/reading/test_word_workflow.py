"""What the reading_words rule takes from the demo and starter configs."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.reading import word_workflow as wf


def _config(repo_root, name):
    from neuroalign._yaml import load_yaml
    from neuroalign.config import validate_config

    return validate_config(load_yaml(repo_root / "config" / name), source=name)


def test_demo_entry_inputs_and_flags(repo_root):
    config = _config(repo_root, "config.yaml")
    assert wf.targets(config) == ["results/reading/words/sim_reading.nc"]
    inputs = wf.rule_inputs(config, "sim_reading")
    assert inputs["stimuli"] == "results/stimuli/sim_reading.parquet"
    assert inputs["models"] == ["results/models/tiny_gpt2"]
    assert inputs["activations"] == ["results/activations/minilm/sim_reading.zarr"]
    assert inputs["participants"] == "data/raw/sim_eyetracking"
    flags = wf.flags(config, "sim_reading")
    assert "--model tiny_gpt2=path:results/models/tiny_gpt2" in flags
    assert "--participants data/raw/sim_eyetracking/ia_report.csv" in flags
    assert "--activations minilm=results/activations/minilm/sim_reading.zarr" in flags


def test_starter_entries(repo_root):
    config = _config(repo_root, "starter.yaml")
    assert len(wf.targets(config)) == 5
    assert wf.participants_path(config, "onestop") == "data/raw/onestop/sample/ia.csv"
    assert wf.participants_path(config, "zuco") is None
    assert "participants" not in wf.rule_inputs(config, "naturalstories")


def test_features_need_the_extraction(repo_root):
    config = _config(repo_root, "starter.yaml")
    config["reading_words"]["zuco"]["features"] = ["minilm"]
    with pytest.raises(NeuroalignError, match=r"extract.zuco.models does not list it"):
        wf.rule_inputs(config, "zuco")
    with pytest.raises(NeuroalignError, match="no entry 'nope'"):
        wf.flags(config, "nope")
