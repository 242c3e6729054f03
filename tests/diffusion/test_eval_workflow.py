"""The evaluation and captions rules' paths, from the config alone."""

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.diffusion import eval_workflow as wf

CONFIG = {
    "results": "res",
    "seed": 7,
    "diffusion": {
        "encoders": {
            "clip": {"dataset": "sim_vision", "model": "tiny_clip", "subjects": ["01", "02"]},
            "dino": {"dataset": "sim_vision", "model": "tiny_dino"},
        },
        "synthesize": {"demo": {"dataset": "sim_vision", "encoder": "clip", "subjects": ["01"]}},
        "evaluate": {"demo": {"held_out": "dino"}},
        "captions": {"clip": {}, "other": {"encoder": "dino", "stimset": "bank"}},
    },
}


def test_eval_paths():
    assert wf.eval_targets(CONFIG) == ["res/diffusion/eval/demo/sub-01.nc"]
    assert wf.eval_inputs(CONFIG, "demo", "01") == {
        "synth": "res/diffusion/synth/demo/sub-01",
        "encoder": "res/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc",
        "held_out": "res/diffusion/encoders/sim_vision/sub-01/tiny_dino.nc",
    }
    assert wf.eval_settings(CONFIG, "demo") == {"held_out": "dino", "synthesize": "demo", "seed": 7}


def test_caption_paths():
    assert wf.caption_targets(CONFIG) == [
        "res/diffusion/captions/clip/sub-01.parquet",
        "res/diffusion/captions/clip/sub-02.parquet",
        "res/diffusion/captions/other/sub-01.parquet",
    ]
    assert wf.caption_inputs(CONFIG, "other", "01") == {
        "encoder": "res/diffusion/encoders/sim_vision/sub-01/tiny_dino.nc",
        "bank": "res/activations/tiny_dino/bank.zarr",
        "stimuli": "res/stimuli/bank.parquet",
    }
    assert wf.caption_settings(CONFIG, "clip") == {"encoder": "clip"}


def test_unknown_names_are_refused():
    bad = {**CONFIG, "diffusion": {**CONFIG["diffusion"], "evaluate": {"nope": {}}}}
    with pytest.raises(NeuroalignError, match=r"no diffusion\.synthesize entry 'nope'"):
        wf.eval_targets(bad)
    assert wf.eval_targets({"results": "r"}) == [] == wf.caption_targets({"results": "r"})
