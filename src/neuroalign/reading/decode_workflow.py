"""What the Snakemake rule of the reading-decoding stage needs from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell. A
``reading_decode`` entry ``<name>`` writes ``<results>/reading/decode/<name>.nc`` from the
reports in its dataset's folder, with the activations of ``features.model`` on
``features.stimset`` (default: the dataset id) when a model is named.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import dataset_ready, raw_dir

__all__ = ["activations_path", "flags", "rule_inputs", "settings", "targets"]


def _entry(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    entries = config.get("reading_decode", {})
    if name not in entries:
        raise NeuroalignError(f"reading_decode has no entry {name!r} (entries: {sorted(entries)})")
    return entries[name]


def targets(config: Mapping[str, Any]) -> list[str]:
    """The result of every ``reading_decode`` entry."""
    return [
        str(Path(config["results"]) / "reading" / "decode" / f"{name}.nc")
        for name in config.get("reading_decode", {})
    ]


def settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The entry as the stage reads it: its seed defaults to the top-level seed."""
    entry = dict(_entry(config, name))
    if entry.get("seed") is None:
        entry["seed"] = config.get("seed", 0)
    return entry


def activations_path(config: Mapping[str, Any], name: str) -> str | None:
    """The activation store of the entry's features (None for hashed word vectors)."""
    entry = _entry(config, name)
    features = entry.get("features") or {}
    model = features.get("model")
    if model is None:
        return None
    stimset = features.get("stimset") or entry["dataset"]
    if model not in config["models"]:
        raise NeuroalignError(
            f"reading_decode.{name}: features.model {model!r} is not in `models` "
            f"(models: {sorted(config['models'])})"
        )
    if model not in config.get("extract", {}).get(stimset, {}).get("models", []):
        raise NeuroalignError(
            f"reading_decode.{name}: no activations of {model!r} on stimulus set {stimset!r}; "
            f"add {model} to extract.{stimset}.models (a OneStop stimulus table of the dataset)."
        )
    return str(Path(config["results"]) / "activations" / model / f"{stimset}.zarr")


def rule_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """The dataset (its folder or fetch stamp) and the activation store if any."""
    entry = _entry(config, name)
    inputs = {"dataset": str(dataset_ready(config, entry["dataset"]))}
    store = activations_path(config, name)
    if store is not None:
        inputs["activations"] = store
    return inputs


def flags(config: Mapping[str, Any], name: str) -> str:
    """``--dataset FOLDER`` and ``--activations STORE``, shell-quoted."""
    entry = _entry(config, name)
    out = [f"--dataset {shlex.quote(str(raw_dir(config, entry['dataset'])))}"]
    store = activations_path(config, name)
    if store is not None:
        out.append(f"--activations {shlex.quote(store)}")
    return " ".join(out)
