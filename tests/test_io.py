import hashlib
import json

import pytest

from neuroalign._io import (
    atomic_path,
    config_hash,
    provenance,
    sha256_file,
    write_json_atomic,
)


def test_atomic_file_written_only_on_success(tmp_path):
    out = tmp_path / "sub" / "result.txt"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not out.exists()
    assert list((tmp_path / "sub").iterdir()) == []  # no temporary left behind
    with atomic_path(out) as tmp:
        tmp.write_text("whole")
    assert out.read_text() == "whole"


def test_atomic_directory_replaces_old(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "old.html").write_text("old")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "index.html").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]


def test_atomic_requires_output(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_path(tmp_path / "x"):
        pass


def test_sha256_and_provenance(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc" * 1000)
    assert sha256_file(f, chunk_size=7) == hashlib.sha256(b"abc" * 1000).hexdigest()
    attrs = provenance(stage="test", config={"b": 1, "a": 2}, inputs={"a": f}, seed=3, model="m")
    assert attrs["stage"] == "test" and attrs["seed"] == "3" and attrs["model"] == "m"
    assert json.loads(attrs["input_sha256"]) == {"a": sha256_file(f)}
    assert attrs["config_hash"] == config_hash({"a": 2, "b": 1})
    assert all(isinstance(v, str) for v in attrs.values())


def test_write_json_atomic(tmp_path):
    path = write_json_atomic(tmp_path / "x.json", {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}


def test_provenance_records_the_git_commit_of_a_checkout(monkeypatch):
    from neuroalign import _io

    monkeypatch.setattr(_io, "git_commit", lambda: "abc123+dirty")
    attrs = _io.provenance(stage="x", config={"a": 1})
    assert attrs["git_commit"] == "abc123+dirty" and attrs["config_hash"] == _io.config_hash(
        {"a": 1}
    )
    monkeypatch.setattr(_io, "git_commit", lambda: None)
    assert "git_commit" not in _io.provenance(stage="x")
