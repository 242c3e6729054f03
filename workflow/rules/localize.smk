# One localizer run per (model, entry of config `localize`); one job is one GPU job.
rule localize_units:
    input:
        unpack(lambda wc: localize_workflow.rule_inputs(config, wc.localizer)),
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
        dtype=lambda wc: config["models"][wc.model]["dtype"],
        device=lambda wc: config["models"][wc.model]["device"],
        batch_size=lambda wc: config["models"][wc.model]["batch_size"],
        stimuli=lambda wc: localize_workflow.stimuli_path(config, wc.localizer),
        flags=lambda wc: localize_workflow.cli_flags(config, wc.localizer),
    shell:
        "neuroalign localize --model {params.source:q} --stimuli {params.stimuli:q}"
        " --output {output} --dtype {params.dtype} --device {params.device}"
        " --batch-size {params.batch_size} {params.flags} 2> {log}"
