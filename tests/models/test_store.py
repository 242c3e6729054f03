"""Zarr stores: round trip, provenance, resume after an interruption."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import make_gpt2

from neuroalign.models import store as store_module
from neuroalign.models.extract import Extractor
from neuroalign.models.store import extract_dataset, extract_to_zarr
from neuroalign.results import COMPLETE, open_activations

ATTRS = {"model": "tiny-gpt2", "config_hash": "abc", "stimulus_sha256": "123", "pooling": "mean"}


def _extractor(tokenizer, **kwargs):
    kwargs = {"units": "resid,head_out,embed", "context": "words:2", "pooling": "mean", **kwargs}
    return Extractor(make_gpt2(), tokenizer, **kwargs)


def test_round_trip_keeps_coords_and_attrs(tmp_path, tokenizer, story_table):
    ex = _extractor(tokenizer)
    path = extract_to_zarr(ex, story_table, tmp_path / "acts.zarr", attrs=ATTRS)
    ds = open_activations(path)
    memory = extract_dataset(ex, story_table)
    assert ds.attrs["complete"] == "true"
    for key, value in ATTRS.items():
        assert ds.attrs[key] == value
    assert ds["resid"].dims == ("item", "layer", "resid_unit")
    assert ds["embed"].dims == ("item", "embed_unit")
    for name in ("text", "onset", "run", "story", "position", "layer_name", "head_out_head"):
        np.testing.assert_array_equal(ds[name].values, memory[name].values)
    np.testing.assert_array_equal(ds["item"].values, story_table["item"].values)
    np.testing.assert_array_equal(ds["resid"].values, memory["resid"].values)
    np.testing.assert_array_equal(ds["n_tokens"].values, memory["n_tokens"].values)
    assert not (tmp_path / "acts.zarr.partial").exists()


def test_readers_open_a_store_without_warnings(tmp_path, tokenizer, story_table):
    import warnings

    from neuroalign.encode.activations import read_activations

    path = extract_to_zarr(_extractor(tokenizer), story_table, tmp_path / "a.zarr", attrs=ATTRS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = read_activations(path, "resid", "all")
        open_activations(path).close()
    assert len(layers) == 3


def test_interrupted_run_resumes_with_identical_arrays(
    tmp_path, tokenizer, story_table, monkeypatch
):
    # Small chunks: a few inputs each, so the run is cut after some chunks are on disk.
    ex = _extractor(tokenizer, chunk_bytes=3 * _extractor(tokenizer).item_bytes())
    path = tmp_path / "acts.zarr"
    real = store_module._write_chunk
    calls = []

    def crash_on_third(partial, fingerprint, chunk, *pool):
        calls.append(chunk.first_input)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(partial, fingerprint, chunk, *pool)

    monkeypatch.setattr(store_module, "_write_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        extract_to_zarr(ex, story_table, path, attrs=ATTRS)
    assert not path.exists()
    partial = tmp_path / "acts.zarr.partial"
    assert partial.is_dir()
    monkeypatch.setattr(store_module, "_write_chunk", real)
    seen = []
    original_iter = ex.iter_chunks

    def recording(*args, **kwargs):
        seen.append(kwargs.get("start_input"))
        return original_iter(*args, **kwargs)

    monkeypatch.setattr(ex, "iter_chunks", recording)
    extract_to_zarr(ex, story_table, path, attrs=ATTRS)
    assert seen == [calls[2]] and calls[2] > 0
    # Same chunks, so the same batches: the arrays are bitwise equal to an uninterrupted run.
    fresh = open_activations(extract_to_zarr(ex, story_table, tmp_path / "fresh.zarr", attrs=ATTRS))
    resumed = open_activations(path)
    for name in ("resid", "head_out", "embed", "n_tokens"):
        np.testing.assert_array_equal(resumed[name].values, fresh[name].values)


def test_changed_config_starts_again(tmp_path, tokenizer, story_table):
    ex = _extractor(tokenizer)
    partial = tmp_path / "acts.zarr.partial"
    partial.mkdir()
    (partial / "progress.json").write_text('{"fingerprint": "other", "inputs_done": 5}')
    path = extract_to_zarr(ex, story_table, tmp_path / "acts.zarr", attrs=ATTRS)
    assert np.isfinite(open_activations(path)["resid"].values).all()


def test_missing_store_is_refused(tmp_path):
    from neuroalign._check import NeuroalignError

    with pytest.raises(NeuroalignError, match="not found"):
        open_activations(tmp_path / "missing.zarr")


@pytest.mark.parametrize("flag", ["false", None])
def test_incomplete_store_is_refused_in_one_line(tmp_path, tokenizer, story_table, flag):
    """A store whose complete flag is "false" (a run in progress) or missing is refused."""
    import zarr

    from neuroalign._check import NeuroalignError

    path = extract_to_zarr(_extractor(tokenizer), story_table, tmp_path / "a.zarr", attrs=ATTRS)
    attrs = zarr.open_group(path, mode="r+").attrs
    if flag is None:
        del attrs[COMPLETE]
    else:
        attrs[COMPLETE] = flag
    with pytest.raises(NeuroalignError, match="incomplete") as err:
        open_activations(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.mark.filterwarnings("ignore:Object at progress.json:UserWarning")
def test_partial_store_of_an_interrupted_run_is_refused(
    tmp_path, tokenizer, story_table, monkeypatch
):
    from neuroalign._check import NeuroalignError

    def crash(partial, fingerprint, chunk, *pool):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "_write_chunk", crash)
    with pytest.raises(KeyboardInterrupt):
        extract_to_zarr(_extractor(tokenizer), story_table, tmp_path / "a.zarr", attrs=ATTRS)
    with pytest.raises(NeuroalignError, match="incomplete"):
        open_activations(tmp_path / "a.zarr.partial")
