"""What the Snakemake rule of this stage needs from the config: targets, inputs and flags.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell and the
logic is tested without Snakemake. A ``localize`` entry names a localizer run; each of its
``models`` gets ``<results>/localize/<model>/<entry>.nc``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign.config import fetch_stamp, raw_dir

DEFAULT_DOSES = (0.00125, 0.0025, 0.005, 0.01)


def localize_runs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (model, localizer entry) pair the config asks for."""
    return [
        (model, name)
        for name, entry in config.get("localize", {}).items()
        for model in entry["models"]
    ]


def stimuli_path(config: Mapping[str, Any], name: str) -> str:
    """The stimuli of entry ``name``: a stimulus table, or a file or folder of a dataset."""
    entry = config["localize"][name]
    if entry.get("stimset"):
        return str(Path(config["results"]) / "stimuli" / f"{entry['stimset']}.parquet")
    return str(raw_dir(config, entry["dataset"]) / entry.get("path", ""))


def _dataset_ready(config: Mapping[str, Any], dataset: str) -> str:
    """A simulated dataset's folder, or a fetched dataset's completion stamp."""
    if dataset.startswith("sim_"):
        return str(raw_dir(config, dataset))
    return str(fetch_stamp(config, dataset))


def rule_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """Files the run waits for: its stimuli and the datasets of its held-out tasks and brain."""
    entry = config["localize"][name]
    if entry.get("stimset"):
        inputs = {"stimuli": stimuli_path(config, name)}
    else:
        inputs = {"stimuli": _dataset_ready(config, entry["dataset"])}
    for key in ("blimp", "corpus", "brain"):
        if entry.get(key):
            inputs[key] = _dataset_ready(config, entry[key]["dataset"])
    return inputs


def cli_flags(config: Mapping[str, Any], name: str) -> str:
    """The ``neuroalign localize`` flags of entry ``name`` (beyond model, stimuli, output)."""
    entry = config["localize"][name]
    doses = entry.get("doses", DEFAULT_DOSES)
    flags = [
        f"--localizer {entry['localizer']}",
        f"--units {entry.get('units', 'resid')}",
        f"--pooling {entry.get('pooling', 'auto')}",
        f"--truncate {entry.get('truncate', 12) or 0}",
        f"--rule {entry.get('rule', 'global_topk')}",
        f"--fraction {entry.get('fraction', 0.01)}",
        f"--alpha {entry.get('alpha', 0.05)}",
        f"--n-seeds {entry.get('n_seeds', 10)}",
        f"--n-boot {entry.get('n_boot', 100)}",
        f"--seed {config.get('seed', 0)}",
        "--doses " + ",".join(str(d) for d in doses),
        f"--ablation-mode {entry.get('ablation_mode', 'zero')}",
        f"--n-pairs {entry.get('n_pairs', 20)}",
        f"--n-control {entry.get('n_control', 200)}",
        "--absolute" if entry.get("absolute", True) else "--raw",
    ]
    if entry.get("positive"):
        flags.append(f"--positive {shlex.quote(entry['positive'])}")
    if entry.get("n_items"):
        flags.append(f"--n-items {entry['n_items']}")
    if entry.get("paradigms"):
        flags.append("--paradigms " + ",".join(entry["paradigms"]))
    for key in ("blimp", "corpus", "brain"):
        if entry.get(key):
            path = raw_dir(config, entry[key]["dataset"]) / entry[key]["file"]
            flags.append(f"--{key} {shlex.quote(str(path))}")
    return " ".join(flags)
