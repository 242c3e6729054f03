# Validate the configuration first, then derive every path from it, so another workflow that
# imports these rules as a module gets its own paths from its own config.
import json
import os
import shlex
from pathlib import Path

from snakemake.utils import validate

from neuroalign._check import NeuroalignError
from neuroalign.settings import write_settings
from neuroalign.encode import workflow as encode_workflow
from neuroalign.localize import workflow as localize_workflow
from neuroalign.reading import word_workflow as reading_word_workflow
from neuroalign.reading import decode_workflow as reading_decode_workflow
from neuroalign.divergence import workflow as divergence_workflow
from neuroalign.vision import encode_workflow as vision_encode_workflow
from neuroalign.vision import reconstruct_workflow
from neuroalign.vision import decode_workflow as vision_decode_workflow
from neuroalign.diffusion import eval_workflow as diffusion_eval_workflow
from neuroalign.diffusion import synth_workflow

# Rule logs carry the stages' progress (info level) unless the user asks for another level.
os.environ.setdefault("NEUROALIGN_VERBOSE", "1")
from neuroalign.config import (
    SIM_VISION_SEED_OFFSET,
    STORY_STIMSET,
    dataset_ready,
    fetch_stamp,
    raw_dir,
    simulated_kinds,
    simulated_vision_paths,
    validate_config,
)

try:
    config = validate_config(
        config, source=", ".join(map(str, workflow.configfiles)) or "config"
    )
except NeuroalignError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None
# The same schema through Snakemake's validator (defaults are already filled above).
validate(config, "../schemas/config.schema.yaml", set_default=False)

DATA = config["data"]["root"]
RESULTS = config["results"]
SIM_KINDS = simulated_kinds(config)
DATASETS = list(config["datasets"])
STIMSETS = list(config["stimuli"])
EXTRACTIONS = [
    (m, s) for s, entry in config["extract"].items() for m in entry["models"]
]


wildcard_constraints:
    kind="|".join(SIM_KINDS) or "^$",
    dataset="[a-z0-9_]+",
    stimset="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_.-]+",


def rule_resources(rule, **defaults):
    """Resources of a rule: the defaults, overridden by config `resources.<rule>`."""
    return {**defaults, **config["resources"].get(rule, {})}


def dataset_input(dataset, stimuli=False):
    """What a stage needs before it can read a dataset: its folder, a step, or its fetch stamp.

    sim_vision is written in two steps: its stimulus table needs only the images (stimuli=True),
    every other reader its betas.
    """
    return str(dataset_ready(config, dataset, stimuli=stimuli))


def reader_inputs(wildcards):
    """Paths the reader of a stimulus set reads: its `files`, or the dataset folder."""
    entry = config["stimuli"][wildcards.stimset]
    folder = raw_dir(config, entry["dataset"])
    files = [folder / f for f in entry["files"]] or [folder]
    return " ".join(f"--input {shlex.quote(str(f))}" for f in files)


def simulation_features(wildcards):
    """The activation store that drives a simulated dataset, if its config names one."""
    features = config["simulate"][wildcards.kind].get("features")
    if not features:
        return {}
    return {
        "features": f"{RESULTS}/activations/{features['model']}/{STORY_STIMSET}.zarr"
    }


# What the two steps of the simulated vision dataset write (images + table, then betas).
SIM_VISION_PATHS = simulated_vision_paths(config)


def vision_features(wildcards):
    """The activation store of the images that drives the simulated voxels, if configured."""
    features = config["simulate"].get("vision", {}).get("features")
    if not features:
        return {}
    return {"features": f"{RESULTS}/activations/{features['model']}/sim_vision.zarr"}


def get_final_outputs():
    """Everything `snakemake` builds by default: the report, which depends on every stage."""
    return [f"{RESULTS}/report"]


EPISODIC = config["episodic"]
EPISODIC_MODELS = EPISODIC["models"]
# The training run's checkpoints, from the validated config (the schema filled the defaults).
EPISODIC_STEPS = EPISODIC["train"]["checkpoints"] if EPISODIC["train"] else []
# The model name of the trained tiny transformer's last checkpoint (`episodic.analyze_trained`).
TRAINED = "trained_tiny"
TRAINED_PATH = f"{RESULTS}/episodic/train/tiny/step{max(EPISODIC_STEPS, default=0)}"


def episodic_model_source(model):
    """The source of a model of the episodic stage: a config model or the trained checkpoint."""
    if model == TRAINED:
        return f"path:{TRAINED_PATH}"
    return config["models"][model]["source"]


def episodic_heads_inputs(wildcards):
    """The CMR grid, the human curves (when configured) and the trained run (when analysed)."""
    inputs = {"grid": f"{RESULTS}/episodic/cmr_grid.nc"}
    if EPISODIC["human"]:
        inputs["human"] = f"{RESULTS}/episodic/human.nc"
    if wildcards.model == TRAINED:
        inputs["train"] = f"{RESULTS}/episodic/train/tiny"
    return inputs


def episodic_targets():
    """Results of the episodic stage the config asks for (none when `episodic` is empty)."""
    episodic = config["episodic"]
    out = [f"{RESULTS}/episodic/trajectory/tiny.nc"] if episodic["train"] else []
    if episodic["human"]:
        out.append(f"{RESULTS}/episodic/human.nc")
    models = episodic["models"] + (
        ["trained_tiny"] if episodic["analyze_trained"] else []
    )
    for model in models:
        out += [
            f"{RESULTS}/episodic/heads/{model}.nc",
            f"{RESULTS}/episodic/ablation/{model}.nc",
        ]
    return out


def report_inputs(wildcards):
    """Saved results the report reads."""
    return {
        "stimuli": expand(f"{RESULTS}/stimuli/{{stimset}}.parquet", stimset=STIMSETS),
        "recovery": expand(
            f"{RESULTS}/simulate/sim_{{kind}}_recovery.nc", kind=SIM_KINDS
        ),
        "fetched": [str(fetch_stamp(config, d)) for d in DATASETS],
        "activations": [f"{RESULTS}/activations/{m}/{s}.zarr" for m, s in EXTRACTIONS],
        "encoding": encode_workflow.targets(config),
        "reading_words": reading_word_workflow.targets(config),
        "reading_decode": reading_decode_workflow.targets(config),
        "episodic": episodic_targets(),
        "localize": [
            f"{RESULTS}/localize/{m}/{n}.nc"
            for m, n in localize_workflow.localize_runs(config)
        ],
        "vision_encode": vision_encode_workflow.targets(config),
        "reconstruct": reconstruct_workflow.targets(config),
        "vision_decode": vision_decode_workflow.decode_targets(config),
        "image_metrics": vision_decode_workflow.metrics_targets(config),
        "diffusion_encoders": synth_workflow.encoder_targets(config),
        "synthesize": synth_workflow.synth_targets(config),
        "diffusion_eval": diffusion_eval_workflow.eval_targets(config),
        "captions": diffusion_eval_workflow.caption_targets(config),
        "divergence": divergence_workflow.targets(config),
    }


# One settings file per stage job: the validated config section the stage runs with. A rule lists
# it as an input and passes it with `--settings`; Snakemake re-runs the job when it changes.
# Each rules file registers how its stage's section is found: SETTINGS[stage](name) -> mapping.
SETTINGS = {}


def settings_file(stage, name):
    """The settings file of one stage job (written by rule `stage_settings`)."""
    return f"{RESULTS}/settings/{stage}/{name}.json"


def extract_settings(name):
    """The settings of extraction job `<model>.<stimset>`."""
    model, stimset = EXTRACT_JOBS[name]
    entry = config["extract"][stimset]
    return {
        "model": config["models"][model],
        "context": entry["context"],
        "pooling": entry["pooling"],
    }


def localize_settings(wildcards):
    """The settings file of one (model, entry) job."""
    return settings_file(
        "localize", localize_workflow.job_name(wildcards.model, wildcards.localizer)
    )


def localize_task_paths(wildcards):
    """`--blimp`, `--corpus` and `--brain` flags of the files the entry names."""
    flags = []
    for key in ("blimp", "corpus", "brain"):
        path = localize_workflow.task_path(config, wildcards.localizer, key)
        if path:
            flags.append(f"--{key} {shlex.quote(path)}")
    return " ".join(flags)


def model_inputs(wildcards):
    """The folder of a model built here (random weights), which its extraction reads."""
    if config["models"][wildcards.model].get("init") is not None:
        return {"model": f"{RESULTS}/models/{wildcards.model}"}
    # A model fine-tuned here (rule finetune_model)
    if wildcards.model in config.get("finetune", {}):
        return {"model": f"{RESULTS}/models/{wildcards.model}"}
    return {}
