"""What the Snakemake rules of ``divergence`` and ``finetune`` need from the config.

Pure functions of the validated config (a mapping). A ``divergence`` entry names a MEG
``dataset``, the ``stimset`` whose activations it reads, the ``model`` (and optionally a
``finetuned`` model and a ``control``, names in ``models``) and ``subjects``; a ``finetune``
entry names its ``base`` model, optionally a fetched dataset (``data.dataset``, whose fetch it
waits for), and writes ``<results>/models/<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroalign._check import NeuroalignError
from neuroalign.config import fetch_stamp, raw_dir

__all__ = [
    "analyze_inputs",
    "compare_inputs",
    "data_path",
    "finetune_base",
    "finetune_inputs",
    "finetune_settings",
    "stage_settings",
    "targets",
]


def _entry(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    entry = config["divergence"][name]
    for key in ("dataset", "stimset", "model"):
        if not entry.get(key):
            raise NeuroalignError(f"divergence.{name}: set {key} (a workflow entry needs one).")
    for key in ("model", "finetuned", "control"):
        model = entry.get(key)
        if model and model not in config["models"]:
            raise NeuroalignError(
                f"divergence.{name}.{key}: {model!r} is not a model in `models`; add it there."
            )
    return entry


def targets(config: Mapping[str, Any]) -> list[str]:
    """Every result file the ``divergence`` entries ask for."""
    results, out = config["results"], []
    for name, entry in config.get("divergence", {}).items():
        _entry(config, name)
        for s in entry["subjects"]:
            out.append(f"{results}/divergence/{name}/sub-{s}.nc")
            if entry.get("finetuned"):
                out.append(f"{results}/divergence/{name}/sub-{s}_finetuned.nc")
    return out


def _store(config: Mapping[str, Any], model: str, stimset: str) -> str:
    return f"{config['results']}/activations/{model}/{stimset}.zarr"


def _dataset(config: Mapping[str, Any], dataset: str) -> str:
    ready = raw_dir(config, dataset) if dataset.startswith("sim_") else fetch_stamp(config, dataset)
    return str(ready)


def analyze_inputs(config: Mapping[str, Any], name: str, subject: str) -> dict[str, str]:
    """The model's activation store and the dataset (folder or fetch stamp) of ``analyze``, and
    the encoding result of the entry's ``encoding`` (an ``encode`` entry of kind meg_epochs)."""
    entry = _entry(config, name)
    inputs = {
        "activations": _store(config, entry["model"], entry["stimset"]),
        "dataset": _dataset(config, entry["dataset"]),
    }
    encoding = entry.get("encoding")
    if encoding:
        encode = config.get("encode", {}).get(encoding)
        if (
            encode is None
            or encode["kind"] != "meg_epochs"
            or entry["model"] not in encode["models"]
        ):
            raise NeuroalignError(
                f"divergence.{name}.encoding: {encoding!r} must be an `encode` entry of kind "
                f"meg_epochs whose models include {entry['model']!r}."
            )
        inputs["encoding"] = (
            f"{config['results']}/encoding/{encoding}/{entry['model']}/sub-{subject}.nc"
        )
    return inputs


def compare_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """The stores of the base, fine-tuned and control models, and the dataset, of ``compare``."""
    entry = _entry(config, name)
    inputs = {
        "base": _store(config, entry["model"], entry["stimset"]),
        "finetuned": _store(config, entry["finetuned"], entry["stimset"]),
        "dataset": _dataset(config, entry["dataset"]),
    }
    if entry.get("control"):
        inputs["control"] = _store(config, entry["control"], entry["stimset"])
    return inputs


def data_path(config: Mapping[str, Any], name: str) -> str:
    """The dataset folder of entry ``name``."""
    return str(raw_dir(config, config["divergence"][name]["dataset"]))


def stage_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of entry ``name``: the entry, its null ``seed`` the top-level seed."""
    entry = dict(config["divergence"][name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def finetune_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of fine-tune ``name``: the entry, its null ``seed`` the top-level seed."""
    entry = dict(config["finetune"][name])
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def finetune_base(config: Mapping[str, Any], name: str) -> str:
    """The source of fine-tune ``name``'s base model."""
    base = config["finetune"][name].get("base")
    if not base or base not in config["models"]:
        raise NeuroalignError(
            f"finetune.{name}.base: {base!r} is not a model in `models`; name the base model."
        )
    return config["models"][base]["source"]


def finetune_inputs(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """What fine-tune ``name`` waits for besides its settings: the fetch stamp of its ``data``.

    Raises
    ------
    NeuroalignError
        When ``data.dataset`` is not listed in the config's ``datasets`` (its subset is
        needed to know which fetch to wait for).
    """
    data = config["finetune"][name].get("data")
    if not data:
        return {}
    dataset = data["dataset"]
    if dataset not in config.get("datasets", {}):
        raise NeuroalignError(
            f"finetune.{name}.data.dataset: {dataset!r} is not in `datasets`; add "
            f"`datasets: {{{dataset}: {{subset: starter}}}}` so the workflow fetches it."
        )
    return {"data": str(fetch_stamp(config, dataset))}
