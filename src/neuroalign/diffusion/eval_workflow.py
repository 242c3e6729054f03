"""What the Snakemake rules of the synthesis evaluation and the voxel captions need from the config.

Pure functions of the validated config (a mapping), so the rule file stays a thin shell.

- A ``diffusion.evaluate`` entry ``<run>`` evaluates the ``diffusion.synthesize`` run of the same
  name (or the one its ``synthesize`` key names) for each of that run's subjects, into
  ``<results>/diffusion/eval/<run>/sub-<subject>.nc``; its guiding encoder is the run's, its
  held-out encoder the ``diffusion.encoders`` entry ``held_out`` names.
- A ``diffusion.captions`` entry ``<name>`` captions the ROIs of the ``diffusion.encoders``
  entry its ``encoder`` key names (null: the entry of the same name) for each of the encoder's
  subjects, into ``<results>/diffusion/captions/<name>/sub-<subject>.parquet``; the bank is the
  encoder model's activation store of ``stimset`` (null: the encoder's), whose stimulus table
  supplies the captions and image files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroalign._check import NeuroalignError

__all__ = [
    "caption_entries",
    "caption_inputs",
    "caption_settings",
    "caption_targets",
    "encoder_file",
    "eval_entries",
    "eval_inputs",
    "eval_settings",
    "eval_targets",
    "synth_run",
]


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    return dict((config.get("diffusion") or {}).get(key) or {})


def eval_entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``diffusion.evaluate`` entries (empty when the config has none)."""
    return _section(config, "evaluate")


def caption_entries(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``diffusion.captions`` entries (empty when the config has none)."""
    return _section(config, "captions")


def _encoder_entry(config: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    encoders = _section(config, "encoders")
    if name not in encoders:
        raise NeuroalignError(
            f"{where}: no diffusion.encoders entry {name!r}; it has {sorted(encoders)}."
        )
    return dict(encoders[name])


def encoder_file(config: Mapping[str, Any], name: str, subject: str, where: str = "") -> str:
    """The file of ``diffusion.encoders`` entry ``name`` for ``subject``."""
    entry = _encoder_entry(config, name, where or f"diffusion.encoders.{name}")
    return (
        f"{config['results']}/diffusion/encoders/{entry['dataset']}/sub-{subject}/"
        f"{entry['model']}.nc"
    )


def synth_run(config: Mapping[str, Any], run: str) -> tuple[str, dict[str, Any]]:
    """The ``diffusion.synthesize`` entry evaluated by ``diffusion.evaluate.<run>``."""
    entry = eval_entries(config).get(run) or {}
    name = entry.get("synthesize") or run
    runs = _section(config, "synthesize")
    if name not in runs:
        raise NeuroalignError(
            f"diffusion.evaluate.{run}: no diffusion.synthesize entry {name!r}; it has "
            f"{sorted(runs)}. Name the run in `synthesize`."
        )
    return name, dict(runs[name])


def eval_targets(config: Mapping[str, Any]) -> list[str]:
    """Every evaluation result the ``diffusion.evaluate`` entries ask for."""
    out = []
    for run in eval_entries(config):
        _, synth = synth_run(config, run)
        out += [
            f"{config['results']}/diffusion/eval/{run}/sub-{s}.nc"
            for s in synth.get("subjects", ["01"])
        ]
    return out


def eval_inputs(config: Mapping[str, Any], run: str, subject: str) -> dict[str, str]:
    """The synthesis folder and the guiding (and held-out) encoder files of an evaluation job."""
    name, synth = synth_run(config, run)
    where = f"diffusion.evaluate.{run}"
    inputs = {
        "synth": f"{config['results']}/diffusion/synth/{name}/sub-{subject}",
        "encoder": encoder_file(config, synth["encoder"], subject, where),
    }
    held_out = eval_entries(config)[run].get("held_out")
    if held_out:
        inputs["held_out"] = encoder_file(config, held_out, subject, where)
    return inputs


def eval_settings(config: Mapping[str, Any], run: str) -> dict[str, Any]:
    """The settings file of evaluation ``run``: null ``synthesize`` and ``seed`` filled."""
    entry = dict(eval_entries(config)[run])
    entry["synthesize"] = synth_run(config, run)[0]
    if entry.get("seed") is None:
        entry["seed"] = config["seed"]
    return entry


def _caption_encoder(config: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    entry = caption_entries(config).get(name) or {}
    encoder = entry.get("encoder") or name
    return encoder, _encoder_entry(config, encoder, f"diffusion.captions.{name}")


def caption_targets(config: Mapping[str, Any]) -> list[str]:
    """Every captions table the ``diffusion.captions`` entries ask for."""
    out = []
    for name in caption_entries(config):
        _, enc = _caption_encoder(config, name)
        out += [
            f"{config['results']}/diffusion/captions/{name}/sub-{s}.parquet"
            for s in enc.get("subjects", ["01"])
        ]
    return out


def caption_inputs(config: Mapping[str, Any], name: str, subject: str) -> dict[str, str]:
    """The encoder file, the bank's activation store and its stimulus table."""
    encoder, enc = _caption_encoder(config, name)
    entry = caption_entries(config)[name]
    stimset = entry.get("stimset") or enc.get("stimset") or enc["dataset"]
    return {
        "encoder": encoder_file(config, encoder, subject),
        "bank": f"{config['results']}/activations/{enc['model']}/{stimset}.zarr",
        "stimuli": f"{config['results']}/stimuli/{stimset}.parquet",
    }


def caption_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings file of captions entry ``name``: its null ``encoder`` filled."""
    entry = dict(caption_entries(config)[name])
    entry["encoder"] = _caption_encoder(config, name)[0]
    return entry
