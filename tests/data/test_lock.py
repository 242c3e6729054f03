"""``manifest lock``: fill sizes and sha256 from listings; CLI validate, list and lock."""

from __future__ import annotations

import argparse
import copy
import hashlib

import pytest
import yaml

from neuroalign._check import NeuroalignError
from neuroalign.cli import fetch as cli_fetch
from neuroalign.cli import manifest as cli_manifest
from neuroalign.data.lock import lock_manifest, read_listing
from neuroalign.data.manifest import load_manifest

DOC = {
    "schema_version": 1,
    "id": "toy",
    "title": "Toy dataset",
    "description": "A long description that runs well past eighty characters, "
    "so that the dump folds it.",
    "modality": "text",
    "source": {"type": "http", "base_url": "https://example.org/ds"},
    "access": {"registration_required": False},
    "license": {"spdx": "CC0-1.0"},
    "citation": {"text": "Someone (2024)."},
    "total_size": {"bytes": 10},
    "mirror_folder": "toyfolder",
    "subsets": {
        "starter": {"include": ["a.txt"]},
        "full": {"include": ["**"], "partial": True},
    },
    "files": [
        {"path": "a.txt", "url": "https://example.org/ds/a.txt", "unverified": True},
        {
            "path": "deep/b.txt",
            "url": "https://example.org/ds/deep/b.txt",
            "unverified": True,
            "mirror": "toyfolder/renamed_b.txt",
        },
    ],
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def manifest_path(tmp_path):
    path = tmp_path / "manifests" / "toy.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(DOC, sort_keys=False))
    return path


def test_read_listing_formats(tmp_path):
    listing = tmp_path / "SHA256SUMS"
    listing.write_text(
        f"# comment\n{sha(b'a')}  ./a.txt\n{sha(b'b')} *dir/b c.txt\n{sha(b'c')} 1 c.txt\n\n"
    )
    entries = read_listing(listing)
    assert entries["a.txt"].sha256 == sha(b"a") and entries["a.txt"].size is None
    assert entries["dir/b c.txt"].sha256 == sha(b"b")
    assert entries["c.txt"].size == 1
    listing.write_text("not a checksum line\n")
    with pytest.raises(NeuroalignError, match="line 1"):
        read_listing(listing)


def test_lock_from_a_folder_fills_size_and_sha256(manifest_path, tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"alpha")
    (folder / "renamed_b.txt").write_bytes(b"beta!")
    report = lock_manifest(manifest_path, folder)
    assert report.updated == ["a.txt", "deep/b.txt"] and report.unmatched == []
    manifest = load_manifest(manifest_path)
    a, b = manifest.files
    assert (a.size, a.sha256) == (5, sha(b"alpha"))
    assert (b.size, b.sha256) == (5, sha(b"beta!"))
    text = manifest_path.read_text()
    assert "unverified" not in text
    assert "description: >" in text  # long prose stays readable
    assert text.index("id:") < text.index("files:")  # key order kept


def test_lock_refuses_to_overwrite_a_different_checksum(manifest_path, tmp_path):
    doc = copy.deepcopy(DOC)
    del doc["files"][0]["unverified"]
    doc["files"][0]["sha256"] = sha(b"old")
    manifest_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    listing = tmp_path / "sums.txt"
    listing.write_text(f"{sha(b'new')}  a.txt\n")
    before = manifest_path.read_text()
    with pytest.raises(NeuroalignError, match=r"files\.0\.sha256.*delete the old"):
        lock_manifest(manifest_path, listing)
    assert manifest_path.read_text() == before


def test_lock_add_missing_lists_the_dataset(manifest_path, tmp_path):
    listing = tmp_path / "sums.txt"
    listing.write_text(f"{sha(b'a')} 1 a.txt\n{sha(b'x')} 1 sub-01/x y.nii.gz\n")
    report = lock_manifest(manifest_path, listing, add_missing=True)
    assert report.added == ["sub-01/x y.nii.gz"]
    assert report.unmatched == ["deep/b.txt"]
    manifest = load_manifest(manifest_path)
    assert manifest.subsets["full"]["partial"] is False
    added = manifest.files[-1]
    assert added.url == "https://example.org/ds/sub-01/x%20y.nii.gz"
    assert added.sha256 == sha(b"x")


def test_lock_add_missing_needs_base_url(manifest_path, tmp_path):
    doc = copy.deepcopy(DOC)
    del doc["source"]["base_url"]
    manifest_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    listing = tmp_path / "sums.txt"
    listing.write_text(f"{sha(b'x')}  other.txt\n")
    with pytest.raises(NeuroalignError, match="base_url"):
        lock_manifest(manifest_path, listing, add_missing=True)


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="neuroalign")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli_fetch.add_parser(subparsers)
    cli_manifest.add_parser(subparsers)
    args = parser.parse_args(argv)
    args.func(args)


def test_cli_lock_validate_and_list(manifest_path, tmp_path, capsys):
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"alpha")
    run_cli(["manifest", "lock", str(manifest_path), "--listing", str(folder), "--dry-run"])
    assert "would update 1 file(s)" in capsys.readouterr().out
    assert "unverified" in manifest_path.read_text()
    run_cli(["manifest", "lock", str(manifest_path), "--listing", str(folder)])
    out = capsys.readouterr().out
    assert "updated 1 file(s)" in out and "not in the listing: deep/b.txt" in out
    run_cli(["manifest", "validate", "--manifests", str(manifest_path.parent)])
    assert "ok" in capsys.readouterr().out
    run_cli(["manifest", "list", "--manifests", str(manifest_path.parent)])
    out = capsys.readouterr().out
    assert "toy" in out and "CC0-1.0" in out and "Toy dataset" in out


def test_cli_validate_reports_every_invalid_manifest(tmp_path, capsys):
    for name in ("bad1", "bad2"):
        (tmp_path / f"{name}.yaml").write_text("schema_version: 1\nid: x\n")
    with pytest.raises(NeuroalignError, match="2 of 2 manifest"):
        run_cli(["manifest", "validate", "--manifests", str(tmp_path)])
    assert capsys.readouterr().err.count("invalid") == 2


def test_cli_fetch_from_a_mirror(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NEUROALIGN_MIRROR", raising=False)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    doc = copy.deepcopy(DOC)
    doc["files"] = [doc["files"][0]]
    doc["subsets"]["full"] = {"include": ["**"]}
    (manifests / "toy.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    mirror = tmp_path / "mirror" / "toyfolder"
    mirror.mkdir(parents=True)
    (mirror / "a.txt").write_bytes(b"alpha")
    argv = ["fetch", "toy", "--manifests", str(manifests), "--data-dir", str(tmp_path / "d")]
    argv += ["--mirror", str(mirror.parent), "--no-progress"]
    with pytest.raises(NeuroalignError, match="--allow-unverified"):
        run_cli(argv)
    run_cli([*argv, "--allow-unverified"])
    assert capsys.readouterr().out.strip().endswith(".neuroalign-fetch-starter.json")
    assert (tmp_path / "d" / "raw" / "toy" / "a.txt").read_bytes() == b"alpha"
