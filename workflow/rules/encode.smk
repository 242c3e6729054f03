# Encoding models: one job per (config `encode` entry, model, subject). fMRI also writes NIfTI
# maps, MEG an Evoked file of the TRF norms. Each job reads its entry's settings file (the entry,
# its null seed filled with the top-level seed); paths come from neuroalign.encode.workflow.

SETTINGS["encode"] = lambda name: encode_workflow.stage_settings(config, name)


rule encode_fmri:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
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
        unit_sets=lambda wc, input: (
            f"--unit-sets {shlex.quote(input.unit_sets)}"
            if "unit_sets" in input.keys()
            else ""
        ),
    shell:
        "neuroalign encode fmri --settings {input.settings:q}"
        " --activations {input.activations:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} --output {output.nc:q} --maps {output.maps:q}"
        " {params.unit_sets} 2> {log:q}"


rule encode_meg:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
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
    shell:
        "neuroalign encode meg --settings {input.settings:q}"
        " --activations {input.activations:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} --output {output.nc:q}"
        " --evoked {output.evoked:q} 2> {log:q}"


# Word epochs of any BIDS MEG (KIT, FIF, CTF through mne-bids): ridge per sensor and window.
rule encode_meg_epochs:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
    output:
        nc=f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}.nc",
        evoked=f"{RESULTS}/encoding/{{encoding}}/{{model}}/sub-{{subject}}_r-ave.fif",
    log:
        f"{RESULTS}/logs/encode/{{encoding}}/{{model}}/sub-{{subject}}.log",
    wildcard_constraints:
        encoding=encode_workflow.entries_of(config, "meg_epochs"),
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("encode_meg_epochs", mem_mb=16000, runtime=60, gpu=1),
    params:
        dataset=lambda wc: encode_workflow.data_path(config, wc.encoding),
    shell:
        "neuroalign encode meg_epochs --settings {input.settings:q}"
        " --activations {input.activations:q} --dataset {params.dataset:q}"
        " --subject {wildcards.subject:q} --output {output.nc:q}"
        " --evoked {output.evoked:q} 2> {log:q}"


rule encode_reading:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
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
    shell:
        "neuroalign encode eyetracking --settings {input.settings:q}"
        " --activations {input.activations:q} --report {params.report:q}"
        " --output {output:q} 2> {log:q}"


# Responses held in the stimulus table: one per sentence (layer sweep over a length baseline)
# or reading measures per word (gains over length, frequency and position).
rule encode_sentences:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
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
    shell:
        "neuroalign encode sentences --settings {input.settings:q}"
        " --activations {input.activations:q} --stimuli {input.stimuli:q}"
        " --output {output:q} 2> {log:q}"


rule encode_words:
    input:
        unpack(lambda wc: encode_workflow.rule_inputs(config, wc.encoding, wc.model)),
        settings=lambda wc: settings_file("encode", wc.encoding),
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
    shell:
        "neuroalign encode words --settings {input.settings:q}"
        " --activations {input.activations:q} --stimuli {input.stimuli:q}"
        " --output {output:q} 2> {log:q}"
