"""What the report records about how it was made: versions, platform, configuration, checksums."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from neuroalign._io import sha256_file

#: Distributions whose versions the provenance page lists (when installed).
PACKAGES = (
    "neuroalign",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "torch",
    "transformers",
    "mne",
    "nilearn",
    "snakemake",
    "matplotlib",
    "jinja2",
)


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution, read from its metadata (nothing is imported).

    Distributions that are not installed are left out.
    """
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, str]:
    """Python version and implementation, platform and the build time (UTC, ISO 8601)."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "executable": Path(sys.executable).name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def input_checksums(inputs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """Size and sha256 of every input file, sorted by name; folders and missing paths say so.

    Parameters
    ----------
    inputs : mapping of str to Path
        Display name -> path.

    Returns
    -------
    rows : list of dict
        Keys ``path``, ``size`` (bytes or None) and ``sha256`` (hex, or a note such as
        ``"missing"`` or ``"folder"``).
    """
    rows = []
    for name in sorted(inputs):
        path = inputs[name]
        if path.is_file():
            rows.append({"path": name, "size": path.stat().st_size, "sha256": sha256_file(path)})
        elif path.is_dir():
            rows.append({"path": name, "size": None, "sha256": "folder"})
        else:
            rows.append({"path": name, "size": None, "sha256": "missing"})
    return rows
