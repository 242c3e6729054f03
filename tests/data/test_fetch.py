"""Fetching against a real HTTP server on 127.0.0.1: resume, retries, checksums, mirrors, terms."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

import pytest
from httpserver import LocalHTTPServer

from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file
from neuroalign.data.archive import extract_archive
from neuroalign.data.fetch import (
    MIRROR_ENV,
    fetch_dataset,
    resolve_mirror,
    stamp_path,
    terms_marker_path,
)
from neuroalign.data.manifest import list_manifests, load_manifest, manifest_from_dict

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_manifest(files, *, access=None, subsets=None, dataset="toy"):
    """A manifest document for ``files``: a list of file entries."""
    doc = {
        "schema_version": 1,
        "id": dataset,
        "title": "Toy",
        "modality": "text",
        "source": {"type": "http"},
        "access": access or {"registration_required": False},
        "license": {"spdx": "CC0-1.0", "url": "https://example.org/license"},
        "citation": {"text": "Someone (2024). A toy.", "doi": "10.1234/toy"},
        "total_size": {"bytes": 1},
        "mirror_folder": "toyfolder",
        "subsets": subsets or {"starter": {"include": ["**"]}, "full": {"include": ["**"]}},
        "files": files,
    }
    return manifest_from_dict(doc, f"{dataset}.yaml")


def entry(path, url, data, **extra):
    return {"path": path, "url": url, "size": len(data), "sha256": sha(data), **extra}


@pytest.fixture
def server():
    with LocalHTTPServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def fetch(manifest, root, **kwargs):
    kwargs.setdefault("backoff", 0.0)
    kwargs.setdefault("progressbar", False)
    return fetch_dataset(manifest, root, **kwargs)


def test_fetch_writes_files_and_stamp_then_skips_present_files(server, tmp_path):
    server.state.files["/d/a.bin"] = PAYLOAD
    manifest = make_manifest([entry("sub/a.bin", f"{server.url}/d/a.bin", PAYLOAD)])
    stamp = fetch(manifest, tmp_path)
    target = tmp_path / "raw" / "toy" / "sub" / "a.bin"
    assert target.read_bytes() == PAYLOAD
    assert stamp == stamp_path(tmp_path, "toy", "starter")
    record = json.loads(stamp.read_text())
    assert record["id"] == "toy" and record["subset"] == "starter"
    assert "CC0-1.0" in record["license"] and "10.1234/toy" in record["citation"]
    (info,) = record["files"]
    assert info == {
        "path": "sub/a.bin",
        "size": len(PAYLOAD),
        "sha256": sha(PAYLOAD),
        "verified": True,
        "url": f"{server.url}/d/a.bin",
        "downloaded": True,
    }
    n_requests = len(server.state.requests)
    record = json.loads(fetch(manifest, tmp_path).read_text())
    assert len(server.state.requests) == n_requests  # nothing downloaded again
    assert record["files"][0]["downloaded"] is False


def test_license_and_citation_are_logged(server, tmp_path, caplog):
    server.state.files["/a"] = PAYLOAD
    with caplog.at_level("INFO", logger="neuroalign.data.fetch"):
        fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path)
    assert "license: CC0-1.0" in caplog.text
    assert "please cite: Someone (2024). A toy. doi:10.1234/toy" in caplog.text


def test_cut_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    server.state.cut_after["/a"] = 3000
    fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path)
    assert (tmp_path / "raw" / "toy" / "a").read_bytes() == PAYLOAD
    first, second = server.state.requests
    assert "Range" not in first[1]
    assert second[1]["Range"] == "bytes=3000-"
    assert not (tmp_path / "raw" / "toy" / "a.part").exists()


def test_partial_file_survives_a_failed_run_and_is_resumed_next_run(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    server.state.cut_after["/a"] = 4096
    manifest = make_manifest([entry("a", f"{server.url}/a", PAYLOAD)])
    with pytest.raises(NeuroalignError, match="kept and resumed"):
        fetch(manifest, tmp_path, retries=0)
    part = tmp_path / "raw" / "toy" / "a.part"
    assert part.stat().st_size == 4096
    assert not (tmp_path / "raw" / "toy" / "a").exists()
    assert not stamp_path(tmp_path, "toy", "starter").exists()
    fetch(manifest, tmp_path)
    assert server.state.requests[-1][1]["Range"] == "bytes=4096-"
    assert (tmp_path / "raw" / "toy" / "a").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    server.state.cut_after["/a"] = 1000
    server.state.ignore_range = True
    fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path)
    assert (tmp_path / "raw" / "toy" / "a").read_bytes() == PAYLOAD


def test_server_errors_are_retried_then_succeed(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    server.state.fail_times["/a"] = 2
    fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path, retries=2)
    assert len(server.state.requests) == 3
    assert (tmp_path / "raw" / "toy" / "a").read_bytes() == PAYLOAD


def test_persistent_server_errors_fail_clearly(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    server.state.fail_times["/a"] = 5
    with pytest.raises(NeuroalignError, match="failed after 3 attempts"):
        fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path, retries=2)
    assert not (tmp_path / "raw" / "toy" / "a").exists()


def test_missing_upstream_file_is_not_retried(server, tmp_path):
    with pytest.raises(NeuroalignError, match="HTTP 404"):
        fetch(make_manifest([entry("a", f"{server.url}/nope", PAYLOAD)]), tmp_path)
    assert len(server.state.requests) == 1


def test_checksum_mismatch_names_file_and_hashes_and_leaves_nothing(server, tmp_path):
    bad = b"x" * len(PAYLOAD)
    server.state.files["/a"] = bad
    manifest = make_manifest([entry("a", f"{server.url}/a", PAYLOAD)])
    with pytest.raises(NeuroalignError) as err:
        fetch(manifest, tmp_path)
    message = str(err.value)
    assert "checksum mismatch" in message and "a:" in message
    assert sha(PAYLOAD) in message and sha(bad) in message
    assert "manifest lock" in message
    folder = tmp_path / "raw" / "toy"
    assert sorted(p.name for p in folder.iterdir()) == []
    assert not stamp_path(tmp_path, "toy", "starter").exists()


def test_size_mismatch_is_refused(server, tmp_path):
    server.state.files["/a"] = PAYLOAD[:-1]
    with pytest.raises(NeuroalignError, match="manifest says"):
        fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path)
    assert not (tmp_path / "raw" / "toy" / "a").exists()


def test_corrupt_present_file_is_downloaded_again(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    target = tmp_path / "raw" / "toy" / "a"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"y" * len(PAYLOAD))
    fetch(make_manifest([entry("a", f"{server.url}/a", PAYLOAD)]), tmp_path)
    assert target.read_bytes() == PAYLOAD


def test_unverified_files_need_allow_unverified(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    manifest = make_manifest([{"path": "a", "url": f"{server.url}/a", "unverified": True}])
    with pytest.raises(NeuroalignError, match="--allow-unverified"):
        fetch(manifest, tmp_path)
    record = json.loads(fetch(manifest, tmp_path, allow_unverified=True).read_text())
    assert record["files"][0]["sha256"] == sha(PAYLOAD)
    assert record["files"][0]["verified"] is False


def test_partial_subset_is_refused(tmp_path):
    subsets = {"starter": {"include": ["a"]}, "full": {"include": ["**"], "partial": True}}
    manifest = make_manifest([entry("a", "https://example.org/a", PAYLOAD)], subsets=subsets)
    with pytest.raises(NeuroalignError, match="add-missing"):
        fetch(manifest, tmp_path, subset="full")


def test_gated_dataset_is_refused_then_accepted(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    access = {"registration_required": True, "terms_url": "https://example.org/terms"}
    manifest = make_manifest([entry("a", f"{server.url}/a", PAYLOAD)], access=access)
    with pytest.raises(NeuroalignError, match=r"https://example\.org/terms.*--accept-terms"):
        fetch(manifest, tmp_path)
    assert server.state.requests == []
    fetch(manifest, tmp_path, accept_terms=True)
    marker = terms_marker_path(tmp_path, "toy")
    assert "terms_url: https://example.org/terms" in marker.read_text()
    assert "accepted: " in marker.read_text()
    fetch(manifest, tmp_path)  # the marker counts from now on


def test_gated_dataset_accepted_in_config(server, tmp_path):
    server.state.files["/a"] = PAYLOAD
    access = {"registration_required": True, "terms_url": "https://example.org/terms"}
    manifest = make_manifest([entry("a", f"{server.url}/a", PAYLOAD)], access=access)
    fetch(manifest, tmp_path, accepted=["toy"])
    assert (tmp_path / "raw" / "toy" / "a").is_file()


def mirrored_manifest(data):
    """Upstream URL that does not resolve; the mirror holds the file."""
    return make_manifest(
        [
            entry("sub/a.bin", "https://upstream.invalid/a.bin", data, mirror="m/a.bin"),
            entry("b.bin", "https://upstream.invalid/b.bin", data),
        ]
    )


def test_mirror_directory(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "m").mkdir(parents=True)
    (mirror / "toyfolder").mkdir()
    (mirror / "m" / "a.bin").write_bytes(PAYLOAD)
    (mirror / "toyfolder" / "b.bin").write_bytes(PAYLOAD)
    record = json.loads(
        fetch(mirrored_manifest(PAYLOAD), tmp_path / "data", mirror=mirror).read_text()
    )
    assert (tmp_path / "data" / "raw" / "toy" / "sub" / "a.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "data" / "raw" / "toy" / "b.bin").read_bytes() == PAYLOAD
    assert record["mirror"] == str(mirror.resolve())


def test_mirror_url_from_environment(server, tmp_path, monkeypatch):
    server.state.files["/base/m/a.bin"] = PAYLOAD
    server.state.files["/base/toyfolder/b.bin"] = PAYLOAD
    monkeypatch.setenv(MIRROR_ENV, f"{server.url}/base/")
    fetch(mirrored_manifest(PAYLOAD), tmp_path)
    assert {p for p, _ in server.state.requests} == {"/base/m/a.bin", "/base/toyfolder/b.bin"}
    assert (tmp_path / "raw" / "toy" / "sub" / "a.bin").read_bytes() == PAYLOAD


def test_mirror_is_checked_too(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "m").mkdir(parents=True)
    (mirror / "m" / "a.bin").write_bytes(b"z" * len(PAYLOAD))
    with pytest.raises(NeuroalignError, match="checksum mismatch"):
        fetch(mirrored_manifest(PAYLOAD), tmp_path / "data", mirror=mirror)
    with pytest.raises(NeuroalignError, match="not found in the mirror"):
        fetch(mirrored_manifest(PAYLOAD), tmp_path / "data", mirror=tmp_path)


def test_resolve_mirror(tmp_path, monkeypatch):
    assert resolve_mirror() is None
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    assert resolve_mirror().root == str(tmp_path.resolve())
    assert resolve_mirror("") is None  # explicit off beats the environment
    assert resolve_mirror("https://m.example.org/x").is_url
    with pytest.raises(NeuroalignError, match="only http"):
        resolve_mirror("ftp://m.example.org")
    with pytest.raises(NeuroalignError, match="not found"):
        resolve_mirror(tmp_path / "missing")


def test_mirror_only_file_needs_a_mirror(tmp_path):
    manifest = make_manifest([{"path": "a", "sha256": sha(PAYLOAD)}])
    with pytest.raises(NeuroalignError, match="only in a mirror"):
        fetch(manifest, tmp_path)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_archive_is_unpacked_after_verification(server, tmp_path):
    archive = zip_bytes({"data/x.jsonl": b"{}\n", "data/y.jsonl": b"[]\n"})
    server.state.files["/a.zip"] = archive
    files = [
        entry("a.zip", f"{server.url}/a.zip", archive, archive={"format": "zip", "extract_to": "A"})
    ]
    fetch(make_manifest(files), tmp_path)
    assert (tmp_path / "raw" / "toy" / "A" / "data" / "y.jsonl").read_bytes() == b"[]\n"


def test_member_of_a_remote_archive(server, tmp_path):
    archive = zip_bytes({"pkg/data/x.csv": b"a,b\n1,2\n", "pkg/LICENSE": b"text"})
    server.state.files["/pkg.whl"] = archive
    files = [
        {
            "path": "x.csv",
            "url": f"{server.url}/pkg.whl",
            "member": "pkg/data/x.csv",
            "archive_sha256": sha(archive),
            "size": 8,
            "sha256": sha(b"a,b\n1,2\n"),
        },
        {
            "path": "LICENSE.txt",
            "url": f"{server.url}/pkg.whl",
            "member": "LICENSE",
            "sha256": sha(b"text"),
        },
    ]
    fetch(make_manifest(files), tmp_path)
    folder = tmp_path / "raw" / "toy"
    assert (folder / "x.csv").read_bytes() == b"a,b\n1,2\n"
    assert (folder / "LICENSE.txt").read_bytes() == b"text"
    assert len(server.state.requests) == 1  # one download serves both members
    assert not (folder / ".archives").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_path_traversal_is_refused(tmp_path, name):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({"ok.txt": b"ok", name: b"evil"}))
    with pytest.raises(NeuroalignError, match="refusing"):
        extract_archive(archive, "zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists()


def tar_with(tmp_path, add) -> object:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tf:
        add(tf)
    return path


def test_tar_symlink_pointing_out_is_refused(tmp_path):
    def add(tf):
        link = tarfile.TarInfo("data/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        tf.addfile(link)

    with pytest.raises(NeuroalignError, match="points outside"):
        extract_archive(tar_with(tmp_path, add), "tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_path_traversal_is_refused_and_safe_tar_unpacks(tmp_path):
    def add_bad(tf):
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))

    with pytest.raises(NeuroalignError, match="'\\.\\.'"):
        extract_archive(tar_with(tmp_path, add_bad), "tar", tmp_path / "out")

    def add_good(tf):
        info = tarfile.TarInfo("d/ok.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("d/alias.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "ok.txt"
        tf.addfile(link)

    out = extract_archive(tar_with(tmp_path, add_good), "tar", tmp_path / "good")
    assert (out / "d" / "alias.txt").read_bytes() == b"ok"


def test_shared_mirror_matches_every_manifest(repo_root, shared_data, tmp_path):
    """Every starter subset whose files are all in the mirror fetches and verifies from it."""
    fetched = []
    for path in list_manifests(repo_root / "data_manifests"):
        manifest = load_manifest(path)
        files = manifest.subset_files("starter")
        if not all(f.verified and (shared_data / f.mirror).is_file() for f in files):
            continue
        stamp = fetch_dataset(manifest, tmp_path, mirror=shared_data, progressbar=False)
        for info in json.loads(stamp.read_text())["files"]:
            on_disk = tmp_path / "raw" / manifest.id / info["path"]
            assert sha256_file(on_disk) == info["sha256"]
        fetched.append(manifest.id)
    assert {"megmasc", "free_recall", "blimp", "formats", "ucl_frank2013", "zuco"} <= set(fetched)
    assert {"fedorenko2010_localizer", "tom_localizer", "md_localizer", "onestop"} <= set(fetched)
