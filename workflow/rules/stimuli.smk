SETTINGS["stimuli"] = lambda stimset: config["stimuli"][stimset]


rule build_stimuli:
    input:
        dataset=lambda wc: dataset_input(
            config["stimuli"][wc.stimset]["dataset"], stimuli=True
        ),
        settings=lambda wc: settings_file("stimuli", wc.stimset),
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
        inputs=reader_inputs,
    shell:
        "neuroalign stimuli --settings {input.settings:q} {params.inputs}"
        " --stimset {wildcards.stimset:q} --output {output:q} 2> {log:q}"
