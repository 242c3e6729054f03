rule build_stimuli:
    input:
        dataset=lambda wc: dataset_input(config["stimuli"][wc.stimset]["dataset"]),
    output:
        f"{RESULTS}/stimuli/{{stimset}}.parquet",
    log:
        f"{RESULTS}/logs/stimuli/{{stimset}}.log",
    wildcard_constraints:
        stimset="|".join(STIMSETS) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("build_stimuli", mem_mb=2000, runtime=20),
    params:
        reader=lambda wc: config["stimuli"][wc.stimset]["reader"],
        options=lambda wc: reader_options(config["stimuli"][wc.stimset]["options"]),
        inputs=reader_inputs,
    shell:
        "neuroalign stimuli --reader {params.reader} {params.inputs}"
        " --stimset {wildcards.stimset} --output {output} {params.options} 2> {log}"
