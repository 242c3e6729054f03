"""Faults of the machine: disk full, read-only data root, permission denied, Ctrl-C, kill -9.

Each ends in one line naming the path and the fix, no traceback; what was finished stays, the
resumable ``.part`` download stays, and nothing half-written looks like data.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faults import FAULTS, FIXES, PAYLOAD, TricklingServer, os_error, write_manifest, write_mirror

from neuroalign.cli import INTERRUPTED, machine_error, main
from neuroalign.data import download as download_module

DATASET = Path("raw") / "toy" / "sub" / "a.bin"


def _one_line(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _visible_files(folder: Path) -> list[Path]:
    """Files a reader globbing the dataset would see (no hidden parts)."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv("NEUROALIGN_MIRROR", raising=False)


def _fetch_argv(manifest, data, *extra):
    return ["fetch", str(manifest), "--data-dir", str(data), "--no-progress", *extra]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fetch_from_a_mirror_with_a_machine_fault_is_one_line(fault, tmp_path, monkeypatch, capsys):
    code = FAULTS[fault]
    manifest = write_manifest(tmp_path / "manifests")
    mirror = write_mirror(tmp_path / "mirror")

    def failing_copy(src, dst, *args, **kwargs):
        Path(dst).write_bytes(PAYLOAD[:100])  # part of the file was written, then the fault
        raise os_error(code)  # as write() raises it: no file name

    monkeypatch.setattr(download_module.shutil, "copyfile", failing_copy)
    data = tmp_path / "data"
    assert main(_fetch_argv(manifest, data, "--mirror", str(mirror))) == 2
    line = _one_line(capsys, str(data / "raw" / "toy" / "sub"), FIXES[code], "kept")
    assert os.strerror(code) in line
    assert _visible_files(data) == [], "a half copy looks like data"
    monkeypatch.undo()
    assert main(_fetch_argv(manifest, data, "--mirror", str(mirror))) == 0
    assert (data / DATASET).read_bytes() == PAYLOAD
    assert not list((data / "raw").rglob(".*.fetching"))


def test_disk_full_mid_download_keeps_the_part_file_and_resumes(tmp_path, monkeypatch, capsys):
    with TricklingServer(interval=0) as server:
        manifest = write_manifest(tmp_path / "manifests", server.url)
        real_open = open

        class FullDisk:
            def __init__(self, f):
                self.f, self.n = f, 0

            def write(self, chunk):
                if self.n + len(chunk) > 5000:
                    raise os_error(errno.ENOSPC)
                self.n += len(chunk)
                return self.f.write(chunk)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        monkeypatch.setattr(
            download_module, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False
        )
        data = tmp_path / "data"
        assert main(_fetch_argv(manifest, data)) == 2
        part = data / "raw" / "toy" / "sub" / "a.bin.part"
        _one_line(capsys, str(part), "disk is full", "free space")
        assert part.stat().st_size == 5000
        assert not (data / DATASET).exists()
        monkeypatch.undo()
        assert main(_fetch_argv(manifest, data)) == 0
        assert (data / DATASET).read_bytes() == PAYLOAD


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_data_root_is_one_line(code, tmp_path, monkeypatch, capsys):
    manifest = write_manifest(tmp_path / "manifests")
    mirror = write_mirror(tmp_path / "mirror")
    data = tmp_path / "ro data"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.is_relative_to(data):
            raise os_error(code, str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert main(_fetch_argv(manifest, data, "--mirror", str(mirror))) == 2
    _one_line(capsys, str(data), FIXES[code])


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_stage_writing_results_with_a_machine_fault_is_one_line(
    fault, tmp_path, monkeypatch, capsys
):
    """simulate (netCDF truth, through the results edge): the fault names the output."""
    import xarray as xr

    code = FAULTS[fault]
    out = tmp_path / "sim_eyetracking"

    def failing(self, *args, **kwargs):
        raise os_error(code)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing)
    assert main(["simulate", "eyetracking", "--output", str(out)]) == 2
    _one_line(capsys, FIXES[code], str(out))
    assert not out.exists(), "a half-written dataset was put in place"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_report_build_with_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    from neuroalign.report import build as build_module

    def failing(*args, **kwargs):
        raise os_error(errno.ENOSPC)

    monkeypatch.setattr(build_module, "_render_site", failing)
    output = tmp_path / "report" / "index.html"
    argv = ["report", "--results", str(tmp_path / "results"), "--output", str(output)]
    assert main(argv) == 2
    _one_line(capsys, str(output.parent), "disk is full")
    assert not output.parent.exists() or not any(output.parent.iterdir())


def test_other_os_errors_are_not_disguised():
    assert machine_error(os_error(errno.ENOENT, "x")) is None
    wrapped = RuntimeError("zarr failed")
    wrapped.__cause__ = os_error(errno.ENOSPC, "/d/x.zarr")
    assert "/d/x.zarr" in machine_error(wrapped)


def test_ctrl_c_says_what_was_kept(monkeypatch, capsys):
    from neuroalign.cli import fetch as fetch_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_cli, "run", interrupted)
    assert main(["fetch", "toy"]) == 130
    err = capsys.readouterr().err
    assert INTERRUPTED in err
    assert "removed" not in err.replace("temporary files were removed", "")
    assert ".part" in err and "kept" in err


def _run_fetch(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "neuroalign", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _sigint_as_in_a_terminal() -> None:
    """In the child before it starts: SIGINT at its default, as a terminal's foreground job has it.

    A process started with SIGINT ignored (the test run started in the background of a
    non-interactive shell, ``cmd &``, passes that on to every child) keeps ignoring it: Python
    then installs no KeyboardInterrupt handler, Ctrl-C is not delivered to it as it would be
    from a terminal, and the fetch ran to the end and exited 0. That was this test's flake, not
    a swallowed Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_mid_download_keeps_the_part_file_and_says_so(tmp_path):
    with TricklingServer(interval=0.002) as server:  # 16 kB: about 35 s to send
        manifest = write_manifest(tmp_path / "manifests", server.url)
        data = tmp_path / "data"
        part = data / "raw" / "toy" / "sub" / "a.bin.part"
        proc = _run_fetch(_fetch_argv(manifest, data), preexec_fn=_sigint_as_in_a_terminal)
        # the download is under way: bytes reached the .part (its first buffer, 4-8 kB, was
        # written out) and the fetch still runs
        assert _wait_for(lambda: part.is_file() and part.stat().st_size > 100, timeout=60)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "resumable partial files" in err and "kept" in err
        assert part.stat().st_size > 100
        assert not (data / DATASET).exists()


def test_kill_9_mid_copy_from_a_mirror_leaves_no_file_that_looks_like_data(tmp_path):
    manifest = write_manifest(tmp_path / "manifests")
    mirror = write_mirror(tmp_path / "mirror")
    data = tmp_path / "data"
    # The copy starts (an empty file is created), then the process is killed with SIGKILL.
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from neuroalign.data import download
        def copy_then_die(src, dst, *a, **k):
            Path(dst).write_bytes(b"")
            os.kill(os.getpid(), signal.SIGKILL)
        download.shutil.copyfile = copy_then_die
        from neuroalign.cli import main
        sys.exit(main({_fetch_argv(manifest, data, "--mirror", str(mirror))!r}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _visible_files(data) == [], "a 0-byte file looks like data"
    assert list(data.rglob(".*.fetching")), "the staging folder should hold the half copy"
    assert main(_fetch_argv(manifest, data, "--mirror", str(mirror))) == 0
    assert (data / DATASET).read_bytes() == PAYLOAD
    assert not list(data.rglob(".*.fetching")), "the next run cleans the staging folder"
    assert [p.name for p in _visible_files(data)] == ["a.bin"]


def test_a_trickling_server_cannot_hang_a_fetch(tmp_path, capsys):
    with TricklingServer(interval=0.01) as server:
        manifest = write_manifest(tmp_path / "manifests", server.url)
        data = tmp_path / "data"
        start = time.monotonic()
        assert main(_fetch_argv(manifest, data, "--timeout", "1")) == 2
        assert time.monotonic() - start < 10
        part = data / "raw" / "toy" / "sub" / "a.bin.part"
        _one_line(capsys, "deadline of 1 s", str(part), "--timeout")
        assert 0 < part.stat().st_size < len(PAYLOAD)
    with TricklingServer(interval=0) as fast:
        manifest = write_manifest(tmp_path / "manifests", fast.url)
        assert main(_fetch_argv(manifest, data, "--timeout", "30")) == 0
    assert (data / DATASET).read_bytes() == PAYLOAD


def test_the_deadline_is_a_config_field(tmp_path, capsys):
    import json

    with TricklingServer(interval=0.01) as server:
        manifest = write_manifest(tmp_path / "manifests", server.url)
        settings = tmp_path / "data.json"
        settings.write_text(json.dumps({"fetch_timeout": 0.5}))
        argv = _fetch_argv(manifest, tmp_path / "data", "--settings", str(settings))
        assert main(argv) == 2
        _one_line(capsys, "deadline of 0.5 s", "data.fetch_timeout")


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf", "soon"])
def test_bad_timeouts_are_refused_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fetch", "toy", "--timeout", value])
    assert info.value.code == 2
    assert "positive number of seconds" in capsys.readouterr().err


def test_shutil_is_the_module_the_copier_uses():
    assert download_module.shutil is shutil


def test_two_fetches_of_one_dataset_wait_for_each_other(tmp_path):
    data_bytes = PAYLOAD[:1500]
    with TricklingServer(data_bytes, interval=0.005) as server:  # ~7 s: B starts meanwhile
        manifest = write_manifest(tmp_path / "manifests", server.url, data_bytes)
        data = tmp_path / "data"
        part = data / "raw" / "toy" / "sub" / "a.bin.part"
        first = _run_fetch(_fetch_argv(manifest, data, "-v"))
        assert _wait_for(part.is_file)
        second = _run_fetch(_fetch_argv(manifest, data, "-v"))
        _, err_first = first.communicate(timeout=60)
        _, err_second = second.communicate(timeout=60)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert "another fetch of toy is running" in err_second
    assert "already present" not in err_first
    assert (data / DATASET).read_bytes() == data_bytes
    assert not part.exists()
