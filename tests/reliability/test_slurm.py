"""A slice of the demo on a real (single-node, scratch) SLURM cluster through ``profiles/slurm``.

The simulated eye-tracking dataset and its recovery run as two SLURM jobs submitted by the
executor plugin. Accounting (``sacct``, from slurmdbd) must show every job COMPLETED with the
memory, CPUs and time limit the rules and the profile declare, and the first attempt of the
simulation, cancelled with ``scancel`` while it runs, must be retried to completion.

Run alone with ``python -m pytest -m slurm``. It needs root and the Debian packages slurm-wlm,
slurmdbd, munge and mariadb-server (``.ci/run`` installs them); without them it is skipped with
the reason, and fails instead where ``NEUROALIGN_REQUIRE_SLURM`` is set (as in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml
from slurm_cluster import ClusterError, LocalSlurm, missing_programs

pytestmark = pytest.mark.slurm

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KIND = "eyetracking"
TARGET = f"results/simulate/sim_{KIND}_recovery.nc"
RULES = ("simulate_dataset", "recover_simulation")
FIELDS = ("JobIDRaw", "JobName", "Comment", "State", "ReqMem", "ReqCPUS", "Timelimit")


def _unavailable(reason: str):
    if os.environ.get("NEUROALIGN_REQUIRE_SLURM"):
        pytest.fail(f"SLURM test required (NEUROALIGN_REQUIRE_SLURM) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scratch single-node cluster: munged, MariaDB, slurmdbd, slurmctld, slurmd."""
    missing = missing_programs()
    if missing:
        _unavailable(
            f"SLURM is not installed (missing {', '.join(missing)}): "
            "apt-get install slurm-wlm slurmdbd munge mariadb-server"
        )
    if os.geteuid() != 0:
        _unavailable("the scratch SLURM cluster needs root (slurmd runs the jobs)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _unavailable("snakemake-executor-plugin-slurm is not installed (neuroalign[test])")
    # a short path: slurmd's sockets live in the spool folder
    root = Path(tmp_path_factory.mktemp("slurm", numbered=True))
    wants = [declared_resources(rule) for rule in RULES]
    slurm = LocalSlurm(
        root,
        min_memory_mb=max(w["mem_mb"] for w in wants),
        min_cpus=max(w["cpus_per_task"] for w in wants),
    )
    try:
        slurm.start()
    except ClusterError as err:
        slurm.stop()
        _unavailable(f"the scratch SLURM cluster did not start: {err}")
    yield slurm
    slurm.stop()


def _workdir(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "data_manifests"):
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp / name, symlinks=False)
        else:
            shutil.copy(src, tmp / name)
    return tmp


def declared_resources(rule: str) -> dict[str, int]:
    """What a job of ``rule`` asks for: the profile's defaults, the rule's, the profile's rule."""
    profile = yaml.safe_load((REPO_ROOT / "profiles/slurm/config.v8+.yaml").read_text())
    res = {k: v for k, v in profile["default-resources"].items() if isinstance(v, int)}
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "workflow/rules").glob("*.smk"))
    call = re.search(rf'rule_resources\("{rule}",([^)]*)\)', source).group(1)
    res.update({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", call)})
    res.update(profile["set-resources"].get(rule, {}))
    return res


def _rule_of(record: dict[str, str]) -> str:
    return re.match(r"rule_(\w+?)_wildcards_", record["Comment"]).group(1)


def _wait_and_cancel(slurm: LocalSlurm, proc: subprocess.Popen, rule: str, after: float = 3.0):
    """Cancel the first job of ``rule`` once it has run ``after`` seconds; return its id."""
    deadline = time.monotonic() + 150
    running_since = None
    while time.monotonic() < deadline and proc.poll() is None:
        mine = [j for j in cluster_queue(slurm) if j["comment"].startswith(f"rule_{rule}_")]
        if mine and mine[0]["state"] == "RUNNING":
            running_since = running_since or time.monotonic()
            if time.monotonic() - running_since >= after:
                subprocess.run(["scancel", mine[0]["id"]], check=True, env=_env(slurm))
                return mine[0]["id"]
        time.sleep(0.5)
    out = proc.communicate()[0] if proc.poll() is not None else ""
    pytest.fail(f"no running {rule} job to cancel\n{out[-4000:]}\n{slurm.logs()}")


def cluster_queue(slurm: LocalSlurm) -> list[dict[str, str]]:
    """The jobs in the queue now (squeue: accounting may record them late)."""
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True, env=_env(slurm)
    ).stdout
    keys = ("id", "state", "comment")
    return [dict(zip(keys, line.split("|", 2), strict=False)) for line in out.splitlines()]


def _env(slurm: LocalSlurm) -> dict[str, str]:
    return {
        **os.environ,
        **slurm.env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NEUROALIGN_MIRROR": "",
        "HF_HUB_OFFLINE": "1",
    }


def test_demo_slice_runs_under_slurm_and_a_cancelled_job_is_retried(cluster, tmp_path, capsys):
    work = _workdir(tmp_path / "work")
    before = {j["JobIDRaw"] for j in cluster.sacct(*FIELDS)}
    cmd = [
        str(BIN / "snakemake"),
        "--profile",
        "profiles/slurm",
        "--workflow-profile",
        "none",
        "--slurm-init-seconds-before-status-checks",
        "1",
        TARGET,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=work,
        env=_env(cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        cancelled = _wait_and_cancel(cluster, proc, "simulate_dataset")
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{out[-6000:]}\n{cluster.logs()}"

    jobs = [j for j in cluster.sacct(*FIELDS) if j["JobIDRaw"] not in before]
    with capsys.disabled():
        print("\nsacct:", *("|".join(j[f] for f in FIELDS) for j in jobs), sep="\n  ")
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        by_rule.setdefault(_rule_of(job), []).append(job)
    assert set(by_rule) == set(RULES), jobs
    # one snakemake run submitted them all (the plugin names jobs by the run's id)
    assert len({j["JobName"] for j in jobs}) == 1, jobs

    # the cancelled attempt, then its retry to completion
    states = [j["State"] for j in by_rule["simulate_dataset"]]
    assert by_rule["simulate_dataset"][0]["JobIDRaw"] == cancelled
    assert states[0].startswith("CANCELLED") and states[1:] == ["COMPLETED"], jobs
    assert [j["State"] for j in by_rule["recover_simulation"]] == ["COMPLETED"], jobs
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in out, out
    assert "Trying to restart job" in out, out

    # every job with the resources its rule declares
    for rule, records in by_rule.items():
        want = declared_resources(rule)
        for job in records:
            assert job["ReqMem"] == f"{want['mem_mb']}M", (rule, job, want)
            assert int(job["ReqCPUS"]) == want["cpus_per_task"], (rule, job, want)
            hours, minutes = divmod(want["runtime"], 60)
            assert job["Timelimit"] == f"{hours:02d}:{minutes:02d}:00", (rule, job, want)

    # the result is whole and nothing half-written is left
    with xr.open_dataset(work / TARGET) as rec:
        assert rec.attrs["summary"]
    assert (work / "data" / "raw" / f"sim_{KIND}").is_dir()
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--workflow-profile", "none", TARGET],
        cwd=work,
        env=_env(cluster),
        capture_output=True,
        text=True,
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
