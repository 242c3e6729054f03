rule build_stimuli:
    input:
        unpack(stimuli_inputs),
    output:
        f"{RESULTS}/stimuli/{{stimset}}.parquet",
    params:
        reader=lambda wc: config["stimuli"][wc.stimset]["reader"],
        options=lambda wc: " ".join(
            f"--option {k}={json.dumps(v)}"
            for k, v in config["stimuli"][wc.stimset]["options"].items()
        ),
        inputs=lambda wc, input: " ".join(f"--input {f}" for f in input.files),
    log:
        f"{RESULTS}/logs/stimuli/{{stimset}}.log",
    resources:
        **rule_resources("build_stimuli", mem_mb=2000, runtime=20),
    shell:
        "neuroalign stimuli --reader {params.reader} {params.inputs}"
        " --stimset {wildcards.stimset} --output {output} {params.options} 2> {log}"
