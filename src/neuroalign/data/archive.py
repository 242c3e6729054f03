"""Unpack zip and tar archives safely.

A downloaded archive is untrusted input: a member named ``../../.bashrc`` or ``/etc/x``, or a
symlink pointing out of the folder, could write outside it. Every member is checked before
anything is written, and the folder appears only once everything is unpacked.
"""

from __future__ import annotations

import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path

__all__ = ["extract_archive", "extract_member", "guess_format"]


def _check_name(archive: Path, name: str) -> str:
    """Return the normalized member name, or raise if it would leave the target folder."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")):
        raise NeuroalignError(
            f"{archive}: member {name!r} has an absolute path; refusing to unpack this archive."
        )
    if ".." in pure.parts:
        raise NeuroalignError(
            f"{archive}: member {name!r} contains '..'; refusing to unpack this archive."
        )
    return str(pure)


def _check_link(archive: Path, name: str, target: str) -> None:
    """Raise if a link member ``name`` -> ``target`` points outside the target folder."""
    if target.startswith("/") or target.startswith("\\"):
        raise NeuroalignError(
            f"{archive}: link {name!r} points to the absolute path {target!r}; refusing to "
            "unpack this archive."
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise NeuroalignError(
            f"{archive}: link {name!r} points outside the archive ({target!r}); refusing to "
            "unpack this archive."
        )


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        name = _check_name(archive, info.filename)
        if _zip_is_symlink(info):
            _check_link(archive, name, zf.read(info).decode("utf-8", "replace"))


def _check_tar(archive: Path, tf: tarfile.TarFile) -> None:
    for member in tf.getmembers():
        name = _check_name(archive, member.name)
        if member.issym():
            _check_link(archive, name, member.linkname)
        elif member.islnk():
            _check_name(archive, member.linkname)
        elif not (member.isfile() or member.isdir()):
            raise NeuroalignError(
                f"{archive}: member {member.name!r} is a device or fifo; refusing to unpack."
            )


def _open(archive: Path, fmt: str):
    if fmt == "zip":
        if not zipfile.is_zipfile(archive):
            raise NeuroalignError(f"{archive}: not a zip archive; check 'archive.format'.")
        return zipfile.ZipFile(archive)
    if fmt == "tar":
        if not tarfile.is_tarfile(archive):
            raise NeuroalignError(f"{archive}: not a tar archive; check 'archive.format'.")
        return tarfile.open(archive)
    raise NeuroalignError(f"{archive}: unknown archive format {fmt!r}; use zip or tar.")


def guess_format(archive: str | Path) -> str:
    """Return ``"zip"`` or ``"tar"`` from the archive's content."""
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise NeuroalignError(f"{archive}: neither a zip nor a tar archive.")


def extract_archive(archive: str | Path, fmt: str, dest: str | Path) -> Path:
    """Unpack a whole archive into ``dest`` after checking every member.

    Parameters
    ----------
    archive : str or Path
        The zip or tar file.
    fmt : {"zip", "tar"}
        Its format.
    dest : str or Path
        Folder to create; it appears (atomically) only when everything is unpacked, and
        replaces an older folder of the same name.

    Returns
    -------
    dest : Path

    Raises
    ------
    NeuroalignError
        If a member has an absolute path or ``..``, is a link pointing outside ``dest``, or is
        a device file; nothing is written then.
    """
    archive, dest = Path(archive), Path(dest)
    with _open(archive, fmt) as handle:
        if fmt == "zip":
            _check_zip(archive, handle)
        else:
            _check_tar(archive, handle)
        with atomic_path(dest) as tmp:
            tmp.mkdir()
            if fmt == "zip":
                handle.extractall(tmp)
            else:
                handle.extractall(tmp, filter="data")
    return dest


def extract_member(archive: str | Path, member: str, out: str | Path) -> Path:
    """Copy one member of a zip or tar archive to the file ``out``.

    ``member`` is the member's path, or its file name when exactly one member has that name
    (macOS ``__MACOSX/`` entries are ignored).

    Returns
    -------
    out : Path

    Raises
    ------
    NeuroalignError
        If no member (or more than one) matches.
    """
    archive, out = Path(archive), Path(out)
    fmt = guess_format(archive)
    with _open(archive, fmt) as handle:
        names = handle.namelist() if fmt == "zip" else handle.getnames()
        names = [n for n in names if not n.startswith("__MACOSX/")]
        matches = [n for n in names if n == member] or [
            n for n in names if PurePosixPath(n).name == member
        ]
        if len(matches) != 1:
            what = "no member" if not matches else f"{len(matches)} members"
            raise NeuroalignError(
                f"{archive}: {what} named {member!r}; fix 'member' in the manifest."
            )
        if fmt == "zip":
            source = handle.open(matches[0])
        else:
            source = handle.extractfile(matches[0])
            if source is None:
                raise NeuroalignError(f"{archive}: member {member!r} is not a regular file.")
        with source, open(out, "wb") as target:
            shutil.copyfileobj(source, target)
    return out
