"""Fetch a dataset subset from its manifest into ``<data>/raw/<id>/``.

Files come from upstream or from a mirror (a local folder or an http(s) base URL) and are
checked for size and sha256 before they are moved into place; a cut download is resumed on
the next run; files already present and verified are not downloaded again. Datasets whose
provider asks users to register are refused until the user records acceptance of the terms.
When every file is in place, a stamp ``.neuroalign-fetch-<subset>.json`` is written; workflow
rules use it as the fetch output.

Which mirror is used follows one rule (`resolve_mirror`), from the command line, the workflow
and Python alike: the explicit ``--mirror`` flag (``mirror=`` argument) > the environment
variable ``NEUROALIGN_MIRROR`` > the configuration's ``data.mirror`` > none. A level that is
not given (None, or the variable unset) defers to the next; an empty string at any level turns
the mirror off there, whatever the levels below say.

`fetch` is the stage: the ``data`` section of the configuration (`FetchSettings`) plus the
dataset and subset, as ``neuroalign fetch`` and the workflow's ``fetch_dataset`` rule run it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pooch

from neuroalign import __version__
from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file, write_json_atomic, write_text_atomic
from neuroalign.data.archive import extract_archive, extract_member
from neuroalign.data.dataset_lock import dataset_lock
from neuroalign.data.download import LocalCopier, RangeDownloader
from neuroalign.data.manifest import Manifest, ManifestFile, find_manifest, load_manifest
from neuroalign.settings import StageSettings

__all__ = [
    "MIRROR_ENV",
    "FetchSettings",
    "Mirror",
    "fetch",
    "fetch_dataset",
    "resolve_mirror",
    "stamp_path",
    "terms_marker_path",
]

logger = logging.getLogger(__name__)

MIRROR_ENV = "NEUROALIGN_MIRROR"
_ARCHIVE_CACHE = ".archives"


@dataclass(frozen=True)
class Mirror:
    """A mirror of the upstream sources: a local folder or an http(s) base URL."""

    root: str
    is_url: bool

    def locate(self, mirror_path: str) -> str:
        """Return the URL or local path of a file at ``mirror_path`` inside the mirror.

        Raises
        ------
        NeuroalignError
            If ``mirror_path`` is absolute or has ``..`` parts (it would read outside the
            mirror); the manifest schema refuses those, this guards callers that skip it.
        """
        parts = Path(mirror_path).parts
        if Path(mirror_path).is_absolute() or ".." in parts or "\\" in mirror_path:
            raise NeuroalignError(
                f"mirror path {mirror_path!r} leads outside the mirror; a manifest's "
                "mirror_folder and mirror paths are relative paths inside it, without '..'."
            )
        if self.is_url:
            return f"{self.root.rstrip('/')}/{quote(mirror_path)}"
        return str(Path(self.root) / mirror_path)


def resolve_mirror(
    flag: str | Path | None = None, config: str | Path | None = None
) -> Mirror | None:
    """Return the mirror to use: ``flag`` > ``$NEUROALIGN_MIRROR`` > ``config`` > none.

    The first level that is given decides: None (or the environment variable unset) defers to
    the next level; an empty string turns the mirror off at its level.

    Parameters
    ----------
    flag : str or Path, optional
        The explicit choice (``neuroalign fetch --mirror``, or ``mirror=`` in Python): a local
        folder or an http(s) base URL; ``""`` turns the mirror off.
    config : str or Path, optional
        The configuration's ``data.mirror``, used when neither the flag nor the environment
        variable is given.

    Returns
    -------
    mirror : Mirror or None

    Raises
    ------
    NeuroalignError
        If the mirror is a URL of another scheme or a folder that does not exist.
    """
    if flag is not None:
        value = str(flag)
    elif MIRROR_ENV in os.environ:
        value = os.environ[MIRROR_ENV]
    else:
        value = "" if config is None else str(config)
    if not value:
        return None
    if "://" in value:
        if not re.match(r"https?://", value):
            raise NeuroalignError(
                f"mirror {value!r}: only http(s) URLs or local folders are supported."
            )
        return Mirror(value, is_url=True)
    path = Path(value).expanduser()
    if not path.is_dir():
        raise NeuroalignError(
            f"mirror folder not found: {path}. Fix --mirror, {MIRROR_ENV} or data.mirror, or "
            "pass an http(s) URL."
        )
    return Mirror(str(path.resolve()), is_url=False)


def stamp_path(dest_root: str | Path, dataset: str, subset: str) -> Path:
    """Path of the completion stamp of a fetched subset."""
    return Path(dest_root) / "raw" / dataset / f".neuroalign-fetch-{subset}.json"


def terms_marker_path(dest_root: str | Path, dataset: str) -> Path:
    """Path of the file that records the user's acceptance of a dataset's terms."""
    return Path(dest_root) / "raw" / dataset / ".terms-accepted"


def fetch_dataset(
    manifest: Manifest | str | Path,
    dest_root: str | Path,
    subset: str = "starter",
    mirror: str | Path | None = None,
    accept_terms: bool = False,
    *,
    config_mirror: str | Path | None = None,
    accepted: Iterable[str] = (),
    allow_unverified: bool = False,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progressbar: bool = True,
    deadline: float | None = None,
) -> Path:
    """Fetch a named subset of a dataset into ``<dest_root>/raw/<id>/``.

    Parameters
    ----------
    manifest : Manifest or str or Path
        The dataset manifest (or the path of its YAML file).
    dest_root : str or Path
        Data root; files go to ``<dest_root>/raw/<id>/<file path>``.
    subset : str
        Named subset of the manifest (``"starter"``, ``"full"``, ...).
    mirror : str or Path, optional
        A local folder or an http(s) base URL replacing the upstream sources (the explicit
        choice: `resolve_mirror` gives the precedence); ``""`` turns it off. A file is looked
        up at its ``mirror`` path (default ``<mirror_folder>/<path>``) inside the mirror.
    accept_terms : bool
        Record that the user accepted the dataset's terms (for datasets with
        ``access.registration_required``); writes ``<dest_root>/raw/<id>/.terms-accepted``.
    config_mirror : str or Path, optional
        The configuration's ``data.mirror``, used when neither ``mirror`` nor
        ``$NEUROALIGN_MIRROR`` is given.
    accepted : iterable of str
        Dataset ids whose terms the user accepted in the configuration (``data.accept_terms``).
    allow_unverified : bool
        Fetch files whose sha256 the manifest does not give.
    retries, backoff, timeout : int, float, float
        Download retries on 5xx and connection errors, the first wait in seconds (doubled
        each retry) and the network timeout in seconds (per connection and per read).
    progressbar : bool
        Show download progress on stderr.
    deadline : float, optional
        Overall deadline of the whole fetch in seconds: a download still running then stops
        with an error, its partial file kept for the next run. None: no deadline.

    Returns
    -------
    stamp : Path
        The completion stamp ``<dest_root>/raw/<id>/.neuroalign-fetch-<subset>.json``: files,
        sizes, sha256, source URLs (or mirror paths), license, citation and date.

    Raises
    ------
    NeuroalignError
        Unknown or partially listed subset, unaccepted terms, unverified files without
        ``allow_unverified``, a failed download, or a size or checksum mismatch (the bad
        download is deleted).
    """
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    files = manifest.subset_files(subset)
    if manifest.subsets[subset]["partial"]:
        raise NeuroalignError(
            f"{manifest.where}: subset {subset!r} of {manifest.id!r} is only partly listed "
            "(partial: true). Add its files from a listing of the upstream dataset with "
            f"`neuroalign manifest lock {manifest.where} --listing <file> --add-missing`."
        )
    unverified = [f.path for f in files if not f.verified]
    if unverified and not allow_unverified:
        raise NeuroalignError(
            f"{manifest.where}: {len(unverified)} file(s) of subset {subset!r} have no sha256 "
            f"(first: {unverified[0]}). Pass --allow-unverified to fetch them unchecked, or "
            f"fill in the checksums first with `neuroalign manifest lock {manifest.where} "
            "--listing <file>`."
        )
    dataset_dir = Path(dest_root) / "raw" / manifest.id
    source = resolve_mirror(mirror, config_mirror)
    mirror_only = [f.path for f in files if f.url is None]
    if mirror_only and source is None:
        raise NeuroalignError(
            f"{manifest.where}: {len(mirror_only)} file(s) of subset {subset!r} (first: "
            f"{mirror_only[0]}) have no upstream URL and exist only in a mirror; pass --mirror "
            f"(or set {MIRROR_ENV} or data.mirror)."
        )
    _check_terms(manifest, dest_root, accept_terms, accepted)
    _log_terms_of_use(manifest)
    retrieve_opts = {
        "retries": retries,
        "backoff": backoff,
        "timeout": timeout,
        "progressbar": progressbar,
        "deadline": None if deadline is None else time.monotonic() + deadline,
        "deadline_s": deadline,
    }
    # One writer of a dataset at a time: a second fetch (or a simulation of the same folder)
    # waits here, then skips what the first verified, so two never write, or sweep the
    # staging folders of, the same files.
    with dataset_lock(dataset_dir, holder="fetch", deadline=retrieve_opts["deadline"]):
        _remove_stale_staging(dataset_dir)
        records = []
        for entry in files:
            target = dataset_dir / entry.path
            if _is_complete(target, entry):
                logger.debug("%s: already present and verified", target)
                origin, downloaded = _origin(entry, source), False
            else:
                origin = _fetch_file(entry, target, dataset_dir, source, retrieve_opts)
                downloaded = True
            if entry.archive:
                extract_to = dataset_dir / entry.archive["extract_to"]
                if downloaded or not extract_to.is_dir():
                    extract_archive(target, entry.archive["format"], extract_to)
            records.append(
                {
                    "path": entry.path,
                    "size": target.stat().st_size,
                    "sha256": entry.sha256 or sha256_file(target),
                    "verified": entry.verified,
                    "url": origin,
                    "downloaded": downloaded,
                }
            )
        shutil.rmtree(dataset_dir / _ARCHIVE_CACHE, ignore_errors=True)
        stamp = stamp_path(dest_root, manifest.id, subset)
        write_json_atomic(
            stamp,
            {
                "id": manifest.id,
                "title": manifest.title,
                "subset": subset,
                "manifest": str(manifest.path) if manifest.path else None,
                "mirror": source.root if source else None,
                "license": _license_text(manifest),
                "citation": _citation_text(manifest),
                "files": records,
                "n_files": len(records),
                "total_bytes": sum(r["size"] for r in records),
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "neuroalign_version": __version__,
            },
        )
    logger.info("%s (%s): %d file(s) in %s", manifest.id, subset, len(records), dataset_dir)
    return stamp


@dataclass(frozen=True)
class FetchSettings(StageSettings):
    """Where datasets live and come from: the ``data`` section of the configuration.

    Attributes
    ----------
    root : str
        Data root; datasets go to ``<root>/raw/<dataset>/``.
    manifests : str
        Folder of the dataset manifests.
    mirror : str or None
        The configuration's mirror (the lowest level of `resolve_mirror`'s precedence).
    accept_terms : tuple of str
        Datasets whose registration terms the user accepted.
    fetch_timeout : float or None
        Overall deadline of one fetch in seconds (None: none).
    """

    SECTION: ClassVar[str] = "#/properties/data"

    root: str = "data"
    manifests: str = "data_manifests"
    mirror: str | None = None
    accept_terms: tuple[str, ...] = ()
    fetch_timeout: float | None = 21600


def fetch(
    settings: FetchSettings,
    dataset: str,
    *,
    subset: str = "starter",
    data_dir: str | Path | None = None,
    manifests: str | Path | None = None,
    mirror: str | Path | None = None,
    accept_terms: bool = False,
    allow_unverified: bool = False,
    retries: int = 4,
    progressbar: bool = True,
    deadline: float | None = -1,
) -> Path:
    """Fetch a subset of a dataset as the configuration says; return the stamp's path.

    Parameters
    ----------
    settings : FetchSettings
        The ``data`` section: data root, manifests folder, configured mirror, accepted terms.
    dataset : str
        A manifest id (``<manifests>/<dataset>.yaml``) or the path of a manifest file.
    subset : str
        Named subset of the manifest.
    data_dir, manifests : str or Path, optional
        Override ``settings.root`` and ``settings.manifests`` (paths given by the caller).
    mirror : str or Path, optional
        The explicit mirror choice, above ``$NEUROALIGN_MIRROR`` and ``settings.mirror``;
        ``""`` turns the mirror off.
    accept_terms, allow_unverified, retries, progressbar
        As in `fetch_dataset`.
    deadline : float or None, optional
        Overall deadline in seconds (``--timeout``); default ``settings.fetch_timeout``;
        None: no deadline.

    Returns
    -------
    stamp : Path
        ``<data_dir>/raw/<id>/.neuroalign-fetch-<subset>.json``.

    Examples
    --------
    >>> fetch(FetchSettings.from_config({"mirror": "../shared/data"}), "blimp")  # doctest: +SKIP
    """
    manifest = find_manifest(dataset, manifests or settings.manifests)
    return fetch_dataset(
        manifest,
        data_dir or settings.root,
        subset=subset,
        mirror=mirror,
        accept_terms=accept_terms,
        config_mirror=settings.mirror,
        accepted=settings.accept_terms,
        allow_unverified=allow_unverified,
        retries=retries,
        progressbar=progressbar,
        deadline=settings.fetch_timeout if deadline == -1 else deadline,
    )


def _check_terms(
    manifest: Manifest, dest_root: str | Path, accept_terms: bool, accepted: Iterable[str]
) -> None:
    access = manifest.access
    if not access["registration_required"]:
        return
    marker = terms_marker_path(dest_root, manifest.id)
    if accept_terms:
        write_text_atomic(
            marker,
            f"dataset: {manifest.id}\nterms_url: {access['terms_url']}\n"
            f"accepted: {datetime.now(UTC).isoformat(timespec='seconds')}\n",
        )
        logger.info("%s: recorded acceptance of the terms at %s", manifest.id, access["terms_url"])
        return
    if marker.is_file() or manifest.id in set(accepted):
        return
    raise NeuroalignError(
        f"dataset {manifest.id!r} requires registration and acceptance of its terms: read "
        f"{access['terms_url']}, register with the provider, then rerun with --accept-terms "
        f"(or add {manifest.id!r} to config data.accept_terms)."
    )


def _license_text(manifest: Manifest) -> str:
    lic = manifest.license
    text = manifest.license_label + (f" ({lic['url']})" if lic.get("url") else "")
    return text + (f"; {lic['notes']}" if lic.get("notes") else "")


def _citation_text(manifest: Manifest) -> str:
    cite = manifest.citation
    text = cite["text"] + (f" doi:{cite['doi']}" if cite.get("doi") else "")
    return "; ".join([text, *cite.get("also", [])])


def _log_terms_of_use(manifest: Manifest) -> None:
    logger.info("%s: license: %s", manifest.id, _license_text(manifest))
    logger.info("%s: please cite: %s", manifest.id, _citation_text(manifest))


def _is_complete(target: Path, entry: ManifestFile) -> bool:
    if not target.is_file():
        return False
    if entry.size is not None and target.stat().st_size != entry.size:
        return False
    return entry.sha256 is None or sha256_file(target) == entry.sha256


def _origin(entry: ManifestFile, mirror: Mirror | None) -> str | None:
    return mirror.locate(entry.mirror) if mirror else entry.url


def _fetch_file(
    entry: ManifestFile,
    target: Path,
    dataset_dir: Path,
    mirror: Mirror | None,
    opts: dict,
) -> str:
    """Put one verified file at ``target``; return where it came from."""
    if not target.resolve().is_relative_to(dataset_dir.resolve()):
        raise NeuroalignError(f"file path {entry.path!r} leaves the dataset folder; fix it.")
    target.unlink(missing_ok=True)
    if mirror is not None:
        location = mirror.locate(entry.mirror)
        downloader = (
            RangeDownloader(_part(target), size=entry.size, **opts)
            if mirror.is_url
            else LocalCopier(size=entry.size)
        )
        _retrieve(location, target, entry.sha256, downloader)
        return location
    if entry.member is None:
        downloader = RangeDownloader(_part(target), size=entry.size, **opts)
        _retrieve(entry.url, target, entry.sha256, downloader)
        return entry.url
    archive = _cached_archive(entry, dataset_dir, opts)
    part = _part(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    extract_member(archive, entry.member, part)
    _verify_file(part, entry, f"{entry.url} (member {entry.member})")
    os.replace(part, target)
    return f"{entry.url}#{entry.member}"


def _cached_archive(entry: ManifestFile, dataset_dir: Path, opts: dict) -> Path:
    """Download (once per run) the archive that holds ``entry`` and return its path."""
    key = hashlib.sha256(entry.url.encode()).hexdigest()[:12]
    name = entry.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "archive"
    path = dataset_dir / _ARCHIVE_CACHE / f"{key}-{name}"
    if path.is_file() and (
        entry.archive_sha256 is None or sha256_file(path) == entry.archive_sha256
    ):
        return path
    path.unlink(missing_ok=True)
    _retrieve(entry.url, path, entry.archive_sha256, RangeDownloader(_part(path), **opts))
    return path


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _verify_file(path: Path, entry: ManifestFile, origin: str) -> None:
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        path.unlink()
        raise NeuroalignError(
            f"{entry.path}: {origin} has {size} bytes but the manifest says {entry.size}; it "
            "was deleted. Check the source, then fix the manifest (neuroalign manifest lock)."
        )
    if entry.sha256 is not None:
        got = sha256_file(path)
        if got != entry.sha256:
            path.unlink()
            raise _checksum_error(entry.path, origin, entry.sha256, got)


def _checksum_error(name: str, origin: str, expected: str, got: str) -> NeuroalignError:
    return NeuroalignError(
        f"{name}: checksum mismatch for {origin}: expected sha256 {expected}, got {got}; the "
        "download was deleted. Retry; if it persists, the source changed or is corrupt: check "
        "it and update the manifest (neuroalign manifest lock), or use another mirror."
    )


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's own INFO messages (we log our own) and restore its level after."""
    pooch_logger = pooch.get_logger()
    level = pooch_logger.level
    pooch_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        pooch_logger.setLevel(level)


#: Suffix of the hidden folder a file is received in before it is moved into place.
STAGING_SUFFIX = ".fetching"


def _staging(target: Path) -> Path:
    """The hidden folder beside ``target`` where it is received (``.<name>.fetching``)."""
    return target.with_name(f".{target.name}{STAGING_SUFFIX}")


def _remove_stale_staging(dataset_dir: Path) -> None:
    """Remove what a killed earlier run left in staging folders (never data: hidden names)."""
    if not dataset_dir.is_dir():
        return
    for stale in dataset_dir.rglob(f".*{STAGING_SUFFIX}"):
        logger.info("removing %s, left by an interrupted fetch", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _retrieve(location: str, target: Path, sha256: str | None, downloader) -> None:
    """Download or copy ``location`` to ``target`` through pooch, checking sha256.

    pooch receives the file under a temporary name in a hidden staging folder beside
    ``target`` (``.<name>.fetching``), so a process killed mid-copy leaves no file that looks
    like data; the next fetch removes such folders.
    """
    known_hash = f"sha256:{sha256}" if sha256 else None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging(target)
    staging.mkdir(exist_ok=True)
    try:
        with _quiet_pooch():
            pooch.retrieve(
                location,
                known_hash=known_hash,
                fname=target.name,
                path=staging,
                downloader=downloader,
            )
        received = staging / target.name
        received.chmod(0o666 & ~_umask())  # pooch's temporary file is private (0600)
        os.replace(received, target)
    except ValueError as err:
        match = re.search(r"but got ([0-9a-f]{64})", str(err))
        got = match.group(1) if match else "a different hash"
        raise _checksum_error(target.name, location, sha256 or "", got) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
