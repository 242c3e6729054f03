# One localizer run per (model, entry of config `localize`); one job is one GPU job. Its settings
# file is the entry with the model's device, dtype and batch size where the entry leaves them null.
SETTINGS["localize"] = lambda job: localize_workflow.job_settings(config, job)


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


rule localize_units:
    input:
        unpack(lambda wc: localize_workflow.rule_inputs(config, wc.localizer)),
        settings=localize_settings,
    output:
        f"{RESULTS}/localize/{{model}}/{{localizer}}.nc",
    log:
        f"{RESULTS}/logs/localize/{{model}}/{{localizer}}.log",
    wildcard_constraints:
        localizer="|".join(config.get("localize", {})) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("localize_units", mem_mb=16000, runtime=120, gpu=1),
    params:
        source=lambda wc: config["models"][wc.model]["source"],
        stimuli=lambda wc: localize_workflow.stimuli_path(config, wc.localizer),
        tasks=localize_task_paths,
    shell:
        "neuroalign localize --settings {input.settings:q} --model {params.source:q}"
        " --stimuli {params.stimuli:q} {params.tasks} --output {output:q} 2> {log:q}"
