"""The workflow end to end: dry runs, the offline demo, the starter config against the mirror."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import xarray as xr

from .conftest import snakemake


def test_bad_config_key_is_one_clear_line(workdir):
    proc = snakemake("-n", "--config", "seeed=1", cwd=workdir, check=False)
    assert proc.returncode != 0
    assert "unknown key 'seeed'" in proc.stderr and "Did you mean 'seed'" in proc.stderr


def test_demo_plans_every_stage(workdir):
    out = snakemake("-n", "--quiet", "rules", cwd=workdir).stdout
    for rule in ("simulate_dataset", "recover_simulation", "build_stimuli", "build_report"):
        assert re.search(rf"^{rule}\s+\d+", out, re.M), out
    assert "fetch_dataset" not in out, "the demo must not touch the network"


def test_starter_dry_run_against_mirror(workdir, shared_data):
    proc = snakemake(
        "-n", "--quiet", "rules", "--configfile", "config/starter.yaml",
        cwd=workdir, env={"NEUROALIGN_MIRROR": str(shared_data)},
    )
    assert re.search(r"^fetch_dataset\s+\d+", proc.stdout, re.M), proc.stdout


def test_slurm_profile_plans_resources(workdir):
    proc = snakemake("-n", "--profile", "profiles/slurm", "--workflow-profile", "none", cwd=workdir)
    assert "slurm" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_starter_run_fetches_and_builds_tables(workdir, shared_data):
    snakemake(
        "--cores", "2", "--configfile", "config/starter.yaml",
        cwd=workdir, env={"NEUROALIGN_MIRROR": str(shared_data)},
    )
    tables = sorted((workdir / "results" / "stimuli").glob("*.parquet"))
    assert tables
    for table in tables:
        df = pd.read_parquet(table)
        assert len(df) > 0 and {"text", "item", "story"} <= set(df.columns), table.name
    stamps = sorted((workdir / "data" / "raw").glob("*/.neuroalign-fetch-*.json"))
    assert stamps
    for stamp in stamps:
        files = json.loads(stamp.read_text())["files"]
        assert all(len(f["sha256"]) == 64 for f in files), stamp
    assert (workdir / "results" / "report" / "index.html").is_file()


@pytest.mark.slow
def test_demo_runs_end_to_end_offline(workdir):
    env = {"NEUROALIGN_MIRROR": "", "HF_HUB_OFFLINE": "1"}
    snakemake("--cores", "2", cwd=workdir, env=env)
    results = workdir / "results"
    assert (results / "report" / "index.html").is_file()
    for kind in ("fmri", "localizer", "meg", "eyetracking"):
        rec = xr.open_dataset(results / "simulate" / f"sim_{kind}_recovery.nc")
        assert json.loads(rec.attrs["summary"]), kind
    assert not list(workdir.glob("data/raw/*/.neuroalign-fetch-*.json")), "nothing fetched"
    snakemake("--report", "report.html", cwd=workdir, env=env)
    assert (workdir / "report.html").stat().st_size > 10_000
    # a second run has nothing to do
    proc = snakemake("-n", cwd=workdir, env=env)
    assert "Nothing to be done" in proc.stdout + proc.stderr
