# Induction heads vs human episodic memory: free-recall curves (with the token-sequence CMR fitted
# to them on the heads' grid and lags), the cached CMR grid, head analyses, ablations, and a tiny
# training run whose checkpoints show induction heads emerging.
rule episodic_human:
    input:
        data=lambda wc: [
            dataset_input(e["dataset"]) for e in EPISODIC["human"].values()
        ],
        grid=f"{RESULTS}/episodic/cmr_grid.nc",
    output:
        f"{RESULTS}/episodic/human.nc",
    log:
        f"{RESULTS}/logs/episodic/human.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_human", mem_mb=4000, runtime=20),
    params:
        data=lambda wc: " ".join(
            shlex.quote(f"{name}={raw_dir(config, e['dataset']) / e['file']}")
            for name, e in EPISODIC["human"].items()
        ),
        settings=json.dumps(EPISODIC["heads"]),
    shell:
        "neuroalign episodic human --data {params.data} --grid {input.grid}"
        " --settings {params.settings:q} --output {output} 2> {log}"


rule episodic_cmr_grid:
    output:
        f"{RESULTS}/episodic/cmr_grid.nc",
    log:
        f"{RESULTS}/logs/episodic/cmr_grid.log",
    conda:
        "../envs/neuroalign.yaml"
    threads: 4
    resources:
        **rule_resources("episodic_cmr_grid", mem_mb=4000, runtime=240),
    params:
        seed=config["seed"],
        settings=json.dumps(EPISODIC["grid"]),
    shell:
        "neuroalign episodic grid --output {output} --seed {params.seed} --jobs {threads}"
        " --settings {params.settings:q} 2> {log}"


rule episodic_heads:
    input:
        unpack(episodic_heads_inputs),
    output:
        f"{RESULTS}/episodic/heads/{{model}}.nc",
    log:
        f"{RESULTS}/logs/episodic/heads-{{model}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_heads", mem_mb=16000, runtime=60, gpu=1),
    params:
        source=lambda wc: episodic_model_source(wc.model),
        human=lambda wc, input: (
            f"--human {input.human}" if "human" in input.keys() else ""
        ),
        settings=json.dumps(EPISODIC["heads"]),
        device=EPISODIC["device"],
    shell:
        "neuroalign episodic heads --model {params.source:q} --grid {input.grid}"
        " {params.human} --device {params.device} --settings {params.settings:q}"
        " --output {output} 2> {log}"


rule episodic_ablate:
    input:
        heads=f"{RESULTS}/episodic/heads/{{model}}.nc",
    output:
        f"{RESULTS}/episodic/ablation/{{model}}.nc",
    log:
        f"{RESULTS}/logs/episodic/ablate-{{model}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_ablate", mem_mb=16000, runtime=120, gpu=1),
    params:
        source=lambda wc: episodic_model_source(wc.model),
        settings=json.dumps(EPISODIC["heads"]),
        device=EPISODIC["device"],
        corpus=(
            f"--corpus {shlex.quote(EPISODIC['corpus'])}" if EPISODIC["corpus"] else ""
        ),
    shell:
        "neuroalign episodic ablate --model {params.source:q} --heads {input.heads}"
        " {params.corpus} --device {params.device} --settings {params.settings:q}"
        " --output {output} 2> {log}"


rule episodic_train:
    output:
        directory(f"{RESULTS}/episodic/train/tiny"),
    log:
        f"{RESULTS}/logs/episodic/train.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_train", mem_mb=4000, runtime=30),
    params:
        seed=config["seed"],
        settings=json.dumps(EPISODIC["train"]),
    shell:
        "neuroalign episodic train --output {output} --seed {params.seed}"
        " --settings {params.settings:q} 2> {log}"


rule episodic_checkpoint_heads:
    input:
        train=f"{RESULTS}/episodic/train/tiny",
    output:
        f"{RESULTS}/episodic/train_heads/tiny/step{{step}}.nc",
    log:
        f"{RESULTS}/logs/episodic/train-heads-{{step}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_checkpoint_heads", mem_mb=4000, runtime=20),
    params:
        settings=json.dumps(EPISODIC["train_heads"]),
    shell:
        "neuroalign episodic heads --model path:{input.train}/step{wildcards.step}"
        " --settings {params.settings:q} --output {output} 2> {log}"


rule episodic_trajectory:
    input:
        expand(
            f"{RESULTS}/episodic/train_heads/tiny/step{{step}}.nc", step=EPISODIC_STEPS
        ),
    output:
        f"{RESULTS}/episodic/trajectory/tiny.nc",
    log:
        f"{RESULTS}/logs/episodic/trajectory.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_trajectory", mem_mb=2000, runtime=10),
    params:
        pairs=" ".join(
            f"step{s}={RESULTS}/episodic/train_heads/tiny/step{s}.nc"
            for s in EPISODIC_STEPS
        ),
    shell:
        "neuroalign episodic trajectory --heads {params.pairs} --output {output} 2> {log}"
