# Induction heads vs human episodic memory: free-recall curves (with the token-sequence CMR fitted
# to them on the heads' grid and lags), the cached CMR grid, head analyses, ablations, and a tiny
# training run whose checkpoints show induction heads emerging. Each job's settings file holds the
# part of `episodic` that its step reads (neuroalign.episodic.workflow.step_settings).
from neuroalign.episodic import workflow as episodic_workflow

SETTINGS["episodic"] = lambda step: episodic_workflow.step_settings(config, step)


rule episodic_human:
    input:
        data=lambda wc: [
            dataset_input(e["dataset"]) for e in EPISODIC["human"].values()
        ],
        grid=f"{RESULTS}/episodic/cmr_grid.nc",
        settings=settings_file("episodic", "human"),
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
    shell:
        "neuroalign episodic human --settings {input.settings:q} --data {params.data}"
        " --grid {input.grid:q} --output {output:q} 2> {log:q}"


rule episodic_cmr_grid:
    input:
        settings=settings_file("episodic", "grid"),
    output:
        f"{RESULTS}/episodic/cmr_grid.nc",
    log:
        f"{RESULTS}/logs/episodic/cmr_grid.log",
    conda:
        "../envs/neuroalign.yaml"
    threads: 4
    resources:
        **rule_resources("episodic_cmr_grid", mem_mb=4000, runtime=240),
    shell:
        "neuroalign episodic grid --settings {input.settings:q} --jobs {threads}"
        " --output {output:q} 2> {log:q}"


rule episodic_heads:
    input:
        unpack(episodic_heads_inputs),
        settings=settings_file("episodic", "heads"),
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
            f"--human {shlex.quote(input.human)}" if "human" in input.keys() else ""
        ),
    shell:
        "neuroalign episodic heads --settings {input.settings:q} --model {params.source:q}"
        " --grid {input.grid:q} {params.human} --output {output:q} 2> {log:q}"


rule episodic_ablate:
    input:
        heads=f"{RESULTS}/episodic/heads/{{model}}.nc",
        settings=settings_file("episodic", "ablate"),
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
        corpus=(
            f"--corpus {shlex.quote(EPISODIC['corpus'])}" if EPISODIC["corpus"] else ""
        ),
    shell:
        "neuroalign episodic ablate --settings {input.settings:q} --model {params.source:q}"
        " --heads {input.heads:q} {params.corpus} --output {output:q} 2> {log:q}"


rule episodic_train:
    input:
        settings=settings_file("episodic", "train"),
    output:
        directory(f"{RESULTS}/episodic/train/tiny"),
    log:
        f"{RESULTS}/logs/episodic/train.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_train", mem_mb=4000, runtime=30),
    shell:
        "neuroalign episodic train --settings {input.settings:q} --output {output:q}"
        " 2> {log:q}"


rule episodic_checkpoint_heads:
    input:
        train=f"{RESULTS}/episodic/train/tiny",
        settings=settings_file("episodic", "train_heads"),
    output:
        f"{RESULTS}/episodic/train_heads/tiny/step{{step}}.nc",
    log:
        f"{RESULTS}/logs/episodic/train-heads-{{step}}.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("episodic_checkpoint_heads", mem_mb=4000, runtime=20),
    params:
        source=lambda wc, input: f"path:{input.train}/step{wc.step}",
    shell:
        "neuroalign episodic heads --settings {input.settings:q} --checkpoint"
        " --model {params.source:q} --output {output:q} 2> {log:q}"


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
            shlex.quote(f"step{s}={RESULTS}/episodic/train_heads/tiny/step{s}.nc")
            for s in EPISODIC_STEPS
        ),
    shell:
        "neuroalign episodic trajectory --heads {params.pairs} --output {output:q} 2> {log:q}"
