"""Atomic writes, checksums and provenance shared by every stage that writes a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from neuroalign import __version__


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    A job killed half-way leaves only a hidden ``.tmp`` file, never a file at ``path`` that
    looks complete. Works for files and for directories (a Zarr store, a BIDS folder).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written to {path}")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def config_hash(config: Mapping[str, Any]) -> str:
    """Return a short stable hash of a configuration mapping (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout the package runs from (``+dirty`` with local changes), or None.

    None when the package is installed from a wheel, or git is missing or fails.
    """
    here = Path(__file__).resolve().parent
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), None)
    if root is None:
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit or None


def provenance(
    *,
    stage: str,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str | Path] | None = None,
    seed: int | None = None,
    **extra: Any,
) -> dict[str, str]:
    """Return provenance attributes for a result file.

    Parameters
    ----------
    stage : str
        The stage that made the result (``"simulate"``, ``"stimuli"``, ...).
    config : mapping, optional
        The settings the stage ran with; stored as JSON and as a short hash.
    inputs : mapping of str to path, optional
        Input files; their sha256 checksums are stored.
    seed : int, optional
        The random seed, if the stage is random.
    **extra
        Other attributes (model id, revision, ...), stored as strings.

    Returns
    -------
    attrs : dict of str to str
        Flat string attributes, ready for netCDF/Zarr attrs or a JSON sidecar.
    """
    attrs = {
        "neuroalign_version": __version__,
        "stage": stage,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    commit = git_commit()
    if commit is not None:
        attrs["git_commit"] = commit
    if config is not None:
        attrs["config"] = json.dumps(config, sort_keys=True, default=str)
        attrs["config_hash"] = config_hash(config)
    if inputs:
        attrs["input_sha256"] = json.dumps(
            {name: sha256_file(p) for name, p in inputs.items() if Path(p).is_file()},
            sort_keys=True,
        )
    if seed is not None:
        attrs["seed"] = str(seed)
    attrs.update(
        {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in extra.items()}
    )
    return attrs
