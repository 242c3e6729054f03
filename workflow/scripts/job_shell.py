#!/usr/bin/env python3
"""The shell of every workflow job: bash, in a process group of its own that ends with Snakemake.

Snakemake runs ``<this> -c '<command>'``. The process becomes the leader of a new process group,
forks a watcher and then becomes ``bash -c '<command>'`` (same pid, so Snakemake waits on, signals
and reads the exit status of bash as it would without this file). The watcher polls every 0.2 s;
once Snakemake is gone (``kill -9`` leaves its jobs running otherwise) or bash has ended, it sends
the group SIGTERM, then SIGKILL after a grace period: no process of the job keeps running or
writing. Standard library only; Linux and macOS.
"""

from __future__ import annotations

import os
import signal
import sys
import time

POLL_S = 0.2
GRACE_S = 3.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state not in (b"Z", b"X")


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies left unreaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _end_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.05)


def _watch(snakemake: int, leader: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM is for the job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while _alive(snakemake) and os.getppid() == leader:
        time.sleep(POLL_S)
    # bash has ended, or Snakemake is gone: nothing of the job may outlive it
    os.setpgid(0, 0)  # leave the group first, so the SIGKILL does not end the watcher early
    _end_group(leader)
    os._exit(0)


def main() -> None:
    snakemake = os.getppid()
    try:
        os.setpgid(0, 0)
    except PermissionError:  # already a group leader (started by hand): keep the group
        pass
    leader = os.getpid()
    if os.fork() == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 16)  # never hold Snakemake's pipes open
        try:
            _watch(snakemake, leader)
        finally:
            os._exit(0)
    os.execvp("bash", ["bash", *sys.argv[1:]])


if __name__ == "__main__":
    main()
