# The settings of a simulated dataset: its config section, with the seed derived from the master
# seed unless the section sets one.
SETTINGS["simulate"] = lambda kind: {
    **config["simulate"][kind],
    "seed": (
        config["simulate"][kind]["seed"]
        if config["simulate"][kind]["seed"] is not None
        else config["seed"] + SIM_KINDS.index(kind)
    ),
}


rule story_stimuli:
    output:
        f"{RESULTS}/stimuli/{STORY_STIMSET}.parquet",
    log:
        f"{RESULTS}/logs/simulate/story.log",
    conda:
        "../envs/neuroalign.yaml"
    shell:
        "neuroalign simulate story --output {output:q} 2> {log:q}"


rule simulate_dataset:
    input:
        unpack(simulation_features),
        settings=lambda wc: settings_file("simulate", wc.kind),
    output:
        directory(f"{DATA}/raw/sim_{{kind}}"),
    log:
        f"{RESULTS}/logs/simulate/{{kind}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("simulate_dataset", mem_mb=4000, runtime=30),
    params:
        features=lambda wc, input: (
            f"--features {shlex.quote(input.features)}"
            if "features" in input.keys()
            else ""
        ),
    shell:
        "neuroalign simulate {wildcards.kind} --settings {input.settings:q}"
        " --output {output:q} {params.features} 2> {log:q}"


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
        "neuroalign simulate recover {wildcards.kind} --dataset {input.dataset:q}"
        " --output {output:q} 2> {log:q}"
