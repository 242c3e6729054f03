# Brain-guided synthesis (neuroalign.diffusion.synth_workflow, imported in common.smk): the tiny
# random SD pipeline of the demo (init_sd), one guiding encoder per (`diffusion.encoders` entry,
# subject) and one synthesis folder per (`diffusion.synthesize` run, subject).

SETTINGS["fit_encoder"] = lambda name: synth_workflow.encoder_settings(config, name)
SETTINGS["synthesize"] = lambda name: synth_workflow.synth_settings(config, name)
TINY_SD = config.get("diffusion", {}).get("tiny_sd", {})


rule init_sd:
    output:
        directory(f"{RESULTS}/models/tiny_sd"),
    log:
        f"{RESULTS}/logs/init_sd/tiny_sd.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("init_sd", mem_mb=4000, runtime=10),
    params:
        size=TINY_SD.get("image_size", 32),
        seed=TINY_SD.get("seed", 0),
    shell:
        "neuroalign init-sd --image-size {params.size:q} --seed {params.seed:q}"
        " --output {output:q} 2> {log:q}"


rule fit_encoder:
    input:
        unpack(lambda wc: synth_workflow.encoder_inputs(config, wc.dataset, wc.model)),
        settings=lambda wc: settings_file(
            "fit_encoder",
            synth_workflow.encoder_entry_of(config, wc.dataset, wc.model),
        ),
    output:
        f"{RESULTS}/diffusion/encoders/{{dataset}}/sub-{{subject}}/{{model}}.nc",
    log:
        f"{RESULTS}/logs/diffusion/encoders/{{dataset}}/sub-{{subject}}/{{model}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("fit_encoder", mem_mb=8000, runtime=30, gpu=1),
    params:
        dataset=lambda wc: synth_workflow.dataset_dir(config, wc.dataset),
    shell:
        "neuroalign fit-encoder --settings {input.settings:q}"
        " --activations {input.activations:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} --output {output:q} 2> {log:q}"


rule synthesize:
    input:
        unpack(lambda wc: synth_workflow.synth_inputs(config, wc.run, wc.subject)),
        settings=lambda wc: settings_file("synthesize", wc.run),
    output:
        directory(f"{RESULTS}/diffusion/synth/{{run}}/sub-{{subject}}"),
    log:
        f"{RESULTS}/logs/diffusion/synth/{{run}}/sub-{{subject}}.log",
    wildcard_constraints:
        run="|".join(synth_workflow.synth_entries(config)) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("synthesize", mem_mb=16000, runtime=120, gpu=1),
    shell:
        "neuroalign synthesize --settings {input.settings:q} --encoder {input.encoder:q}"
        " --output {output:q} 2> {log:q}"
