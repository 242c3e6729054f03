"""The decode-reading command and what its rule reads from the config."""

from __future__ import annotations

import json

import pytest
import xarray as xr
from _decode_sim import sim_goals

from neuroalign._check import NeuroalignError
from neuroalign.config import load_config
from neuroalign.reading import decode_workflow


def test_demo_config_entries_route_the_store_and_the_dataset(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    assert decode_workflow.targets(config) == [
        "results/reading/decode/sim_goals.nc",
        "results/reading/decode/sim_goals_null.nc",
    ]
    inputs = decode_workflow.rule_inputs(config, "sim_goals_null")
    assert inputs == {
        "dataset": "data/raw/sim_reading_goals",
        "activations": "results/activations/minilm/sim_reading_goals.zarr",
    }
    assert decode_workflow.flags(config, "sim_goals").startswith(
        "--dataset data/raw/sim_reading_goals --activations"
    )
    assert decode_workflow.settings(config, "sim_goals")["seed"] == config["seed"]


def test_a_model_without_its_extraction_is_named(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    config["reading_decode"]["sim_goals"]["features"]["stimset"] = "sim_reading"
    config["extract"]["sim_reading"]["models"] = []
    with pytest.raises(NeuroalignError, match="no activations of 'minilm' on stimulus set"):
        decode_workflow.rule_inputs(config, "sim_goals")


def test_command_line_runs_the_stage(tmp_path_factory, tmp_path, capsys):
    from neuroalign.cli import main

    sim = sim_goals(tmp_path_factory.getbasetemp())
    settings = tmp_path / "s.json"
    entry = {"dataset": "sim_reading_goals", "tasks": ["goal"], "decoders": ["eye"],
             "regimes": ["participant"], "n_bootstrap": 50, "online": {"decoders": []}}  # fmt: skip
    settings.write_text(json.dumps(entry))
    out = tmp_path / "d.nc"
    main(
        ["decode-reading", "--settings", str(settings), "--dataset", str(sim), "--output", str(out)]
    )
    printed = capsys.readouterr().out
    assert str(out) in printed and "goal / participant: eye" in printed
    assert xr.load_dataset(out).attrs["stage"] == "decode-reading"
