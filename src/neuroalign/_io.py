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
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from neuroalign import __version__


@contextlib.contextmanager
def naming(path: str | Path, temporary: str | Path | None = None) -> Iterator[None]:
    """Give an ``OSError`` raised inside the block the path it was writing, if it has none.

    ``write()`` and ``copyfile`` report a full disk without a file name; the command line
    names the path in its one-line message, so the writer says which one it was. A name
    inside ``temporary`` (the hidden folder a file is built in) becomes the same name under
    ``path``, the one the user knows.
    """
    try:
        yield
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        elif temporary is not None:
            with contextlib.suppress(ValueError):
                err.filename = str(Path(path) / Path(err.filename).relative_to(temporary))
        raise


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
        with naming(path, temporary=target):
            yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written to {path}")
        if path.is_dir() and not path.is_symlink():
            # the previous folder leaves in one rename and is deleted from the hidden folder
            # after the new one took its place: a kill at any moment leaves the old folder or
            # the new one whole (or, between the two renames, none), never a half-deleted one
            os.replace(path, tmp / ".previous")
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


#: The environment variable naming the folder of the checksum cache (default
#: ``$XDG_CACHE_HOME/neuroalign``, else ``~/.cache/neuroalign``).
CACHE_ENV = "NEUROALIGN_CACHE"


def cache_dir() -> Path:
    """The folder of neuroalign's caches (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "neuroalign"


def sha256_cached(path: str | Path) -> str:
    """The sha256 of a (large) file, hashed once and cached by path, size and mtime.

    The cache is a JSON file in :func:`cache_dir`; an entry whose file changed size or
    modification time is recomputed. A cache that cannot be read or written is ignored.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    cache = cache_dir() / "sha256.json"
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):
        entries = {}
    if isinstance(entries, dict) and isinstance(entries.get(key), str):
        return entries[key]
    digest = sha256_file(path)
    if not isinstance(entries, dict):
        entries = {}
    # keep one entry per path: the stale ones of a changed file go
    entries = {k: v for k, v in entries.items() if not k.startswith(f"{path}|")}
    entries[key] = digest
    with contextlib.suppress(OSError):
        write_json_atomic(cache, entries)
    return digest


#: The configuration (settings) file the running command read, recorded by :func:`provenance`.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("neuroalign_config_file", default=None)


@contextlib.contextmanager
def recording_config_file(path: str | Path | None) -> Iterator[None]:
    """Within the block, every :func:`provenance` records ``path`` and its sha256."""
    token = _CONFIG_FILE.set(None if path is None else Path(path).absolute())
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


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
        The settings the stage ran with; stored as JSON and as a short hash. The settings
        file the command read (:func:`recording_config_file`) is stored with its sha256.
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
    config_file = _CONFIG_FILE.get()
    if config_file is not None and config_file.is_file():
        attrs["config_file"] = str(config_file)
        attrs["config_file_sha256"] = sha256_file(config_file)
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
