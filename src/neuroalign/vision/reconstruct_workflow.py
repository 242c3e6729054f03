"""What the Snakemake rules of the reconstruction stage need from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell. A
``vision.reconstruct`` entry ``<name>`` reconstructs the test images of its ``decode`` entry: for
every subject of that entry it reads
``<results>/vision/decode/<dataset>/sub-<subject>/<model>/decode.nc`` and writes the folder
``<results>/vision/decode/<dataset>/sub-<subject>/<model>/reconstruct/<name>/``.
A ``path:`` pipeline inside ``<results>/models/`` is built by rule ``init_unclip``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError

__all__ = [
    "decode_entry",
    "entries",
    "pipeline_inputs",
    "stage_settings",
    "stimuli_inputs",
    "targets",
    "unclip_encoder",
]


def entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vision.reconstruct`` entries (empty when the config has none)."""
    return dict(config.get("vision", {}).get("reconstruct", {}))


def decode_entry(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``vision.decode`` entry that reconstruction ``name`` reads."""
    decode = entries(config)[name].get("decode")
    decodes = config.get("vision", {}).get("decode", {})
    if decode not in decodes:
        raise NeuroalignError(
            f"vision.reconstruct.{name}.decode: {decode!r} is not a vision.decode entry (have "
            f"{', '.join(decodes) or 'none'})"
        )
    return dict(decodes[decode])


def targets(config: Mapping[str, Any]) -> list[str]:
    """Every reconstruction folder the ``vision.reconstruct`` entries ask for."""
    out = []
    for name in entries(config):
        entry = decode_entry(config, name)
        for subject in entry.get("subjects", ["01"]):
            out.append(
                f"{config['results']}/vision/decode/{entry['dataset']}/sub-{subject}/"
                f"{entry['model']}/reconstruct/{name}"
            )
    return out


def stage_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of entry ``name``: its null ``seed`` filled with the top-level seed."""
    entry = dict(entries(config)[name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def pipeline_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """The pipeline folder when it is built in ``<results>/models/`` (rule ``init_unclip``)."""
    source = entries(config)[name].get("pipeline", "")
    if not source.startswith("path:"):
        return {}
    folder = Path(source.removeprefix("path:"))
    if folder.parent == Path(config["results"]) / "models":
        return {"pipeline": str(folder)}
    return {}


def stimuli_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """The stimulus table of the decoded images (ground truth for the gallery), if configured."""
    entry = decode_entry(config, name)
    stimset = entry.get("stimset") or entry["dataset"]
    if stimset not in config.get("stimuli", {}):
        return {}
    return {"stimuli": f"{config['results']}/stimuli/{stimset}.parquet"}


def unclip_encoder(config: Mapping[str, Any]) -> dict[str, str]:
    """The image encoder folder of the tiny unCLIP pipeline (``vision.tiny_unclip``), if any."""
    model = config.get("vision", {}).get("tiny_unclip", {}).get("image_encoder")
    if not model:
        return {}
    entry = config["models"].get(model)
    if entry is None or not entry["source"].startswith("path:"):
        raise NeuroalignError(
            f"vision.tiny_unclip.image_encoder: {model!r} is not a model with a path: source"
        )
    return {"image_encoder": entry["source"].removeprefix("path:")}
