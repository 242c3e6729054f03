"""What the Snakemake rule of this stage needs from the config: targets, inputs and settings.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell and the
logic is tested without Snakemake. A ``localize`` entry names a localizer run; each of its
``models`` gets ``<results>/localize/<model>/<entry>.nc``, from the settings file of the job
``<model>.<entry>`` (`job_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import fetch_stamp, raw_dir
from neuroalign.localize.settings import LocalizeSettings


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


def task_path(config: Mapping[str, Any], name: str, key: str) -> str | None:
    """The file of entry ``name``'s ``blimp``, ``corpus`` or ``brain`` (None when not set)."""
    task = config["localize"][name].get(key)
    if not task:
        return None
    return str(raw_dir(config, task["dataset"]) / task["file"])


def job_name(model: str, name: str) -> str:
    """The name of the settings file of entry ``name`` run on ``model``."""
    return f"{model}.{name}"


def job_settings(config: Mapping[str, Any], job: str) -> dict[str, Any]:
    """The settings of one job (`job_name`): the entry with its model's device, dtype, batch size.

    The precedence is `LocalizeSettings.for_model`: what the entry sets, else the model
    entry's value (``models.<model>``), else the default; ``seed`` falls back on the
    top-level seed.

    Raises
    ------
    NeuroalignError
        If ``job`` names no (model, entry) pair of the config, or more than one.
    """
    pairs = [(m, n) for m, n in localize_runs(config) if job_name(m, n) == job]
    if len(pairs) != 1:
        raise NeuroalignError(
            f"localize job {job!r}: {'no' if not pairs else 'more than one'} (model, entry) pair "
            "of the config has this name; rename the model or the localize entry."
        )
    model, name = pairs[0]
    settings = LocalizeSettings.from_config(config["localize"][name], f"localize.{name}")
    return settings.for_model(config["models"][model], config.get("seed")).to_dict()
