"""What the divergence rules read from the config (pure functions, no Snakemake)."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.divergence import workflow


def _config(**entry):
    return {
        "results": "res",
        "seed": 3,
        "data": {"root": "data"},
        "datasets": {},
        "models": {"m": {"source": "pypi:x"}, "ft": {"source": "path:res/models/ft"},
                   "ctl": {"source": "path:res/models/ctl"}},
        "encode": {"epochs": {"kind": "meg_epochs", "models": ["m"]}},
        "finetune": {"ft": {"base": "m", "seed": None}},
        "divergence": {"d": {"dataset": "sim_meg", "stimset": "s", "model": "m",
                             "subjects": ["01", "02"], "seed": None, **entry}},
    }  # fmt: skip


def test_targets_inputs_and_settings():
    config = _config(finetuned="ft", control="ctl")
    assert workflow.targets(config) == [
        "res/divergence/d/sub-01.nc", "res/divergence/d/sub-01_finetuned.nc",
        "res/divergence/d/sub-02.nc", "res/divergence/d/sub-02_finetuned.nc",
    ]  # fmt: skip
    inputs = workflow.analyze_inputs(config, "d", "01")
    assert inputs["activations"] == "res/activations/m/s.zarr"
    assert inputs["dataset"].endswith("raw/sim_meg") and "encoding" not in inputs
    compare = workflow.compare_inputs(config, "d")
    assert compare["finetuned"] == "res/activations/ft/s.zarr"
    assert compare["control"] == "res/activations/ctl/s.zarr"
    assert workflow.stage_settings(config, "d")["seed"] == 3
    assert workflow.finetune_settings(config, "ft")["seed"] == 3
    assert workflow.finetune_base(config, "ft") == "pypi:x"


def test_an_encoding_entry_feeds_the_analysis():
    config = _config(encoding="epochs")
    inputs = workflow.analyze_inputs(config, "d", "02")
    assert inputs["encoding"] == "res/encoding/epochs/m/sub-02.nc"
    config["encode"]["epochs"]["kind"] = "meg"
    with pytest.raises(NeuroalignError, match="kind meg_epochs"):
        workflow.analyze_inputs(config, "d", "02")


def test_unknown_models_are_named():
    with pytest.raises(NeuroalignError, match="'nope' is not a model"):
        workflow.targets(_config(finetuned="nope"))
    config = _config()
    config["finetune"]["ft"]["base"] = "gone"
    with pytest.raises(NeuroalignError, match=r"finetune\.ft\.base"):
        workflow.finetune_base(config, "ft")
