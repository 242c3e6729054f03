rule story_stimuli:
    output:
        f"{RESULTS}/stimuli/{STORY_STIMSET}.parquet",
    log:
        f"{RESULTS}/logs/simulate/story.log",
    conda:
        "../envs/neuroalign.yaml"
    shell:
        "neuroalign simulate story --output {output} 2> {log}"


rule simulate_dataset:
    input:
        unpack(simulation_features),
    output:
        directory(f"{DATA}/raw/sim_{{kind}}"),
    log:
        f"{RESULTS}/logs/simulate/{{kind}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("simulate_dataset", mem_mb=4000, runtime=30),
    params:
        seed=lambda wc: config["seed"] + SIM_KINDS.index(wc.kind),
        settings=lambda wc: json.dumps(
            {k: v for k, v in config["simulate"][wc.kind].items() if k != "features"}
        ),
        features=lambda wc, input: features_flags(wc.kind, input),
    shell:
        "neuroalign simulate {wildcards.kind} --output {output} --seed {params.seed}"
        " --settings {params.settings:q} {params.features} 2> {log}"


rule recover_simulation:
    input:
        dataset=f"{DATA}/raw/sim_{{kind}}",
    output:
        report(
            f"{RESULTS}/simulate/sim_{{kind}}_recovery.nc",
            caption="../report/recovery.rst",
            category="Simulated data",
            subcategory="{kind}",
        ),
    log:
        f"{RESULTS}/logs/simulate/{{kind}}-recover.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("recover_simulation", mem_mb=4000, runtime=30),
    shell:
        "neuroalign simulate recover {wildcards.kind} --dataset {input.dataset}"
        " --output {output} 2> {log}"
