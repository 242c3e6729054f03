# Encoding models: one job per (config `encode` entry, model, subject). fMRI also writes NIfTI
# maps, MEG an Evoked file of the TRF norms. Logic lives in neuroalign.encoding.workflow.


rule encode_fmri:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
    output:
        nc=f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}.nc",
        maps=directory(
            f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}_maps"
        ),
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/sub-{{subject}}.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "fmri"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_fmri", mem_mb=16000, runtime=60, gpu=1),
    params:
        dataset=lambda wc: encode_workflow.data_path(config, wc.encoding),
        flags=lambda wc: encode_workflow.cli_flags(config, wc.encoding),
        unit_sets=lambda wc, input: (
            f"--unit-sets {input.unit_sets}" if "unit_sets" in input.keys() else ""
        ),
    shell:
        "neuroalign encode fmri --activations {input.activations} --dataset {params.dataset:q}"
        " --subject {wildcards.subject} --output {output.nc} --maps {output.maps}"
        " {params.unit_sets} {params.flags} 2> {log}"


rule encode_meg:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
    output:
        nc=f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}.nc",
        evoked=f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}_trf-ave.fif",
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/sub-{{subject}}.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "meg"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_meg", mem_mb=16000, runtime=60, gpu=1),
    params:
        dataset=lambda wc: encode_workflow.data_path(config, wc.encoding),
        flags=lambda wc: encode_workflow.cli_flags(config, wc.encoding),
    shell:
        "neuroalign encode meg --activations {input.activations} --dataset {params.dataset:q}"
        " --subject {wildcards.subject} --output {output.nc} --evoked {output.evoked}"
        " {params.flags} 2> {log}"


rule encode_reading:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
    output:
        f"{RESULTS}/encoding/{{encoding}}/{{model}}/reading.nc",
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/reading.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "eyetracking"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_reading", mem_mb=8000, runtime=30),
    params:
        report=lambda wc: encode_workflow.data_path(config, wc.encoding),
        flags=lambda wc: encode_workflow.cli_flags(config, wc.encoding),
    shell:
        "neuroalign encode eyetracking --activations {input.activations}"
        " --report {params.report:q} --output {output} {params.flags} 2> {log}"


# Responses held in the stimulus table: one per sentence (layer sweep over a length baseline)
# or reading measures per word (gains over length, frequency and position).
rule encode_sentences:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
    output:
        f"{RESULTS}/encoding/{{encoding}}/{{model}}/sentences.nc",
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/sentences.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "sentences"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_sentences", mem_mb=8000, runtime=60, gpu=1),
    params:
        flags=lambda wc: encode_workflow.cli_flags(config, wc.encoding),
    shell:
        "neuroalign encode sentences --activations {input.activations}"
        " --stimuli {input.stimuli} --output {output} {params.flags} 2> {log}"


rule encode_words:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
    output:
        f"{RESULTS}/encoding/{{encoding}}/{{model}}/words.nc",
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/words.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "words"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_words", mem_mb=8000, runtime=60, gpu=1),
    params:
        flags=lambda wc: encode_workflow.cli_flags(config, wc.encoding),
    shell:
        "neuroalign encode words --activations {input.activations}"
        " --stimuli {input.stimuli} --output {output} {params.flags} 2> {log}"
