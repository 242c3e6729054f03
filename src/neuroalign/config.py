"""Load and validate a pipeline configuration, and derive the paths every stage agrees on."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError, suggest
from neuroalign._yaml import load_yaml
from neuroalign.schemas import validate

SIMULATED_KINDS = ("fmri", "localizer", "meg", "eyetracking", "reading_goals")
#: Stimulus set of the bundled story the simulated datasets are built from.
STORY_STIMSET = "sim_story"


def validate_config(config: Mapping[str, Any], source: str | Path = "config") -> dict[str, Any]:
    """Validate a configuration mapping against the config schema and fill in defaults.

    Parameters
    ----------
    config : mapping
        The configuration, as loaded from YAML (and merged with command-line overrides).
    source : str or Path
        Where it came from, named in error messages.

    Returns
    -------
    config : dict
        A validated deep copy with every default filled in.

    Raises
    ------
    NeuroalignError
        One line naming the file, the field and the fix.
    """
    if not isinstance(config, Mapping):
        raise NeuroalignError(f"{source}: the configuration must be a mapping of keys to values.")
    config = validate(copy.deepcopy(dict(config)), "config", source)
    for name, entry in config["stimuli"].items():
        dataset = entry["dataset"]
        if dataset.startswith("sim_"):
            kind = dataset.removeprefix("sim_")
            if kind not in config["simulate"] or not config["simulate"][kind].get("enabled", True):
                raise NeuroalignError(
                    f"{source}: field 'stimuli.{name}.dataset' is {dataset!r}, but "
                    f"'simulate.{kind}' is not configured; add it under 'simulate' or pick "
                    "another dataset."
                )
        elif dataset not in config["datasets"]:
            raise NeuroalignError(
                f"{source}: field 'stimuli.{name}.dataset' is {dataset!r}, which is not listed "
                f"under 'datasets'; add '{dataset}: {{subset: starter}}' there."
            )
    for stimset, entry in config["extract"].items():
        _check_models(config, f"extract.{stimset}.models", entry["models"], source)
        if stimset != STORY_STIMSET and stimset not in config["stimuli"]:
            raise NeuroalignError(
                f"{source}: field 'extract.{stimset}' names a stimulus set that is not under "
                f"'stimuli'; add it there or use one of {sorted(config['stimuli'])}."
            )
    for name, entry in config["encode"].items():
        for model in entry["models"]:
            if (model, entry["stimset"]) not in {
                (m, st) for st, e in config["extract"].items() for m in e["models"]
            }:
                raise NeuroalignError(
                    f"{source}: field 'encode.{name}' reads {model!r} activations of stimulus set "
                    f"{entry['stimset']!r}; add {model!r} to 'extract.{entry['stimset']}.models'."
                )
        if entry["localized"] is not None:
            localized = config["localize"].get(entry["localized"])
            if localized is None or not set(entry["models"]) <= set(localized["models"]):
                raise NeuroalignError(
                    f"{source}: field 'encode.{name}.localized' is {entry['localized']!r}; it "
                    "must name a 'localize' entry run on the same models."
                )
    for name, entry in config["localize"].items():
        if not entry["models"]:
            raise NeuroalignError(
                f"{source}: field 'localize.{name}.models' is empty; name at least one model of "
                "'models' to localize."
            )
        _check_models(config, f"localize.{name}.models", entry["models"], source)
        if entry["stimset"] is None and entry["dataset"] is None:
            raise NeuroalignError(
                f"{source}: field 'localize.{name}' needs 'dataset' (a dataset folder with the "
                "stimuli) or 'stimset' (a stimulus table); add one."
            )
        if entry["stimset"] is not None and entry["stimset"] not in config["stimuli"]:
            raise NeuroalignError(
                f"{source}: field 'localize.{name}.stimset' is {entry['stimset']!r}, which is not "
                f"under 'stimuli'; use one of {sorted(config['stimuli'])}."
            )
    _check_models(config, "episodic.models", config["episodic"]["models"], source)
    for name, entry in config["models"].items():
        if entry.get("init") is not None:
            _check_init_source(config, name, entry["source"], source)
    if config["episodic"]["analyze_trained"] and config["episodic"]["train"] is None:
        raise NeuroalignError(
            f"{source}: field 'episodic.analyze_trained' is true but 'episodic.train' is not set; "
            "add 'train: {}' (the training run with its defaults) or set analyze_trained: false."
        )
    features = config["simulate"].get("vision", {}).get("features")
    if features and features["model"] not in config["extract"].get(SIM_VISION, {}).get(
        "models", []
    ):
        raise NeuroalignError(
            f"{source}: field 'simulate.vision.features.model' is {features['model']!r}; list "
            f"it under 'extract.{SIM_VISION}.models' so its activations of the images exist."
        )
    features = config["simulate"].get("fmri", {}).get("features")
    if features:
        if features["model"] not in config["extract"].get(STORY_STIMSET, {}).get("models", []):
            raise NeuroalignError(
                f"{source}: field 'simulate.fmri.features.model' is {features['model']!r}; "
                f"list it under 'extract.{STORY_STIMSET}.models' so its activations exist."
            )
    return config


def init_model_dir(config: Mapping[str, Any], model: str) -> Path:
    """The folder a model with ``init`` (random weights) is built into (results/models/name)."""
    return Path(config["results"]) / "models" / model


def _check_init_source(
    config: Mapping[str, Any], model: str, spec: str, source: str | Path
) -> None:
    """Raise unless a model built with random weights reads the folder it is built into."""
    folder = init_model_dir(config, model)
    scheme, _, location = str(spec).partition(":")
    if scheme != "path" or Path(location) != folder:
        raise NeuroalignError(
            f"{source}: field 'models.{model}.source' is {spec!r}, but the model has 'init' "
            f"(random weights built into {folder}); set source: path:{folder}."
        )


def _check_models(
    config: Mapping[str, Any], field: str, models: Sequence[str], source: str | Path
) -> None:
    """Raise if ``field`` names a model that is not under ``models``."""
    for model in models:
        if model not in config["models"]:
            raise NeuroalignError(
                f"{source}: field '{field}' names {model!r}, which is not under 'models'; add it "
                f"there (with its source) or remove it.{suggest(model, config['models'])}"
            )


def load_config(path: str | Path) -> dict[str, Any]:
    """Load a YAML configuration file safely and validate it (see `validate_config`)."""
    return validate_config(load_yaml(path) or {}, source=path)


def raw_dir(config: Mapping[str, Any], dataset: str) -> Path:
    """Folder of a raw dataset: ``<data.root>/raw/<dataset>``."""
    return Path(config["data"]["root"]) / "raw" / dataset


def fetch_stamp(config: Mapping[str, Any], dataset: str) -> Path:
    """Completion stamp that `neuroalign fetch` writes once every file is verified."""
    subset = config["datasets"][dataset]["subset"]
    return raw_dir(config, dataset) / f".neuroalign-fetch-{subset}.json"


#: The simulated vision dataset, written in two steps (see `simulated_vision_paths`).
SIM_VISION = "sim_vision"
#: Offset of simulate.vision's seed from the master seed when it sets none (kept at 4, the
#: number of kinds before reading_goals was added, so that the demo's images did not change).
SIM_VISION_SEED_OFFSET = 4


def simulated_vision_paths(config: Mapping[str, Any]) -> dict[str, Path]:
    """What the two steps of the simulated vision dataset write, under its folder.

    ``images`` and ``table`` (first step: the procedural images and ``images.tsv``, what its
    stimulus table reads), ``betas`` and ``planted`` (second step: the single-trial betas and
    the planted truth, once the images' activations exist).
    """
    root = raw_dir(config, SIM_VISION)
    return {
        "images": root / "images",
        "table": root / "images.tsv",
        "betas": root / "betas_vol",
        "planted": root / "derivatives" / "planted",
    }


def dataset_ready(config: Mapping[str, Any], dataset: str, *, stimuli: bool = False) -> Path:
    """The path a stage that reads ``dataset`` waits for: its folder, a step's output, or a stamp.

    Simulated datasets: their folder, except ``sim_vision``, whose betas (or, with
    ``stimuli=True``, its image table) mark the step the reader needs. Real datasets: the
    fetch stamp.
    """
    if dataset == SIM_VISION:
        return simulated_vision_paths(config)["table" if stimuli else "betas"]
    if dataset.startswith("sim_"):
        return raw_dir(config, dataset)
    return fetch_stamp(config, dataset)


def simulated_kinds(config: Mapping[str, Any]) -> list[str]:
    """Simulated dataset kinds switched on in the configuration, in pipeline order."""
    sim = config.get("simulate", {})
    return [k for k in SIMULATED_KINDS if k in sim and sim[k].get("enabled", True)]
