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


# Reconstruction: images generated from a decoding entry's predicted embeddings through an
# unCLIP pipeline, one folder per (`vision.reconstruct` entry, subject); the demo's pipeline is
# the tiny random one built by init_unclip (neuroalign.vision.reconstruct_workflow).
SETTINGS["reconstruct"] = lambda name: reconstruct_workflow.stage_settings(config, name)
TINY_UNCLIP = config["vision"]["tiny_unclip"]


rule init_unclip:
    input:
        unpack(lambda wc: reconstruct_workflow.unclip_encoder(config)),
    output:
        directory(f"{RESULTS}/models/tiny_unclip"),
    log:
        f"{RESULTS}/logs/init_unclip/tiny_unclip.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("init_unclip", mem_mb=4000, runtime=10),
    params:
        encoder=lambda wc, input: (
            f"--image-encoder {shlex.quote(input.image_encoder)}"
            if "image_encoder" in input.keys()
            else ""
        ),
        size=TINY_UNCLIP["image_size"],
        seed=TINY_UNCLIP["seed"],
    shell:
        "neuroalign init-unclip {params.encoder} --image-size {params.size:q}"
        " --seed {params.seed:q} --output {output:q} 2> {log:q}"


rule reconstruct_images:
    input:
        unpack(lambda wc: reconstruct_workflow.pipeline_inputs(config, wc.recon)),
        unpack(lambda wc: reconstruct_workflow.stimuli_inputs(config, wc.recon)),
        decode=f"{RESULTS}/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}/decode.nc",
        settings=lambda wc: settings_file("reconstruct", wc.recon),
    output:
        directory(
            f"{RESULTS}/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}/reconstruct/{{recon}}"
        ),
    log:
        f"{RESULTS}/logs/vision/reconstruct/{{dataset}}/sub-{{subject}}/{{model}}/{{recon}}.log",
    wildcard_constraints:
        recon="|".join(reconstruct_workflow.entries(config)) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("reconstruct_images", mem_mb=16000, runtime=60, gpu=1),
    params:
        stimuli=lambda wc, input: (
            f"--stimuli {shlex.quote(input.stimuli)}"
            if "stimuli" in input.keys()
            else ""
        ),
    shell:
        "neuroalign reconstruct --settings {input.settings:q} --decode {input.decode:q}"
        " {params.stimuli} --output {output:q} 2> {log:q}"


# Decoding of a model's image embedding from a subject's voxels, one job per
# (`vision.decode` entry's dataset, subject, model); image metrics of each reconstruction entry
# against the dataset's images (neuroalign.vision.decode_workflow).
SETTINGS["vision_decode"] = lambda name: vision_decode_workflow.stage_settings(
    config, name
)
SETTINGS["image_metrics"] = lambda name: vision_decode_workflow.metrics_settings(config)


rule decode_embeddings:
    input:
        unpack(
            lambda wc: vision_decode_workflow.rule_inputs(config, wc.dataset, wc.model)
        ),
        settings=lambda wc: settings_file(
            "vision_decode",
            vision_decode_workflow.find_entry(config, wc.dataset, wc.model),
        ),
    output:
        f"{RESULTS}/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}/decode.nc",
    log:
        f"{RESULTS}/logs/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("decode_embeddings", mem_mb=16000, runtime=30),
    params:
        dataset=lambda wc: vision_decode_workflow.dataset_dir(config, wc.dataset),
    shell:
        "neuroalign vision-decode --settings {input.settings:q}"
        " --embeddings {input.embeddings:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} --output {output:q} 2> {log:q}"


rule image_metrics:
    input:
        recons=f"{RESULTS}/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}/reconstruct/{{recon}}",
        dataset=lambda wc: dataset_input(wc.dataset),
        settings=settings_file("image_metrics", "metrics"),
    output:
        f"{RESULTS}/vision/decode/{{dataset}}/sub-{{subject}}/{{model}}/metrics/{{recon}}.nc",
    log:
        f"{RESULTS}/logs/vision/metrics/{{dataset}}/sub-{{subject}}/{{model}}/{{recon}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("image_metrics", mem_mb=8000, runtime=30),
    params:
        dataset=lambda wc: vision_decode_workflow.dataset_dir(config, wc.dataset),
    shell:
        "neuroalign image-metrics --settings {input.settings:q}"
        " --truth {params.dataset:q} --recons {input.recons:q} --output {output:q} 2> {log:q}"
