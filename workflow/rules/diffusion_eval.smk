# Evaluation of brain-guided synthesis and voxel captions (neuroalign.diffusion.eval_workflow,
# imported in common.smk). One evaluation job per (`diffusion.evaluate` entry, subject of its
# synthesis run): the run's images scored under its guiding encoder and the held-out one; one
# captions job per (`diffusion.captions` entry, subject of its encoder).

SETTINGS["diffusion_eval"] = lambda name: diffusion_eval_workflow.eval_settings(
    config, name
)
SETTINGS["brainscuba"] = lambda name: diffusion_eval_workflow.caption_settings(
    config, name
)


rule evaluate_synthesis:
    input:
        unpack(
            lambda wc: diffusion_eval_workflow.eval_inputs(config, wc.run, wc.subject)
        ),
        settings=lambda wc: settings_file("diffusion_eval", wc.run),
    output:
        f"{RESULTS}/diffusion/eval/{{run}}/sub-{{subject}}.nc",
    log:
        f"{RESULTS}/logs/diffusion/eval/{{run}}/sub-{{subject}}.log",
    wildcard_constraints:
        run="|".join(diffusion_eval_workflow.eval_entries(config)) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("evaluate_synthesis", mem_mb=8000, runtime=30, gpu=1),
    params:
        held_out=lambda wc, input: (
            f"--held-out {shlex.quote(input.held_out)}"
            if "held_out" in input.keys()
            else ""
        ),
    shell:
        "neuroalign evaluate-synthesis --settings {input.settings:q}"
        " --manifest {input.synth:q}/manifest.parquet --encoder {input.encoder:q}"
        " {params.held_out} --output {output:q} 2> {log:q}"


rule caption_voxels:
    input:
        unpack(
            lambda wc: diffusion_eval_workflow.caption_inputs(
                config, wc.name, wc.subject
            )
        ),
        settings=lambda wc: settings_file("brainscuba", wc.name),
    output:
        f"{RESULTS}/diffusion/captions/{{name}}/sub-{{subject}}.parquet",
    log:
        f"{RESULTS}/logs/diffusion/captions/{{name}}/sub-{{subject}}.log",
    wildcard_constraints:
        name="|".join(diffusion_eval_workflow.caption_entries(config)) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("caption_voxels", mem_mb=8000, runtime=30, gpu=1),
    shell:
        "neuroalign caption-voxels --settings {input.settings:q} --encoder {input.encoder:q}"
        " --bank {input.bank:q} --stimuli {input.stimuli:q} --output {output:q} 2> {log:q}"
