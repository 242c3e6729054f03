# The settings of a simulated dataset: its config section, with the seed derived from the master
# seed unless the section sets one.
SETTINGS["simulate"] = lambda kind: {
    **config["simulate"][kind],
    "seed": (
        config["simulate"][kind]["seed"]
        if config["simulate"][kind]["seed"] is not None
        else config["seed"]
        + (SIM_KINDS.index(kind) if kind in SIM_KINDS else SIM_VISION_SEED_OFFSET)
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
        "neuroalign simulate {wildcards.kind:q} --settings {input.settings:q}"
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
        "neuroalign simulate recover {wildcards.kind:q} --dataset {input.dataset:q}"
        " --output {output:q} 2> {log:q}"


# The simulated vision dataset, in two steps: the images and their table (what stimuli
# `sim_vision` reads, and a model's activations are extracted from), then the betas, driven by
# those activations when `simulate.vision.features` names a model.
rule simulate_vision_images:
    input:
        settings=settings_file("simulate", "vision"),
    output:
        images=directory(str(SIM_VISION_PATHS["images"])),
        table=str(SIM_VISION_PATHS["table"]),
    log:
        f"{RESULTS}/logs/simulate/vision-images.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("simulate_vision_images", mem_mb=2000, runtime=10),
    params:
        root=lambda wc, output: str(Path(output.table).parent),
    shell:
        "neuroalign simulate vision-images --settings {input.settings:q}"
        " --output {params.root:q} 2> {log:q}"


rule simulate_vision:
    input:
        unpack(vision_features),
        images=str(SIM_VISION_PATHS["images"]),
        table=str(SIM_VISION_PATHS["table"]),
        settings=settings_file("simulate", "vision"),
    output:
        betas=directory(str(SIM_VISION_PATHS["betas"])),
        planted=directory(str(SIM_VISION_PATHS["planted"])),
    log:
        f"{RESULTS}/logs/simulate/vision.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("simulate_vision", mem_mb=4000, runtime=20),
    params:
        root=lambda wc, input: str(Path(input.table).parent),
        features=lambda wc, input: (
            f"--features {shlex.quote(input.features)}"
            if "features" in input.keys()
            else ""
        ),
    shell:
        "neuroalign simulate vision --settings {input.settings:q}"
        " --output {params.root:q} {params.features} 2> {log:q}"
