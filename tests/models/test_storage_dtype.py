"""16-bit activation stores and the automatic compile choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import make_gpt2

from neuroalign import results
from neuroalign._check import NeuroalignError
from neuroalign.models import autocompile
from neuroalign.models.extract import Extractor
from neuroalign.models.store import extract_dataset, extract_to_zarr
from neuroalign.results import bfloat16_to_float32, open_activations

ATTRS = {"model": "tiny-gpt2", "config_hash": "abc", "stimulus_sha256": "123", "pooling": "mean"}
SPACES = ("resid", "head_out", "embed")


def _extractor(tokenizer, **kwargs):
    kwargs = {"units": ",".join(SPACES), "context": "words:2", "pooling": "mean", **kwargs}
    torch.manual_seed(0)
    return Extractor(make_gpt2(), tokenizer, **kwargs)


@pytest.fixture
def float32_results(tokenizer, story_table):
    return extract_dataset(_extractor(tokenizer), story_table)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_store_holds_the_float32_results_rounded_once(
    tmp_path, tokenizer, story_table, float32_results, dtype
):
    # Small chunks: several chunks and writes, non-trivial row placement.
    ex = _extractor(tokenizer, storage_dtype=dtype)
    ex.chunk_bytes = 5 * ex.item_bytes()
    ds = open_activations(extract_to_zarr(ex, story_table, tmp_path / "a.zarr", attrs=ATTRS))
    for space in SPACES:
        stored = ds[space].values
        assert stored.dtype == np.float32
        # Exactly the float32 results rounded to the storage dtype (round to nearest even).
        expected = torch.from_numpy(float32_results[space].values).to(getattr(torch, dtype))
        np.testing.assert_array_equal(stored, expected.float().numpy(), err_msg=space)
        # Lazy reads of a slice decode the same numbers.
        np.testing.assert_array_equal(ds[space][3:7].values, stored[3:7])
        assert ds[space].attrs["storage_dtype"] == dtype
    memory = extract_dataset(_extractor(tokenizer, storage_dtype=dtype), story_table)
    np.testing.assert_array_equal(memory["resid"].values, ds["resid"].values)


def test_16_bit_round_trip_error_is_within_the_documented_bound(float32_results, tokenizer):
    values = float32_results["resid"].values
    for dtype, bound in (("float16", 5e-4), ("bfloat16", 4e-3)):
        rounded = torch.from_numpy(values).to(getattr(torch, dtype)).float().numpy()
        relative = np.abs(rounded - values) / np.maximum(np.abs(values), 1e-3)
        assert relative.max() < bound, dtype


def test_16_bit_store_halves_the_bytes(tokenizer):
    assert _extractor(tokenizer, storage_dtype="bfloat16").item_bytes() * 2 == (
        _extractor(tokenizer).item_bytes()
    )


def test_bfloat16_bits_decode_exactly():
    values = torch.tensor([1.0, -2.5, 3.14159, 1e30, -1e-30, float("inf")], dtype=torch.bfloat16)
    bits = values.view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(bfloat16_to_float32(bits), values.float().numpy())
    assert np.isnan(bfloat16_to_float32(np.array([results.BFLOAT16_NAN_BITS], np.uint16)))[0]


def test_unknown_storage_dtype_is_refused(tokenizer):
    with pytest.raises(NeuroalignError, match="storage_dtype"):
        _extractor(tokenizer, storage_dtype="int8")


@pytest.mark.parametrize(
    ("n_params", "tokens", "device", "expected"),
    [
        (124_000_000, 20e6, "cuda", False),  # GPT-2 small, 0.6 M words of 33 tokens
        (124_000_000, 60e6, "cuda", True),
        (1_560_000_000, 5e6, "cuda", True),  # GPT-2 XL
        (1_560_000_000, 1e6, "cuda", False),
        (1_560_000_000, 1e9, "cpu", False),  # never on a CPU
    ],
)
def test_should_compile_follows_the_break_even_point(n_params, tokens, device, expected):
    assert autocompile.should_compile(n_params, tokens, device) is expected


def test_auto_estimates_the_run_tokens_and_records_the_choice(
    tmp_path, tokenizer, story_table, monkeypatch
):
    seen = []

    def fake(n_params, tokens, device):
        seen.append((n_params, tokens))
        return False

    from neuroalign.models import extract as extract_module

    monkeypatch.setattr(extract_module, "should_compile", fake)
    ex = _extractor(tokenizer, compile="auto")
    ex.chunk_bytes = 7 * ex.item_bytes()
    path = extract_to_zarr(ex, story_table, tmp_path / "a.zarr", attrs=ATTRS)
    ds = open_activations(path)
    ((n_params, tokens),) = seen  # decided once per run
    assert n_params == sum(p.numel() for p in ex.model.parameters())
    # Tokens fed: each word's window of itself and its two previous words in its story.
    true_tokens = 0
    for _, story in story_table.groupby("story", sort=False):
        words = story["text"].tolist()
        for i in range(len(words)):
            window = " ".join(words[max(0, i - 2) : i + 1])
            true_tokens += len(tokenizer(window, add_special_tokens=False)["input_ids"])
    # From the first chunk's inputs, scaled to the run: close to the true count.
    assert 0.5 * true_tokens < tokens < 2 * true_tokens
    assert ex.compiled is None
    assert int(ds.attrs["compiled"]) == 0


def test_auto_compiles_when_the_run_repays_it(tokenizer, story_table, monkeypatch):
    import contextlib

    from neuroalign.models import extract as extract_module

    used = []

    @contextlib.contextmanager
    def recording(model, blocks, backend):
        used.append((list(blocks), backend))
        yield len(blocks)

    monkeypatch.setattr(extract_module, "should_compile", lambda *args: True)
    monkeypatch.setattr(extract_module, "compiled_blocks", recording)
    ex = _extractor(tokenizer, compile="auto", units="resid")
    extract_dataset(ex, story_table)
    assert ex.compiled == "inductor"
    ((blocks, backend),) = used
    assert backend == "inductor" and len(blocks) == ex.arch.n_layers
