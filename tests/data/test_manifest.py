"""Manifest schema and loading: every shipped manifest is valid; bad ones fail in one line."""

from __future__ import annotations

import copy

import pytest
import yaml

from neuroalign._check import NeuroalignError
from neuroalign.data.manifest import (
    find_manifest,
    glob_match,
    list_manifests,
    load_manifest,
    manifest_from_dict,
)

SHA = "a" * 64

BASE = {
    "schema_version": 1,
    "id": "toy",
    "title": "Toy dataset",
    "modality": "text",
    "source": {"type": "http"},
    "access": {"registration_required": False},
    "license": {"spdx": "CC0-1.0"},
    "citation": {"text": "Someone (2024)."},
    "total_size": {"bytes": 3},
    "mirror_folder": "toy",
    "subsets": {"starter": {"include": ["a.txt"]}, "full": {"include": ["**"]}},
    "files": [{"path": "a.txt", "url": "https://example.org/a.txt", "size": 3, "sha256": SHA}],
}


def write(tmp_path, doc, name="toy.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_every_shipped_manifest_validates(repo_root):
    paths = list_manifests(repo_root / "data_manifests")
    assert len(paths) >= 15
    ids = set()
    for path in paths:
        manifest = load_manifest(path)
        ids.add(manifest.id)
        assert manifest.subset_files("starter"), path
        assert {"starter", "full"} <= set(manifest.subsets)
    assert {"megmasc", "narratives", "nsd", "free_recall", "blimp", "formats"} <= ids


def test_gated_manifest_names_its_terms(repo_root):
    nsd = load_manifest(repo_root / "data_manifests" / "nsd.yaml")
    assert nsd.access["registration_required"] is True
    assert nsd.access["terms_url"].startswith("https://")


def test_valid_manifest_loads_with_defaults(tmp_path):
    manifest = load_manifest(write(tmp_path, BASE))
    assert manifest.id == "toy"
    assert manifest.total_size["estimate"] is False
    assert manifest.subsets["full"]["partial"] is False
    (entry,) = manifest.files
    assert entry.mirror == "toy/a.txt"
    assert entry.verified


def test_unknown_key_is_one_line_error_naming_file_and_field(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["files"][0]["checksum"] = SHA
    path = write(tmp_path, doc)
    with pytest.raises(NeuroalignError) as err:
        load_manifest(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert "files.0.checksum" in message


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/a.txt", "example.org/a.txt", "https://a b"]
)
def test_non_http_url_is_rejected(tmp_path, url):
    doc = copy.deepcopy(BASE)
    doc["files"][0]["url"] = url
    with pytest.raises(NeuroalignError, match=r"files\.0\.url"):
        load_manifest(write(tmp_path, doc))


@pytest.mark.parametrize("path", ["../a.txt", "/etc/a.txt", "x/../../a.txt", "./a.txt"])
def test_file_path_leaving_the_dataset_is_rejected(tmp_path, path):
    doc = copy.deepcopy(BASE)
    doc["files"][0]["path"] = path
    with pytest.raises(NeuroalignError, match=r"files\.0\.path"):
        load_manifest(write(tmp_path, doc))


def test_unknown_source_type_is_rejected(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["source"]["type"] = "s3"
    with pytest.raises(NeuroalignError, match=r"source\.type"):
        load_manifest(write(tmp_path, doc))


def test_file_without_sha256_must_be_marked_unverified(tmp_path):
    doc = copy.deepcopy(BASE)
    del doc["files"][0]["sha256"]
    with pytest.raises(NeuroalignError, match="unverified"):
        load_manifest(write(tmp_path, doc))
    doc["files"][0]["unverified"] = True
    assert not load_manifest(write(tmp_path, doc)).files[0].verified


def test_registration_requires_terms_url(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["access"] = {"registration_required": True}
    with pytest.raises(NeuroalignError, match="terms_url"):
        load_manifest(write(tmp_path, doc))


def test_id_must_equal_file_stem(tmp_path):
    with pytest.raises(NeuroalignError, match="rename the file"):
        load_manifest(write(tmp_path, BASE, name="other.yaml"))


def test_subsets_starter_and_full_are_required(tmp_path):
    doc = copy.deepcopy(BASE)
    del doc["subsets"]["full"]
    with pytest.raises(NeuroalignError, match="full"):
        load_manifest(write(tmp_path, doc))


def test_subset_pattern_matching_nothing_is_an_error_unless_partial(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["subsets"]["full"] = {"include": ["sub-*/**"]}
    with pytest.raises(NeuroalignError, match=r"subsets\.full\.include"):
        manifest_from_dict(doc, "toy.yaml")
    doc["subsets"]["full"]["partial"] = True
    assert manifest_from_dict(doc, "toy.yaml").subsets["full"]["partial"]


def test_duplicate_paths_are_rejected():
    doc = copy.deepcopy(BASE)
    doc["files"].append(dict(doc["files"][0]))
    with pytest.raises(NeuroalignError, match="listed twice"):
        manifest_from_dict(doc, "toy.yaml")


def test_unknown_subset_and_dataset_suggest_names(tmp_path):
    write(tmp_path, BASE)
    manifest = find_manifest("toy", tmp_path)
    with pytest.raises(NeuroalignError, match="Did you mean 'starter'"):
        manifest.subset_files("stater")
    with pytest.raises(NeuroalignError, match="Did you mean 'toy'"):
        find_manifest("tyo", tmp_path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.csv", "a.csv", True),
        ("*.csv", "d/a.csv", False),
        ("**", "d/e/a.csv", True),
        ("d/**/a.csv", "d/a.csv", True),
        ("d/**/a.csv", "d/x/y/a.csv", True),
        ("sub-0?/x", "sub-01/x", True),
        ("a.csv", "a.csv", True),
        ("a.csv", "ba.csv", False),
        ("a+b.txt", "a+b.txt", True),
    ],
)
def test_glob_match(pattern, path, expected):
    assert glob_match(pattern, path) is expected
