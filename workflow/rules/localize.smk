# One localizer run per (model, entry of config `localize`); one job is one GPU job. Its settings
# file is the entry with the model's device, dtype and batch size where the entry leaves them null.
SETTINGS["localize"] = lambda job: localize_workflow.job_settings(config, job)


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
