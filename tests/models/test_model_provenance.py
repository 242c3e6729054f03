"""Model provenance: source, revision (hub commit or local path), weight checksums, cached."""

from __future__ import annotations

import hashlib
import json

import pytest
from tiny_models import make_gpt2

from neuroalign import _io
from neuroalign._io import provenance, recording_config_file, sha256_cached, sha256_file
from neuroalign.models.provenance import model_provenance, weight_checksums

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(_io.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A saved tiny GPT-2 (config.json + model.safetensors)."""
    folder = tmp_path_factory.mktemp("tiny") / "model"
    make_gpt2().save_pretrained(folder)
    return folder


def test_sha256_is_cached_by_size_and_mtime(tmp_path, monkeypatch):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc" * 1000)
    assert sha256_cached(f) == hashlib.sha256(b"abc" * 1000).hexdigest()
    entries = json.loads((tmp_path / "cache" / "sha256.json").read_text())
    assert list(entries.values()) == [sha256_file(f)]

    def fail(path, *a, **k):
        raise AssertionError("hashed again")

    monkeypatch.setattr(_io, "sha256_file", fail)
    assert sha256_cached(f) == hashlib.sha256(b"abc" * 1000).hexdigest()  # from the cache
    monkeypatch.undo()
    monkeypatch.setenv(_io.CACHE_ENV, str(tmp_path / "cache"))
    f.write_bytes(b"changed")  # another size: hashed again, the stale entry dropped
    assert sha256_cached(f) == hashlib.sha256(b"changed").hexdigest()
    assert len(json.loads((tmp_path / "cache" / "sha256.json").read_text())) == 1


def test_an_unwritable_cache_still_hashes(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(_io.CACHE_ENV, str(blocker / "sub"))  # a folder under a file
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    assert sha256_cached(f) == hashlib.sha256(b"x").hexdigest()


def test_local_model_records_path_and_weight_hashes(tiny):
    info = model_provenance(f"path:{tiny}")
    weights = tiny / "model.safetensors"
    assert info["model_source"] == f"path:{tiny}"
    assert info["model_revision"] == f"local {tiny.resolve()}"
    assert info["weights_sha256"] == {"model.safetensors": sha256_file(weights)}
    assert weight_checksums(tiny) == info["weights_sha256"]


def test_a_hub_snapshot_records_its_commit(tiny, tmp_path, monkeypatch):
    """A model in the hub cache layout: the commit of its snapshot, looked up offline."""
    repo = tmp_path / "hub" / "models--org--tiny"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    for f in tiny.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    info = model_provenance("hf:org/tiny")
    assert info["model_revision"] == COMMIT
    assert info["weights_sha256"] == {"model.safetensors": sha256_file(tiny / "model.safetensors")}
    # the same snapshot through path: is local, with its hub commit
    local = model_provenance(f"path:{snap}")
    assert local["model_revision"] == f"local {snap.resolve()} (hub commit {COMMIT})"


def test_a_hub_model_not_in_the_cache_says_unknown(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    info = model_provenance("hf:org/absent@v1")
    assert info["model_revision"] == "v1 (commit unknown)" and info["weights_sha256"] == {}


def test_provenance_records_the_settings_file_the_command_read(tmp_path):
    settings = tmp_path / "job.json"
    settings.write_text('{"a": 1}')
    assert "config_file" not in provenance(stage="x")
    with recording_config_file(settings):
        attrs = provenance(stage="x", config={"a": 1})
    assert attrs["config_file"] == str(settings.absolute())
    assert attrs["config_file_sha256"] == sha256_file(settings)
    assert "config_file" not in provenance(stage="x")  # reset after the block
