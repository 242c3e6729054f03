"""What the report records about how it was made: versions, platform, configuration, checksums."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
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


#: The provenance attributes of a result the provenance page shows, with their labels.
RESULT_FIELDS = {
    "stage": "stage",
    "git_commit": "git commit",
    "config_file": "config file",
    "config_file_sha256": "config file sha256",
    "config_hash": "settings hash",
    "model_source": "model source",
    "model_revision": "model revision",
    "weights_sha256": "weights sha256",
    "input_sha256": "inputs sha256",
}


def _read_attrs(path: Path) -> dict[str, Any] | None:
    """The attrs of a netCDF result or an activation store; None for other files."""
    from neuroalign.results import is_activation_store, load_netcdf, open_activations

    try:
        if path.is_file() and path.suffix == ".nc":
            return dict(load_netcdf(path).attrs)
        if path.is_dir() and is_activation_store(path):
            ds = open_activations(path)
            try:
                return dict(ds.attrs)
            finally:
                ds.close()
    except (OSError, ValueError, KeyError, NeuroalignError):  # shown as such, never fatal
        return {"stage": "unreadable"}
    return None


def _json_map(value: Any) -> str:
    """``name: value`` pairs of a JSON object attribute (its text otherwise)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def result_provenance(inputs: Mapping[str, Path]) -> list[dict[str, str]]:
    """What each result file the report read records about how it was made.

    Parameters
    ----------
    inputs : mapping of str to Path
        Display name -> path (the report's inputs); only netCDF results and activation
        stores are read.

    Returns
    -------
    rows : list of dict
        ``file`` and every key of :data:`RESULT_FIELDS` (``""`` where not recorded), sorted
        by file.
    """
    rows = []
    for name in sorted(inputs):
        attrs = _read_attrs(inputs[name])
        if attrs is None:
            continue
        row = {"file": name}
        for key in RESULT_FIELDS:
            value = attrs.get(key, "")
            row[key] = _json_map(value) if key in ("weights_sha256", "input_sha256") else str(value)
        rows.append(row)
    return rows
