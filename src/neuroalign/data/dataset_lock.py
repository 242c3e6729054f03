"""One writer of a dataset folder at a time: the lock that fetch and simulate both take.

Two processes that write the same dataset folder (two fetches of one dataset, two workflows
with different results folders on one data root simulating the same dataset, or a fetch and
a simulation) would write, or sweep the staging files of, the same files. Each takes an
exclusive ``flock`` on ``.<name>.neuroalign.lock`` beside the folder ``<name>`` first; a
second one logs that it waits, and names the lock file and its holder. The kernel releases
the lock when its holder exits, even by kill -9, so a stale lock never blocks a later run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from neuroalign._check import NeuroalignError

__all__ = ["LOCK_SUFFIX", "dataset_lock", "lock_path"]

logger = logging.getLogger(__name__)

#: After the dataset folder's name: ``raw/.<name>.neuroalign.lock``.
LOCK_SUFFIX = ".neuroalign.lock"


def lock_path(dataset_dir: str | Path) -> Path:
    """The lock file of a dataset folder: hidden, beside it (the folder holds only data)."""
    dataset_dir = Path(dataset_dir)
    return dataset_dir.parent / f".{dataset_dir.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def dataset_lock(
    dataset_dir: str | Path,
    *,
    holder: str,
    deadline: float | None = None,
    poll: float = 0.2,
) -> Iterator[Path]:
    """Hold the exclusive lock of ``dataset_dir``; wait for it while another process has it.

    Parameters
    ----------
    dataset_dir : str or Path
        The dataset folder that is about to be written (it need not exist yet).
    holder : str
        What holds the lock, for the message a waiting process logs ("fetch",
        "simulation"); written into the lock file with the process id.
    deadline : float, optional
        ``time.monotonic()`` value after which a waiting process gives up with a one-line
        error naming the lock file. None: wait as long as the holder runs.
    poll : float
        Seconds between attempts while waiting.

    Yields
    ------
    path : Path
        The lock file.

    Raises
    ------
    NeuroalignError
        If the deadline passes while another process holds the lock.
    """
    dataset_dir = Path(dataset_dir)
    path = lock_path(dataset_dir)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    other, pid = _holder(path)
                    logger.warning(
                        "another %s of %s is running (%slock %s); waiting for it",
                        other,
                        dataset_dir.name,
                        f"pid {pid}, " if pid else "",
                        path,
                    )
                    waited = True
                if deadline is not None and time.monotonic() > deadline:
                    raise NeuroalignError(
                        f"{path}: another {_holder(path)[0]} of {dataset_dir.name!r} held this "
                        "lock past the deadline; let it finish, then rerun (or, if no such "
                        "process runs, check that the file system supports flock)."
                    ) from None
                time.sleep(poll)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder} {os.getpid()}\n")
            handle.flush()
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(path: Path) -> tuple[str, str]:
    """What the lock file says holds it, and its process id (``"fetch", "12"``)."""
    try:
        what, _, pid = path.read_text().strip().rpartition(" ")
    except OSError:
        what, pid = "", ""
    return (what, pid) if what and pid.isdigit() else ("writer", "")
