# One activation store per (model, stimulus set); one job is one GPU job on a cluster. Its
# settings file (`neuroalign extract --settings`) is the model's `models` entry with the stimulus
# set's context and pooling from `extract` (the schema's $defs/extraction).
EXTRACT_JOBS = {f"{m}.{s}": (m, s) for m, s in EXTRACTIONS}
if len(EXTRACT_JOBS) < len(EXTRACTIONS):
    raise WorkflowError(
        "Invalid configuration: two (model, stimulus set) pairs of 'extract' give the same job "
        "name <model>.<stimset>; rename a model or a stimulus set."
    )


SETTINGS["extract"] = extract_settings
# Models with `init` are built with random weights into <results>/models/<name> (their source).
INIT_MODELS = [m for m, entry in config["models"].items() if entry["init"] is not None]
SETTINGS["init_model"] = lambda name: config["models"][name]["init"]


rule init_model:
    input:
        settings=lambda wc: settings_file("init_model", wc.model),
    output:
        directory(f"{RESULTS}/models/{{model}}"),
    log:
        f"{RESULTS}/logs/init_model/{{model}}.log",
    wildcard_constraints:
        model="|".join(INIT_MODELS) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("init_model", mem_mb=4000, runtime=10),
    shell:
        "neuroalign init-model --settings {input.settings:q} --output {output:q} 2> {log:q}"


rule extract_activations:
    input:
        unpack(model_inputs),
        stimuli=f"{RESULTS}/stimuli/{{stimset}}.parquet",
        settings=lambda wc: settings_file("extract", f"{wc.model}.{wc.stimset}"),
    output:
        directory(f"{RESULTS}/activations/{{model}}/{{stimset}}.zarr"),
    log:
        f"{RESULTS}/logs/extract/{{model}}/{{stimset}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("extract_activations", mem_mb=16000, runtime=120, gpu=1),
    shell:
        "neuroalign extract --settings {input.settings:q} --stimuli {input.stimuli:q}"
        " --output {output:q} 2> {log:q}"
