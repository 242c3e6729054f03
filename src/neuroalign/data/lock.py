"""Fill a manifest's sizes and sha256 checksums in from a listing of the source.

A listing is a ``sha256sum``-style text file (``<sha256>  <path>`` or
``<sha256> <size> <path>`` per line) or a folder, whose files are then hashed. Listing paths
are matched against each file's ``path`` and its ``mirror`` path (with or without the
manifest's ``mirror_folder``), so a listing of the upstream dataset and a listing of a mirror
folder both work.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml

from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file, write_text_atomic
from neuroalign._yaml import load_yaml
from neuroalign.data.manifest import manifest_from_dict

__all__ = ["ListingEntry", "LockReport", "dump_manifest", "lock_manifest", "read_listing"]

_LINE = re.compile(r"(?P<sha>[0-9a-fA-F]{64})\s+(?:(?P<size>\d+)\s+)?\*?(?P<path>.+)")


@dataclass(frozen=True)
class ListingEntry:
    """Size (when the listing gives it) and sha256 of one listed file."""

    size: int | None
    sha256: str


@dataclass
class LockReport:
    """What ``lock_manifest`` changed.

    Attributes
    ----------
    updated : list of str
        Paths of files whose size or sha256 was filled in.
    added : list of str
        Paths of files added from the listing (``add_missing``).
    unmatched : list of str
        Paths of manifest files the listing does not mention.
    """

    updated: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def read_listing(listing: str | Path) -> dict[str, ListingEntry]:
    """Read a listing: a ``sha256sum``-style file, or a folder to hash.

    Parameters
    ----------
    listing : str or Path
        A text file with lines ``<sha256>  <path>`` (``sha256sum`` output) or
        ``<sha256> <size> <path>``; or a folder, whose files are all hashed.

    Returns
    -------
    entries : dict of str to ListingEntry
        Keyed by relative POSIX path.

    Raises
    ------
    NeuroalignError
        If the listing is missing or a line cannot be parsed (the line number is named).
    """
    listing = Path(listing)
    if listing.is_dir():
        return {
            p.relative_to(listing).as_posix(): ListingEntry(p.stat().st_size, sha256_file(p))
            for p in sorted(listing.rglob("*"))
            if p.is_file()
        }
    if not listing.is_file():
        raise NeuroalignError(f"listing not found: {listing}. Pass a sha256sum file or a folder.")
    entries = {}
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise NeuroalignError(
                f"{listing} (line {number}): expected '<sha256>  <path>' or "
                f"'<sha256> <size> <path>', got {line.strip()[:60]!r}."
            )
        path = match["path"].strip().removeprefix("./")
        size = int(match["size"]) if match["size"] else None
        entries[path] = ListingEntry(size, match["sha"].lower())
    return entries


def _keys(entry: dict, mirror_folder: str) -> list[str]:
    keys = [entry["path"]]
    mirror = entry.get("mirror") or f"{mirror_folder}/{entry['path']}"
    keys.append(mirror)
    if mirror.startswith(mirror_folder + "/"):
        keys.append(mirror[len(mirror_folder) + 1 :])
    return keys


def _ordered(entry: dict) -> dict:
    order = ["path", "url", "size", "sha256", "unverified", "mirror", "member", "archive_sha256"]
    out = {k: entry[k] for k in order if k in entry}
    out.update({k: v for k, v in entry.items() if k not in out})
    return out


def lock_manifest(
    manifest_path: str | Path,
    listing: str | Path,
    *,
    add_missing: bool = False,
    write: bool = True,
) -> LockReport:
    """Fill in ``size`` and ``sha256`` of a manifest's files from a listing.

    Parameters
    ----------
    manifest_path : str or Path
        The manifest YAML file; it is rewritten in place (atomically) when ``write``.
    listing : str or Path
        A listing of the source (see :func:`read_listing`).
    add_missing : bool
        Also add listed files the manifest lacks, with ``url = source.base_url + path``, and
        clear every subset's ``partial`` mark (use a listing of the whole dataset).
    write : bool
        Write the manifest back; False only reports what would change.

    Returns
    -------
    report : LockReport

    Raises
    ------
    NeuroalignError
        If the listing contradicts a checksum or size already in the manifest, if
        ``add_missing`` is used without ``source.base_url``, or if the result is invalid.
    """
    manifest_path = Path(manifest_path)
    doc = load_yaml(manifest_path)
    manifest_from_dict(doc, manifest_path)  # refuse to lock an invalid manifest
    doc = copy.deepcopy(doc)
    entries = read_listing(listing)
    report = LockReport()
    matched: set[str] = set()
    for i, entry in enumerate(doc["files"]):
        key = next((k for k in _keys(entry, doc["mirror_folder"]) if k in entries), None)
        if key is None:
            report.unmatched.append(entry["path"])
            continue
        matched.add(key)
        found = entries[key]
        for name, value in (("sha256", found.sha256), ("size", found.size)):
            if value is not None and entry.get(name) not in (None, value):
                raise NeuroalignError(
                    f"{manifest_path}: field 'files.{i}.{name}' of {entry['path']!r} is "
                    f"{entry[name]!r} but {listing} says {value!r}. If the upstream file "
                    f"changed, delete the old '{name}' from the manifest and lock again."
                )
        if entry.get("sha256") != found.sha256 or (
            found.size is not None and entry.get("size") != found.size
        ):
            report.updated.append(entry["path"])
        entry["sha256"] = found.sha256
        if found.size is not None:
            entry["size"] = found.size
        entry.pop("unverified", None)
        doc["files"][i] = _ordered(entry)
    if add_missing:
        base_url = doc["source"].get("base_url")
        if not base_url:
            raise NeuroalignError(
                f"{manifest_path}: --add-missing needs 'source.base_url' (the prefix of every "
                "file URL); add it to the manifest."
            )
        known = {e["path"] for e in doc["files"]}
        for path, found in entries.items():
            if path in matched or path in known:
                continue
            new = {"path": path, "url": f"{base_url.rstrip('/')}/{quote(path)}"}
            if found.size is not None:
                new["size"] = found.size
            new["sha256"] = found.sha256
            doc["files"].append(new)
            report.added.append(path)
        for subset in doc["subsets"].values():
            subset.pop("partial", None)
    manifest_from_dict(doc, manifest_path)
    if write and (report.updated or report.added or add_missing):
        write_text_atomic(manifest_path, dump_manifest(doc))
    return report


class _ManifestDumper(yaml.SafeDumper):
    """Safe dumper that writes long prose as folded blocks, so diffs stay readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = ">" if len(value) > 80 and " " in value and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def dump_manifest(doc: dict) -> str:
    """Return a manifest document as readable YAML (keys in their original order)."""
    return yaml.dump(doc, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=96)
