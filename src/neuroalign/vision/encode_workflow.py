"""What the Snakemake rule of the vision encoding stage needs from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell. A
``vision.encode`` entry ``<name>`` writes ``<results>/vision/encoding/<name>/sub-<subject>.nc``
(the demo names its entry after its dataset, ``sim_vision``) and the NIfTI maps beside it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from neuroalign.config import dataset_ready, raw_dir

__all__ = ["activation_flags", "dataset_dir", "entries", "rule_inputs", "stage_settings", "targets"]


def entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vision.encode`` entries (empty when the config has none)."""
    return dict(config.get("vision", {}).get("encode", {}))


def _stores(config: Mapping[str, Any], name: str) -> dict[str, str]:
    entry = entries(config)[name]
    stimset = entry.get("stimset") or entry["dataset"]
    return {m: f"{config['results']}/activations/{m}/{stimset}.zarr" for m in entry["models"]}


def targets(config: Mapping[str, Any]) -> list[str]:
    """Every result file the ``vision.encode`` entries ask for."""
    return [
        f"{config['results']}/vision/encoding/{name}/sub-{s}.nc"
        for name, entry in entries(config).items()
        for s in entry["subjects"]
    ]


def rule_inputs(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The activation stores (one per model) and the dataset (folder or fetch stamp)."""
    dataset = entries(config)[name]["dataset"]
    ready = dataset_ready(config, dataset)
    return {"activations": list(_stores(config, name).values()), "dataset": str(ready)}


def activation_flags(config: Mapping[str, Any], name: str) -> str:
    """``--activations <model>=<store>`` for every model of entry ``name``, shell-quoted."""
    return " ".join(
        f"--activations {shlex.quote(f'{m}={p}')}" for m, p in _stores(config, name).items()
    )


def dataset_dir(config: Mapping[str, Any], name: str) -> str:
    """The dataset folder of entry ``name``."""
    return str(raw_dir(config, entries(config)[name]["dataset"]))


def stage_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of entry ``name``: its null ``seed`` filled with the top-level seed."""
    entry = dict(entries(config)[name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry
