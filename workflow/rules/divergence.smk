# Divergence analyses (docs/divergence.md): per-word MEG encoding errors of a model ranked and
# contrasted across lexicon categories, and fine-tuned models (one folder each) compared with their
# base and a control. Paths come from neuroalign.divergence.workflow.

SETTINGS["divergence"] = lambda name: divergence_workflow.stage_settings(config, name)
SETTINGS["finetune"] = lambda name: divergence_workflow.finetune_settings(config, name)


rule finetune_model:
    input:
        unpack(lambda wc: divergence_workflow.finetune_inputs(config, wc.model)),
        settings=lambda wc: settings_file("finetune", wc.model),
    output:
        directory(f"{RESULTS}/models/{{model}}"),
    log:
        f"{RESULTS}/logs/finetune/{{model}}.log",
    wildcard_constraints:
        model="|".join(config.get("finetune", {})) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("finetune_model", mem_mb=16000, runtime=120, gpu=1),
    params:
        base=lambda wc: divergence_workflow.finetune_base(config, wc.model),
        data_root=f"{DATA}/raw",
    shell:
        "neuroalign finetune --settings {input.settings:q} --base {params.base:q}"
        " --output {output:q} --data-root {params.data_root:q} 2> {log:q}"


rule divergence_words:
    input:
        unpack(
            lambda wc: divergence_workflow.analyze_inputs(
                config, wc.divergence, wc.subject
            )
        ),
        settings=lambda wc: settings_file("divergence", wc.divergence),
    output:
        f"{RESULTS}/divergence/{{divergence}}/sub-{{subject}}.nc",
    log:
        f"{RESULTS}/logs/divergence/{{divergence}}/sub-{{subject}}.log",
    wildcard_constraints:
        divergence="|".join(config.get("divergence", {})) or "^$",
        subject="[A-Za-z0-9]+",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("divergence_words", mem_mb=8000, runtime=60),
    params:
        dataset=lambda wc: divergence_workflow.data_path(config, wc.divergence),
        encoding=lambda wc, input: (
            f"--encoding {shlex.quote(input.encoding)}"
            if "encoding" in input.keys()
            else ""
        ),
    shell:
        "neuroalign divergence analyze --settings {input.settings:q}"
        " --activations {input.activations:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} {params.encoding} --output {output:q}"
        " 2> {log:q}"


rule divergence_finetuned:
    input:
        unpack(lambda wc: divergence_workflow.compare_inputs(config, wc.divergence)),
        settings=lambda wc: settings_file("divergence", wc.divergence),
    output:
        f"{RESULTS}/divergence/{{divergence}}/sub-{{subject}}_finetuned.nc",
    log:
        f"{RESULTS}/logs/divergence/{{divergence}}/sub-{{subject}}_finetuned.log",
    wildcard_constraints:
        divergence="|".join(config.get("divergence", {})) or "^$",
        subject="[A-Za-z0-9]+",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("divergence_finetuned", mem_mb=8000, runtime=60),
    params:
        dataset=lambda wc: divergence_workflow.data_path(config, wc.divergence),
        control=lambda wc, input: (
            f"--control {shlex.quote(input.control)}"
            if "control" in input.keys()
            else ""
        ),
    shell:
        "neuroalign divergence compare --settings {input.settings:q}"
        " --base {input.base:q} --finetuned {input.finetuned:q} {params.control}"
        " --dataset {params.dataset:q} --subject {wildcards.subject:q}"
        " --output {output:q} 2> {log:q}"
