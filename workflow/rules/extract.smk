# One activation store per (model, stimulus set); one job is one GPU job on a cluster.
rule extract_activations:
    input:
        stimuli=f"{RESULTS}/stimuli/{{stimset}}.parquet",
    output:
        directory(f"{RESULTS}/activations/{{model}}/{{stimset}}.zarr"),
    log:
        f"{RESULTS}/logs/extract/{{model}}/{{stimset}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("extract_activations", mem_mb=16000, runtime=120, gpu=1),
    params:
        source=lambda wc: config["models"][wc.model]["source"],
        units=lambda wc: ",".join(config["models"][wc.model]["units"]),
        layers=lambda wc: config["models"][wc.model]["layers"],
        tower=lambda wc: config["models"][wc.model]["tower"],
        dtype=lambda wc: config["models"][wc.model]["dtype"],
        device=lambda wc: config["models"][wc.model]["device"],
        batch_size=lambda wc: config["models"][wc.model]["batch_size"],
        compile=lambda wc: "--compile" if config["models"][wc.model]["compile"] else "",
        remote=lambda wc: (
            "--trust-remote-code"
            if config["models"][wc.model]["trust_remote_code"]
            else ""
        ),
        context=lambda wc: config["extract"][wc.stimset]["context"],
        pooling=lambda wc: config["extract"][wc.stimset]["pooling"],
    shell:
        "neuroalign extract --model {params.source:q} --stimuli {input.stimuli}"
        " --output {output} --units {params.units} --layers {params.layers:q}"
        " --tower {params.tower} --context {params.context} --pooling {params.pooling}"
        " --dtype {params.dtype} --device {params.device}"
        " --batch-size {params.batch_size} {params.compile} {params.remote} 2> {log}"
