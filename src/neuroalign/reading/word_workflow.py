"""What the Snakemake rule of the word-level effects stage needs from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell and the
logic is tested without Snakemake. A ``reading_words`` entry ``<name>`` writes
``<results>/reading/words/<name>.nc`` from the stimulus table of its ``stimset``; models built
here (``models.<m>.init``) and the activation stores of ``features`` are waited for, and a
OneStop-format stimulus set also passes its interest-area report as the participant-level
measures (unless ``mixed: off``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import dataset_ready, raw_dir

__all__ = ["flags", "participants_path", "rule_inputs", "targets"]

#: Readers whose source file holds participant-level measures the stage can read.
PARTICIPANT_READERS = ("onestop",)


def _entry(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    entries = config.get("reading_words", {})
    if name not in entries:
        raise NeuroalignError(f"reading_words has no entry {name!r} (entries: {sorted(entries)})")
    return entries[name]


def targets(config: Mapping[str, Any]) -> list[str]:
    """The result of every ``reading_words`` entry."""
    return [
        str(Path(config["results"]) / "reading" / "words" / f"{name}.nc")
        for name in config.get("reading_words", {})
    ]


def participants_path(config: Mapping[str, Any], name: str) -> str | None:
    """The interest-area report of a OneStop-format stimulus set (None otherwise)."""
    entry = _entry(config, name)
    stim = config["stimuli"].get(entry["stimset"])
    if entry.get("mixed", "auto") == "off" or stim is None:
        return None
    if stim["reader"] not in PARTICIPANT_READERS or len(stim.get("files") or []) != 1:
        return None
    return str(raw_dir(config, stim["dataset"]) / stim["files"][0])


def _store(config: Mapping[str, Any], name: str, model: str) -> str:
    """The activation store of ``model`` on the entry's stimset (the extraction must list it)."""
    stimset = _entry(config, name)["stimset"]
    extract = config.get("extract", {}).get(stimset, {})
    if model not in extract.get("models", []):
        raise NeuroalignError(
            f"reading_words.{name}.features names {model!r}, but extract.{stimset}.models does "
            "not list it; add it there so its activations of the table are extracted"
        )
    return str(Path(config["results"]) / "activations" / model / f"{stimset}.zarr")


def rule_inputs(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The stimulus table, the folders of models built here and the participants' dataset."""
    entry = _entry(config, name)
    stimset = entry["stimset"]
    if stimset not in config["stimuli"]:
        raise NeuroalignError(
            f"reading_words.{name}: stimset {stimset!r} is not a `stimuli` entry "
            f"(entries: {sorted(config['stimuli'])})"
        )
    inputs: dict[str, Any] = {
        "stimuli": str(Path(config["results"]) / "stimuli" / f"{stimset}.parquet")
    }
    models = []
    for model in entry.get("models", []):
        if model not in config["models"]:
            raise NeuroalignError(f"reading_words.{name}: model {model!r} is not in `models`")
        if config["models"][model].get("init") is not None:
            models.append(str(Path(config["results"]) / "models" / model))
    if models:
        inputs["models"] = models
    stores = [_store(config, name, m) for m in entry.get("features", [])]
    if stores:
        inputs["activations"] = stores
    if participants_path(config, name):
        inputs["participants"] = str(dataset_ready(config, config["stimuli"][stimset]["dataset"]))
    return inputs


def flags(config: Mapping[str, Any], name: str) -> str:
    """``--model NAME=SOURCE`` per model and ``--participants FILE``, shell-quoted."""
    entry = _entry(config, name)
    out = [
        f"--model {shlex.quote(m + '=' + config['models'][m]['source'])}"
        for m in entry.get("models", [])
    ]
    for m in entry.get("features", []):
        out.append(f"--activations {shlex.quote(m + '=' + _store(config, name, m))}")
    path = participants_path(config, name)
    if path:
        out.append(f"--participants {shlex.quote(path)}")
    return " ".join(out)
