"""Resumable HTTP downloads and local copies, as pooch downloaders.

pooch verifies the sha256 and moves a finished download into place atomically; these
downloaders add what pooch lacks: a ``.part`` file that survives a cut connection and is resumed
with an HTTP ``Range`` request, retries with exponential backoff on server errors and dropped
connections, a size check, and copies from a local mirror directory.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import requests
import urllib3
from tqdm.auto import tqdm

from neuroalign import __version__
from neuroalign._check import NeuroalignError
from neuroalign._io import naming

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _RetryableError(Exception):
    """A failure worth retrying (5xx status, dropped or refused connection)."""


class RangeDownloader:
    """A pooch downloader that resumes a ``.part`` file with HTTP Range requests.

    Bytes are appended to ``part_path`` as they arrive, so a cut connection keeps what was
    received; the next attempt (or the next run) asks for the rest with ``Range: bytes=N-``.
    A server that answers 206 continues the file; one that answers 200 (ignoring the range)
    restarts it. When the file is complete and has the expected size, it is renamed onto
    pooch's temporary file, which pooch then hashes and moves into place.

    Parameters
    ----------
    part_path : Path
        Where the partial download lives between attempts and runs.
    size : int, optional
        Expected size in bytes; a complete download of another size is deleted and refused.
    retries : int
        Attempts after the first, on 5xx responses and connection errors.
    backoff : float
        Seconds before the first retry; doubled on each later retry.
    timeout : float
        Seconds to wait for the server to connect or send data.
    progressbar : bool
        Show a tqdm progress bar on stderr.
    session : requests.Session, optional
        Session to use (connection pooling, custom adapters).
    deadline : float, optional
        ``time.monotonic()`` value after which the download stops (the partial file is kept):
        the overall deadline of a fetch, which per-read timeouts cannot give against a server
        that trickles bytes. None: no deadline.
    deadline_s : float, optional
        The deadline as a duration in seconds, named in the error message.
    """

    def __init__(
        self,
        part_path: str | Path,
        *,
        size: int | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        timeout: float = 60.0,
        progressbar: bool = True,
        session: requests.Session | None = None,
        deadline: float | None = None,
        deadline_s: float | None = None,
    ):
        self.part_path = Path(part_path)
        self.deadline = deadline
        self.deadline_s = deadline_s
        self.size = size
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.progressbar = progressbar
        self.session = session or requests.Session()

    def __call__(self, url: str, output_file: str | Path, pooch=None, check_only: bool = False):
        """Download ``url`` into ``output_file`` (pooch's downloader interface)."""
        if check_only:
            response = self.session.head(url, timeout=self.timeout, allow_redirects=True)
            return response.status_code == 200
        self.part_path.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            self._check_deadline(url)
            try:
                self._attempt(url)
                break
            except _RetryableError as err:
                if attempt >= self.retries:
                    raise NeuroalignError(
                        f"download of {url} failed after {attempt + 1} attempts ({err}); the "
                        f"partial file {self.part_path} is kept and resumed on the next run. "
                        "Check your connection, or use a mirror (--mirror)."
                    ) from None
                wait = min(self.backoff * 2**attempt, self._remaining())
                logger.warning("%s: %s; retrying in %.1f s", url, err, wait)
                time.sleep(wait)
                attempt += 1
        got = self.part_path.stat().st_size
        if self.size is not None and got != self.size:
            self.part_path.unlink()
            raise NeuroalignError(
                f"{url}: downloaded {got} bytes but the manifest says {self.size}; the download "
                "was deleted. The upstream file may have changed: check it, then fix 'size' in "
                "the manifest (neuroalign manifest lock)."
            )
        os.replace(self.part_path, output_file)
        return None

    def _remaining(self) -> float:
        """Seconds left before the deadline (infinite without one)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def _check_deadline(self, url: str) -> None:
        if self._remaining() > 0:
            return
        got = self.part_path.stat().st_size if self.part_path.exists() else 0
        limit = f" of {self.deadline_s:g} s" if self.deadline_s is not None else ""
        raise NeuroalignError(
            f"download of {url} passed the fetch's deadline{limit}; the partial file "
            f"{self.part_path} ({got} bytes) is kept and resumed on the next run. Raise "
            "--timeout (config data.fetch_timeout), or use a mirror (--mirror)."
        )

    def _timeout(self) -> float:
        """The per-request timeout, cut to what is left of the deadline."""
        return max(0.05, min(self.timeout, self._remaining()))

    def _attempt(self, url: str) -> None:
        offset = self.part_path.stat().st_size if self.part_path.exists() else 0
        if self.size is not None and offset > self.size:
            self.part_path.unlink()
            offset = 0
        # identity encoding: byte offsets of a resumed download must be those of the file
        headers = {"User-Agent": f"neuroalign/{__version__}", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=self._timeout())
        except (requests.ConnectionError, requests.Timeout) as err:
            raise _RetryableError(f"connection failed: {type(err).__name__}") from None
        with response:
            status = response.status_code
            if status == 416 and offset and offset == _total_from_416(response, self.size):
                return  # the part file is already complete
            if status == 416:
                self.part_path.unlink(missing_ok=True)
                raise _RetryableError("server refused the resume range; restarting")
            if status >= 500:
                raise _RetryableError(f"HTTP {status}")
            if status >= 400:
                raise NeuroalignError(
                    f"{url}: HTTP {status} {response.reason}. Check the URL in the manifest, "
                    "or use a mirror (--mirror)."
                )
            if status == 206:
                start, total = _parse_content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    self.part_path.unlink(missing_ok=True)
                    raise _RetryableError(f"server resumed at byte {start}, not {offset}")
                mode = "ab"
            else:
                offset, total, mode = 0, _int_or_none(response.headers.get("Content-Length")), "wb"
            self._stream(response, mode, offset, total or self.size, url)

    def _stream(self, response, mode: str, offset: int, total: int | None, url: str) -> None:
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=Path(self.part_path.name).stem[:40],
            file=sys.stderr,
            disable=not self.progressbar or None,
            leave=False,
        )
        written = offset
        try:
            with naming(self.part_path), open(self.part_path, mode) as out:
                # read1 hands over whatever arrived, so a cut connection loses no bytes
                while chunk := response.raw.read1(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                    if self.deadline is not None and self._remaining() <= 0:
                        out.flush()
                        self._check_deadline(url)
        except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as err:
            raise _RetryableError(f"connection dropped: {type(err).__name__}") from None
        finally:
            bar.close()
        if total is not None and written < total:
            raise _RetryableError(f"connection closed after {written} of {total} bytes")


class LocalCopier:
    """A pooch downloader that copies a file from a local mirror directory.

    Parameters
    ----------
    size : int, optional
        Expected size in bytes; a mirror file of another size is refused before copying.
    """

    def __init__(self, size: int | None = None):
        self.size = size

    def __call__(self, url: str, output_file: str | Path, pooch=None, check_only: bool = False):
        """Copy the local file ``url`` onto ``output_file``."""
        source = Path(url)
        if check_only:
            return source.is_file()
        if not source.is_file():
            raise NeuroalignError(
                f"{source}: not found in the mirror. Check --mirror / NEUROALIGN_MIRROR, or "
                "unset it to fetch from upstream."
            )
        got = source.stat().st_size
        if self.size is not None and got != self.size:
            raise NeuroalignError(
                f"{source}: the mirror's file has {got} bytes but the manifest says {self.size}; "
                "the mirror is out of date or the manifest is wrong."
            )
        with naming(output_file):
            shutil.copyfile(source, output_file)
        return None


def _parse_content_range(value: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        return -1, None
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _total_from_416(response, size: int | None) -> int | None:
    value = response.headers.get("Content-Range", "")
    match = re.fullmatch(r"bytes \*/(\d+)", value.strip())
    return int(match.group(1)) if match else size


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
