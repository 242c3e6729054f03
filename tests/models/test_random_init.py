import json

import pytest
import torch

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.models.random_init import build_model, init_model, load_spec
from neuroalign.models.sources import load_model


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_clip_vision_tiny_is_the_contract_model_and_seeded():
    model, processor = build_model("clip-vision-tiny", seed=3)
    assert type(model).__name__ == "CLIPVisionModelWithProjection"
    config = model.config
    assert (config.hidden_size, config.projection_dim, config.num_hidden_layers) == (32, 32, 4)
    assert config.patch_size == 8 and config.image_size in (32, 64)
    assert processor.crop_size["height"] == config.image_size
    again, _ = build_model("clip-vision-tiny", seed=3)
    other, _ = build_model("clip-vision-tiny", seed=4)
    a, b, c = _state(model), _state(again), _state(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_saved_folder_loads_as_path_source_with_its_projection(tmp_path):
    out = init_model("clip-vision-tiny", tmp_path / "tiny", seed=0)
    model, processor, source = load_model(f"path:{out}")
    assert type(model).__name__ == "CLIPVisionModelWithProjection"
    built, _ = build_model("clip-vision-tiny", seed=0)
    assert torch.equal(model.visual_projection.weight, built.visual_projection.weight)
    assert processor is not None and source.scheme == "path"
    assert json.loads((out / "init.json").read_text())["seed"] == 0
    # Rebuilt in place: no half-written folder is ever left at the output.
    init_model("clip-vision-tiny", out, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_spec_file_and_unknown_name(tmp_path):
    spec = {
        "architecture": "Dinov2Model",
        "config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    model, processor = build_model(path, seed=0)
    assert type(model).__name__ == "Dinov2Model" and processor is None
    with pytest.raises(NeuroalignError, match="clip-vision-tiny"):
        load_spec("clip-vison-tiny")


def test_cli_builds_the_folder(tmp_path, capsys):
    assert (
        main(["init-model", "--config", "clip-vision-tiny", "--output", str(tmp_path / "m")]) == 0
    )
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert (tmp_path / "m" / "preprocessor_config.json").is_file()
