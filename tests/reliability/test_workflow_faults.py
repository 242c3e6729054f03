"""Faults of a running workflow: Snakemake killed mid-job, a result deleted under it, two runs.

Each test runs the real workflow on a slice of the demo (simulated datasets and their
recoveries, seconds each) in a scratch copy of the repository's workflow files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="finds a job's processes through /proc (Linux)"
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "NEUROALIGN_MIRROR": "",
    "HF_HUB_OFFLINE": "1",
}


def recovery(kind: str) -> str:
    return f"results/simulate/sim_{kind}_recovery.nc"


@pytest.fixture
def work(tmp_path) -> Path:
    """A scratch copy of the workflow files (not the data or results)."""
    for name in ("Snakefile", "workflow", "config", "profiles", "data_manifests"):
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, symlinks=False)
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


def start(work: Path, *args: str, log: str = "run.log") -> subprocess.Popen:
    """Snakemake in the background (the default workflow profile, one core), output to ``log``."""
    with open(work / log, "w") as out:
        return subprocess.Popen(
            [str(BIN / "snakemake"), "--cores", "1", *args],
            cwd=work,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), "--cores", "1", *args],
        cwd=work,
        env=ENV,
        capture_output=True,
        text=True,
    )


def processes_in(folder: Path) -> dict[int, str]:
    """Live processes (not zombies) whose working directory is ``folder``: pid -> command."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/cwd").resolve() != folder.resolve():
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found[int(entry)] = cmd.strip()
    return found


def wait_for(what: str, ok, proc: subprocess.Popen, work: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log = (work / "run.log").read_text()[-4000:]
    pytest.fail(f"{what} never happened (snakemake exit {proc.poll()})\n{log}")


def tree_state(work: Path) -> dict[str, tuple[int, int]]:
    """Every file under data/ and results/ with its size and mtime (what a writer changes)."""
    state = {}
    for top in ("data", "results"):
        for path in sorted((work / top).rglob("*")):
            if path.is_file():
                st = path.stat()
                state[str(path.relative_to(work))] = (st.st_size, st.st_mtime_ns)
    return state


def test_kill_9_of_snakemake_ends_the_running_job_and_the_rerun_redoes_only_it(work):
    targets = (recovery("eyetracking"), recovery("localizer"))
    proc = start(work, *targets)
    job = "neuroalign simulate localizer"

    def running_job():
        pids = [p for p, cmd in processes_in(work).items() if job in cmd and "bash" not in cmd]
        return pids

    try:
        job_pids = wait_for("the localizer simulation", running_job, proc, work)
        time.sleep(0.5)  # mid-job: the stage is importing or writing
        done_before = {t for t in (*targets, "data/raw/sim_eyetracking") if (work / t).exists()}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        # the job's process group ends with Snakemake (within the watcher's poll, well under 1 s)
        while any(Path(f"/proc/{p}").exists() for p in job_pids) and (
            time.monotonic() - killed_at < 1.5
        ):
            time.sleep(0.05)
        alive = {p: c for p, c in processes_in(work).items() if p in job_pids}
        assert not alive, f"the job outlived snakemake's kill -9: {alive}"
        time.sleep(3.0)
        assert processes_in(work) == {}, processes_in(work)
        # and nothing writes any more
        before = tree_state(work)
        time.sleep(1.0)
        assert tree_state(work) == before
    finally:
        for pid in processes_in(work):
            os.kill(pid, signal.SIGKILL)

    # nothing half-written looks finished: the localizer dataset is missing or marked incomplete
    dry = run(work, "-n", *targets)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", out, re.M)
    planned = {(rule, wc) for rule, wc in jobs}
    assert ("simulate_dataset", "kind=localizer") in planned, out
    sim = re.search(r"rule simulate_dataset:\n(?:    .*\n)*?    reason: (.*)", out).group(1)
    assert "Missing output files" in sim or "Incomplete" in sim, sim
    # the rerun redoes that job (and what needs it) only
    if "data/raw/sim_eyetracking" in done_before:
        assert ("simulate_dataset", "kind=eyetracking") not in planned, out
    if recovery("eyetracking") in done_before:
        assert ("recover_simulation", "kind=eyetracking") not in planned, out

    # the killed run's lock stays; the refusal says how to lift it
    proc = run(work, *targets)
    assert proc.returncode != 0 and "--unlock" in proc.stdout + proc.stderr
    assert run(work, "--unlock", *targets).returncode == 0
    proc = run(work, *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for target in targets:
        with xr.open_dataset(work / target) as rec:
            assert rec.attrs["summary"], target
    assert "Nothing to be done" in run(work, "-n", *targets).stdout


def test_a_result_deleted_under_a_running_workflow_is_one_line_and_not_counted_done(work):
    dataset = work / "data" / "raw" / "sim_eyetracking"
    proc = start(work, recovery("eyetracking"))
    wait_for("the simulated dataset", dataset.is_dir, proc, work)
    (dataset / "ia_report.csv").unlink()  # before the recovery job reads it
    proc.wait(timeout=180)
    out = (work / "run.log").read_text()
    log = (work / "results" / "logs" / "simulate" / "eyetracking-recover.log").read_text()
    assert proc.returncode != 0, out[-3000:]
    assert "not found: data/raw/sim_eyetracking/ia_report.csv" in log, log
    assert "Traceback" not in log, log
    assert len(log.strip().splitlines()) == 1, log
    # nothing is counted done: no recovery written, and the rerun tries it again
    assert not (work / recovery("eyetracking")).exists()
    dry = run(work, "-n", recovery("eyetracking"))
    assert "recover_simulation" in dry.stdout, dry.stdout[-3000:]
    # the fix the message points to: run the stage that makes it (its folder removed)
    shutil.rmtree(dataset)
    fixed = run(work, recovery("eyetracking"))
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert (dataset / "ia_report.csv").is_file()
    with xr.open_dataset(work / recovery("eyetracking")) as rec:
        assert rec.attrs["summary"]


def test_a_second_workflow_on_the_same_folder_is_refused_and_the_first_finishes(work):
    first = start(work, recovery("eyetracking"))
    wait_for(
        "the first run's job",
        lambda: any("neuroalign simulate" in c for c in processes_in(work).values()),
        first,
        work,
    )
    second = run(work, recovery("eyetracking"))
    out = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Directory cannot be locked" in out and "no other Snakemake process" in out, out
    assert first.wait(timeout=180) == 0, (work / "run.log").read_text()[-3000:]
    with xr.open_dataset(work / recovery("eyetracking")) as rec:
        assert rec.attrs["summary"]
