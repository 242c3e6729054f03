"""What the Snakemake rules of ``encode`` need from the config: targets, inputs, settings.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell and the
logic is tested without Snakemake. An ``encode`` entry names one analysis: a ``kind`` (fmri,
meg, eyetracking, or sentences and words, whose responses are columns of the ``stimset``'s
stimulus table), a ``dataset``, the ``stimset`` whose activations it reads, ``models`` and, for
brain data, ``subjects``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign.config import fetch_stamp, raw_dir

KINDS = ("fmri", "meg", "meg_epochs", "eyetracking", "sentences", "words")
# Kinds whose responses are columns of the stimulus table; one result file per model.
TABLE_KINDS = ("sentences", "words")


def entries_of(config: Mapping[str, Any], kind: str) -> str:
    """Names of the ``encode`` entries of one kind, as a wildcard pattern (never empty)."""
    names = [n for n, e in config.get("encode", {}).items() if e["kind"] == kind]
    return "|".join(names) or "^$"


def targets(config: Mapping[str, Any]) -> list[str]:
    """Every result file the ``encode`` entries ask for."""
    results = config["results"]
    out = []
    for name, entry in config.get("encode", {}).items():
        for model in entry["models"]:
            if entry["kind"] == "eyetracking":
                out.append(f"{results}/encoding/{name}/{model}/reading.nc")
            elif entry["kind"] in TABLE_KINDS:
                out.append(f"{results}/encoding/{name}/{model}/{entry['kind']}.nc")
            else:
                out += [f"{results}/encoding/{name}/{model}/sub-{s}.nc" for s in entry["subjects"]]
    return out


def rule_inputs(config: Mapping[str, Any], name: str, model: str) -> dict[str, str]:
    """The activation store and the dataset (folder or fetch stamp) entry ``name`` reads, and the
    stimulus table for the kinds whose responses are in it."""
    entry = config["encode"][name]
    dataset = entry["dataset"]
    ready = raw_dir(config, dataset) if dataset.startswith("sim_") else fetch_stamp(config, dataset)
    inputs = {
        "activations": f"{config['results']}/activations/{model}/{entry['stimset']}.zarr",
        "dataset": str(ready),
    }
    if entry["kind"] in TABLE_KINDS:
        inputs["stimuli"] = f"{config['results']}/stimuli/{entry['stimset']}.parquet"
    if entry.get("localized"):
        inputs["unit_sets"] = f"{config['results']}/localize/{model}/{entry['localized']}.nc"
    return inputs


def data_path(config: Mapping[str, Any], name: str) -> str:
    """The dataset folder of entry ``name``, or its report file for eye-tracking."""
    entry = config["encode"][name]
    folder = Path(raw_dir(config, entry["dataset"]))
    return str(folder / entry["report"]) if entry["kind"] == "eyetracking" else str(folder)


def stage_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of entry ``name``: the entry, its null ``seed`` filled with the
    top-level ``seed`` (the one precedence rule: the entry's seed, else the config's)."""
    entry = dict(config["encode"][name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry
