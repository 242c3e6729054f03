"""What the Snakemake rules of the guiding encoders and the synthesis runs need from the config.

Pure functions of the validated config. A ``diffusion.encoders`` entry ``<name>`` fits one
encoder per subject from ``<results>/activations/<model>/<stimset>.zarr`` into
``<results>/diffusion/encoders/<dataset>/sub-<subject>/<model>.nc``; a ``diffusion.synthesize``
entry ``<run>`` guides with the encoder its ``encoder`` key names and writes
``<results>/diffusion/synth/<run>/sub-<subject>/``. A ``path:`` pipeline inside
``<results>/models/`` is built by rule ``init_sd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import dataset_ready, raw_dir

__all__ = [
    "dataset_dir",
    "encoder_entries",
    "encoder_entry_of",
    "encoder_inputs",
    "encoder_settings",
    "encoder_targets",
    "synth_entries",
    "synth_inputs",
    "synth_settings",
    "synth_targets",
]


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    return dict(config.get("diffusion", {}).get(key, {}))


def encoder_entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``diffusion.encoders`` entries."""
    return _section(config, "encoders")


def synth_entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``diffusion.synthesize`` entries."""
    return _section(config, "synthesize")


def _encoder_file(config: Mapping[str, Any], entry: Mapping[str, Any], subject: str) -> str:
    return (
        f"{config['results']}/diffusion/encoders/{entry['dataset']}/sub-{subject}/"
        f"{entry['model']}.nc"
    )


def encoder_targets(config: Mapping[str, Any]) -> list[str]:
    """Every encoder file of the ``diffusion.encoders`` entries."""
    return [
        _encoder_file(config, entry, s)
        for entry in encoder_entries(config).values()
        for s in entry.get("subjects", ["01"])
    ]


def encoder_entry_of(config: Mapping[str, Any], dataset: str, model: str) -> str:
    """The name of the encoder entry of (dataset, model)."""
    for name, entry in encoder_entries(config).items():
        if entry["dataset"] == dataset and entry["model"] == model:
            return name
    raise NeuroalignError(f"diffusion.encoders: no entry for dataset {dataset}, model {model}")


def encoder_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of encoder entry ``name`` (null seed filled with the top-level seed)."""
    entry = dict(encoder_entries(config)[name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def encoder_inputs(config: Mapping[str, Any], dataset: str, model: str) -> dict[str, str]:
    """The activation store and the dataset (folder or fetch stamp) of an encoder fit."""
    entry = encoder_entries(config)[encoder_entry_of(config, dataset, model)]
    stimset = entry.get("stimset") or entry["dataset"]
    return {
        "activations": f"{config['results']}/activations/{model}/{stimset}.zarr",
        "dataset": str(dataset_ready(config, dataset)),
    }


def dataset_dir(config: Mapping[str, Any], dataset: str) -> str:
    """The folder of a dataset."""
    return str(raw_dir(config, dataset))


def _synth_encoder(config: Mapping[str, Any], run: str) -> dict[str, Any]:
    name = synth_entries(config)[run]["encoder"]
    encoders = encoder_entries(config)
    if name not in encoders:
        raise NeuroalignError(
            f"diffusion.synthesize.{run}.encoder: {name!r} is not a diffusion.encoders entry "
            f"(have {', '.join(encoders) or 'none'})"
        )
    return encoders[name]


def synth_targets(config: Mapping[str, Any]) -> list[str]:
    """Every synthesis folder of the ``diffusion.synthesize`` entries."""
    return [
        f"{config['results']}/diffusion/synth/{run}/sub-{s}"
        for run, entry in synth_entries(config).items()
        for s in entry.get("subjects", ["01"])
    ]


def synth_settings(config: Mapping[str, Any], run: str) -> dict[str, Any]:
    """The settings file of synthesis run ``run``."""
    return dict(synth_entries(config)[run])


def synth_inputs(config: Mapping[str, Any], run: str, subject: str) -> dict[str, str]:
    """The encoder file and, when built here (rule ``init_sd``), the pipeline folder."""
    out = {"encoder": _encoder_file(config, _synth_encoder(config, run), subject)}
    source = synth_entries(config)[run].get("pipeline", "path:results/models/tiny_sd")
    if source.startswith("path:"):
        folder = Path(source.removeprefix("path:"))
        if folder.parent == Path(config["results"]) / "models":
            out["pipeline"] = str(folder)
    return out
