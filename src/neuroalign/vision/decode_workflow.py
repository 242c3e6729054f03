"""What the Snakemake rules of the decoding and image-metrics stages need from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell. A
``vision.decode`` entry decodes its ``model``'s embedding for each subject into
``<results>/vision/decode/<dataset>/sub-<subject>/<model>/decode.nc``; the image metrics of a
``vision.reconstruct`` entry ``<recon>`` go to
``<results>/vision/decode/<dataset>/sub-<subject>/<model>/metrics/<recon>.nc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import dataset_ready, raw_dir

__all__ = [
    "dataset_dir",
    "decode_targets",
    "entries",
    "find_entry",
    "metrics_settings",
    "metrics_targets",
    "rule_inputs",
    "stage_settings",
]


def entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vision.decode`` entries (empty when the config has none)."""
    return dict(config.get("vision", {}).get("decode", {}))


def _folder(config: Mapping[str, Any], entry: Mapping[str, Any], subject: str) -> str:
    return f"{config['results']}/vision/decode/{entry['dataset']}/sub-{subject}/{entry['model']}"


def decode_targets(config: Mapping[str, Any]) -> list[str]:
    """Every ``decode.nc`` the ``vision.decode`` entries ask for."""
    return [
        f"{_folder(config, entry, s)}/decode.nc"
        for entry in entries(config).values()
        for s in entry.get("subjects", ["01"])
    ]


def metrics_targets(config: Mapping[str, Any]) -> list[str]:
    """The image metrics of every ``vision.reconstruct`` entry and subject."""
    out = []
    decodes = entries(config)
    for recon, spec in config.get("vision", {}).get("reconstruct", {}).items():
        entry = decodes.get(spec.get("decode"))
        if entry is None:
            continue
        out += [
            f"{_folder(config, entry, s)}/metrics/{recon}.nc" for s in entry.get("subjects", ["01"])
        ]
    return out


def find_entry(config: Mapping[str, Any], dataset: str, model: str) -> str:
    """The name of the ``vision.decode`` entry that decodes ``model`` on ``dataset``."""
    for name, entry in entries(config).items():
        if entry["dataset"] == dataset and entry["model"] == model:
            return name
    raise NeuroalignError(
        f"no vision.decode entry decodes model {model!r} on dataset {dataset!r}; add one."
    )


def rule_inputs(config: Mapping[str, Any], dataset: str, model: str) -> dict[str, str]:
    """The embeddings store and the dataset (folder or fetch stamp) of a decoding job."""
    entry = entries(config)[find_entry(config, dataset, model)]
    stimset = entry.get("stimset") or entry["dataset"]
    return {
        "embeddings": f"{config['results']}/activations/{model}/{stimset}.zarr",
        "dataset": str(dataset_ready(config, dataset)),
    }


def dataset_dir(config: Mapping[str, Any], dataset: str) -> str:
    """The folder of ``dataset``."""
    return str(raw_dir(config, dataset))


def stage_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of entry ``name``: its null ``seed`` filled with the top-level seed."""
    entry = dict(entries(config)[name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def metrics_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vision.metrics`` section, its null ``seed`` filled with the top-level seed."""
    section = dict(config.get("vision", {}).get("metrics", {}))
    if section.get("seed") is None:
        section["seed"] = config["seed"]
    return section
