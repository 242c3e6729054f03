# Vision: image features of models against visual cortex. One encoding job per (config
# `vision.encode` entry, subject) over all the entry's models; its settings file is the entry
# with a null seed filled from the top-level seed (neuroalign.vision.encode_workflow, imported
# in common.smk).

SETTINGS["vision_encode"] = lambda name: vision_encode_workflow.stage_settings(
    config, name
)


rule encode_images:
    input:
        unpack(lambda wc: vision_encode_workflow.rule_inputs(config, wc.entry)),
        settings=lambda wc: settings_file("vision_encode", wc.entry),
    output:
        nc=f"{RESULTS}/vision/encoding/{{entry}}/sub-{{subject}}.nc",
        maps=directory(f"{RESULTS}/vision/encoding/{{entry}}/sub-{{subject}}_maps"),
    log:
        f"{RESULTS}/logs/vision/encoding/{{entry}}/sub-{{subject}}.log",
    wildcard_constraints:
        entry="|".join(vision_encode_workflow.entries(config)) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_images", mem_mb=16000, runtime=60, gpu=1),
    params:
        dataset=lambda wc: vision_encode_workflow.dataset_dir(config, wc.entry),
        activations=lambda wc: vision_encode_workflow.activation_flags(config, wc.entry),
    shell:
        "neuroalign vision-encode --settings {input.settings:q} {params.activations}"
        " --dataset {params.dataset:q} --subject {wildcards.subject:q}"
        " --output {output.nc:q} --maps {output.maps:q} 2> {log:q}"
