"""The workflow end to end: dry runs, the offline demo, the starter config against the mirror."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml
from _vision_demo import check_vision_demo


def test_bad_config_key_is_one_clear_line(snakemake, workdir):
    proc = snakemake("-n", "--config", "seeed=1", cwd=workdir, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "unknown key 'seeed'" in out and "Did you mean 'seed'" in out


def test_demo_plans_every_stage(snakemake, workdir):
    out = snakemake("-n", "--quiet", "rules", cwd=workdir).stdout
    for rule in ("simulate_dataset", "recover_simulation", "build_stimuli", "build_report"):
        assert re.search(rf"^{rule}\s+\d+", out, re.M), out
    assert "fetch_dataset" not in out, "the demo must not touch the network"


def test_starter_dry_run_against_mirror(snakemake, workdir, shared_data):
    proc = snakemake(
        "-n",
        "--quiet",
        "rules",
        "--configfile",
        "config/starter.yaml",
        cwd=workdir,
        env={"NEUROALIGN_MIRROR": str(shared_data)},
    )
    planned = ("fetch_dataset", "build_stimuli", "extract_activations", "localize_units")
    for rule in (*planned, "encode_sentences", "encode_words"):
        assert re.search(rf"^{rule}\s+\d+", proc.stdout, re.M), proc.stdout


def test_slurm_profile_plans_gpu_for_gpu_rules(snakemake, workdir):
    proc = snakemake("-n", "--profile", "profiles/slurm", "--workflow-profile", "none", cwd=workdir)
    jobs = re.split(r"\n(?=\[.*\]\nrule |rule )", proc.stdout)
    extract = [j for j in jobs if j.startswith("rule extract_activations")]
    simulate = [j for j in jobs if j.startswith("rule simulate_dataset")]
    assert extract and simulate, proc.stdout[-3000:]
    assert all(re.search(r"resources: .*\bgpu=1\b", j) for j in extract)
    assert all("slurm_partition" in j for j in extract)
    assert not any(re.search(r"\bgpu=1\b", j) for j in simulate)


def test_slurm_profile_sends_every_gpu_rule_to_the_gpu_partition():
    # Dry runs show string resources as <TBD>, so the profile is read against the rules' sources.
    root = Path(__file__).resolve().parents[2]
    profile = yaml.safe_load((root / "profiles" / "slurm" / "config.v8+.yaml").read_text())
    rules = root / "workflow" / "rules"
    gpu_rules = {
        name
        for smk in rules.glob("*.smk")
        for name in re.findall(r'rule_resources\("(\w+)"[^)]*\bgpu=1\b', smk.read_text())
    }
    assert {"extract_activations", "encode_images"} <= gpu_rules
    per_rule = profile["set-resources"]
    assert {
        r for r in gpu_rules if per_rule.get(r, {}).get("slurm_partition") == "gpu"
    } == gpu_rules
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    assert not any(
        per_rule.get(r, {}).get("slurm_partition") == "gpu" for r in per_rule if r not in gpu_rules
    )


@pytest.mark.slow
def test_starter_run_fetches_and_builds_tables(snakemake, workdir, shared_data):
    # Fetch and stimulus tables only: the dry run above plans the analyses of the real data.
    snakemake(
        "--cores",
        "2",
        "--configfile",
        "config/starter.yaml",
        "--until",
        "build_stimuli",
        cwd=workdir,
        env={"NEUROALIGN_MIRROR": str(shared_data)},
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


@pytest.mark.slow
@pytest.mark.browser
def test_demo_runs_end_to_end_offline(snakemake, workdir, browser, check_pages, check_site):
    env = {"NEUROALIGN_MIRROR": "", "HF_HUB_OFFLINE": "1"}
    snakemake("--cores", "2", cwd=workdir, env=env)
    results = workdir / "results"
    index = results / "report" / "index.html"
    pages = [index, *sorted(p for p in index.parent.glob("*.html") if p != index)]
    assert len(pages) >= 8
    assert check_pages(browser, pages, workdir / "demo-index.png") >= 8
    demo = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    n_gallery = demo["vision"]["reconstruct"]["demo"]["n_images"]
    check_vision_demo(results, index.parent, n_gallery)
    # every page: no empty axes, the badge on simulated data, the index headlines, provenance
    stages = ("encode", "localize", "episodic", "vision_encode", "vision_decode")
    seen = check_site(browser, index.parent, expect_headlines=stages)
    assert {"encode", "localize"} <= set(seen["headlines"]), seen["headlines"]
    assert seen["figures"] >= 8 and len(seen["simulated"]) >= 4, seen
    for kind in ("fmri", "localizer", "meg", "eyetracking"):
        rec = xr.open_dataset(results / "simulate" / f"sim_{kind}_recovery.nc")
        assert json.loads(rec.attrs["summary"]), kind
    assert not list(workdir.glob("data/raw/*/.neuroalign-fetch-*.json")), "nothing fetched"
    snakemake("--report", "report.zip", cwd=workdir, env=env)
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        names = archive.namelist()
    assert any(n.endswith("/index.html") for n in names), names[:20]
    assert any(n.endswith("/simulate-sim_fmri.html") for n in names), names[:20]
    # a second run has nothing to do
    proc = snakemake("-n", cwd=workdir, env=env)
    assert "Nothing to be done" in proc.stdout + proc.stderr
