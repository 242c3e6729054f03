"""Dataset manifests: load, validate and query ``data_manifests/<id>.yaml``.

A manifest names a public dataset's upstream source, license, citation, files (with sizes and
sha256 checksums) and named subsets of those files. The JSON Schema is
``neuroalign/schemas/manifest.schema.yaml``; the checks here add what a schema cannot express
(the id equals the file stem, paths are unique, every subset pattern matches a file).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError, suggest
from neuroalign._yaml import load_yaml
from neuroalign.schemas import validate

__all__ = [
    "Manifest",
    "ManifestFile",
    "find_manifest",
    "glob_match",
    "list_manifests",
    "load_manifest",
    "manifest_from_dict",
]


@dataclass(frozen=True)
class ManifestFile:
    """One file of a dataset, as listed in a manifest's ``files``.

    Attributes
    ----------
    path : str
        Relative POSIX path inside ``<data>/raw/<id>/``.
    url : str
        Upstream http(s) URL (of the file, or of the archive holding it when ``member`` is set).
    size : int or None
        Size in bytes, if known.
    sha256 : str or None
        Hex sha256, if known; ``None`` marks an unverified file.
    mirror : str
        Path of the file inside a mirror.
    member : str or None
        Member path inside the archive at ``url``.
    archive_sha256 : str or None
        sha256 of the archive at ``url`` (with ``member``).
    archive : dict or None
        ``{"format": "zip" | "tar", "extract_to": folder}`` to unpack the file after fetching.
    """

    path: str
    url: str | None
    size: int | None
    sha256: str | None
    mirror: str
    member: str | None = None
    archive_sha256: str | None = None
    archive: dict | None = None

    @property
    def verified(self) -> bool:
        """True when the manifest gives the file's sha256."""
        return self.sha256 is not None


@dataclass(frozen=True)
class Manifest:
    """A validated dataset manifest.

    Attributes
    ----------
    id, title, modality : str
        Identity of the dataset.
    source, access, license, citation, total_size : dict
        The manifest sections of the same names (defaults filled in).
    mirror_folder : str
        Folder of a mirror that holds this dataset.
    subsets : dict of str to dict
        ``{name: {"include": [...], "partial": bool, ...}}``.
    files : tuple of ManifestFile
        Every listed file.
    path : Path or None
        The YAML file it was read from.
    """

    id: str
    title: str
    modality: str
    source: dict
    access: dict
    license: dict
    citation: dict
    total_size: dict
    mirror_folder: str
    subsets: dict
    files: tuple[ManifestFile, ...]
    path: Path | None = None
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def license_label(self) -> str:
        """The SPDX id or the license name."""
        return self.license.get("spdx") or self.license["name"]

    def subset_files(self, subset: str) -> list[ManifestFile]:
        """Return the files of a named subset, in manifest order.

        Raises
        ------
        NeuroalignError
            If the subset is unknown.
        """
        if subset not in self.subsets:
            raise NeuroalignError(
                f"{self.where}: dataset {self.id!r} has no subset {subset!r}; its subsets are "
                f"{', '.join(self.subsets)}.{suggest(subset, self.subsets)}"
            )
        patterns = self.subsets[subset]["include"]
        return [f for f in self.files if any(glob_match(p, f.path) for p in patterns)]

    @property
    def where(self) -> str:
        """The manifest file, or the dataset id when it was not read from a file."""
        return str(self.path) if self.path is not None else f"manifest {self.id!r}"


@cache
def _glob_regex(pattern: str) -> re.Pattern:
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


def glob_match(pattern: str, path: str) -> bool:
    """Return True if a POSIX ``path`` matches a glob ``pattern``.

    ``*`` and ``?`` stay within one folder; ``**`` spans folders (``a/**/b`` also matches
    ``a/b``). A pattern without wildcards matches only that exact path.

    Examples
    --------
    >>> glob_match("sub-01/**/*.tsv", "sub-01/ses-0/meg/x_events.tsv")
    True
    >>> glob_match("*.csv", "reading/a.csv")
    False
    """
    return _glob_regex(pattern).match(path) is not None


def manifest_from_dict(doc: Mapping[str, Any], source: str | Path) -> Manifest:
    """Validate a manifest document and return it as a :class:`Manifest`.

    Parameters
    ----------
    doc : mapping
        The loaded YAML document (not modified).
    source : str or Path
        Where the document came from; a path's stem must equal ``id``.

    Returns
    -------
    manifest : Manifest

    Raises
    ------
    NeuroalignError
        One line naming the file, the field and the fix.
    """
    if not isinstance(doc, Mapping):
        raise NeuroalignError(f"{source}: a manifest must be a YAML mapping (key: value).")
    doc = validate(copy.deepcopy(dict(doc)), "manifest", source)
    path = Path(source) if isinstance(source, Path) or str(source).endswith(".yaml") else None
    if path is not None and path.stem != doc["id"]:
        raise NeuroalignError(
            f"{source}: field 'id' is {doc['id']!r} but the file is named {path.name!r}; "
            f"rename the file to {doc['id']}.yaml or change the id."
        )
    files = tuple(_file_from_dict(f, doc["mirror_folder"]) for f in doc["files"])
    seen: set[str] = set()
    for i, f in enumerate(files):
        if f.path in seen:
            raise NeuroalignError(f"{source}: field 'files.{i}.path': {f.path!r} is listed twice.")
        seen.add(f.path)
    for name, subset in doc["subsets"].items():
        if subset["partial"]:
            continue
        for pattern in subset["include"]:
            if not any(glob_match(pattern, f.path) for f in files):
                raise NeuroalignError(
                    f"{source}: field 'subsets.{name}.include': {pattern!r} matches no file in "
                    "'files'; fix the pattern, or add the files (neuroalign manifest lock "
                    "--add-missing), or mark the subset 'partial: true'."
                )
    return Manifest(
        id=doc["id"],
        title=doc["title"],
        modality=doc["modality"],
        source=doc["source"],
        access=doc["access"],
        license=doc["license"],
        citation=doc["citation"],
        total_size=doc["total_size"],
        mirror_folder=doc["mirror_folder"],
        subsets=doc["subsets"],
        files=files,
        path=path,
        description=doc.get("description", ""),
        raw=doc,
    )


def _file_from_dict(entry: Mapping[str, Any], mirror_folder: str) -> ManifestFile:
    return ManifestFile(
        path=entry["path"],
        url=entry.get("url"),
        size=entry.get("size"),
        sha256=entry.get("sha256"),
        mirror=entry.get("mirror") or f"{mirror_folder}/{entry['path']}",
        member=entry.get("member"),
        archive_sha256=entry.get("archive_sha256"),
        archive=entry.get("archive"),
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate one manifest file.

    Parameters
    ----------
    path : str or Path
        A ``<id>.yaml`` manifest.

    Returns
    -------
    manifest : Manifest
    """
    path = Path(path)
    return manifest_from_dict(load_yaml(path), path)


def list_manifests(manifests_dir: str | Path) -> list[Path]:
    """Return the manifest files (``*.yaml``) of a folder, sorted by name.

    Raises
    ------
    NeuroalignError
        If the folder does not exist.
    """
    manifests_dir = Path(manifests_dir)
    if not manifests_dir.is_dir():
        raise NeuroalignError(
            f"manifest folder not found: {manifests_dir}. Pass --manifests (or config "
            "data.manifests) pointing at the data_manifests folder."
        )
    return sorted(manifests_dir.glob("*.yaml"))


def find_manifest(dataset: str | Path, manifests_dir: str | Path) -> Manifest:
    """Load the manifest of a dataset given by id (or by a path to a ``.yaml`` file).

    Parameters
    ----------
    dataset : str or Path
        A dataset id (``megmasc``) or a manifest path.
    manifests_dir : str or Path
        Folder of manifests to look the id up in.

    Returns
    -------
    manifest : Manifest

    Raises
    ------
    NeuroalignError
        If there is no such manifest; the message lists close ids.
    """
    text = str(dataset)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return load_manifest(text)
    candidate = Path(manifests_dir) / f"{text}.yaml"
    if not candidate.is_file():
        known = [p.stem for p in list_manifests(manifests_dir)]
        raise NeuroalignError(
            f"no manifest for dataset {text!r} in {manifests_dir}; known datasets: "
            f"{', '.join(known) or 'none'}.{suggest(text, known)}"
        )
    return load_manifest(candidate)
