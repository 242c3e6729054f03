# Word-level reading effects: one job per `reading_words` entry (CPU; an LM on a GPU at scale).
# Its settings file is the entry; models built here and a OneStop report (participant-level
# measures for the mixed models) are waited for.
SETTINGS["reading_words"] = lambda name: config["reading_words"][name]


rule reading_words:
    input:
        unpack(lambda wc: reading_word_workflow.rule_inputs(config, wc.analysis)),
        settings=lambda wc: settings_file("reading_words", wc.analysis),
    output:
        f"{RESULTS}/reading/words/{{analysis}}.nc",
    log:
        f"{RESULTS}/logs/reading_words/{{analysis}}.log",
    wildcard_constraints:
        analysis="|".join(config.get("reading_words", {})) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("reading_words", mem_mb=8000, runtime=60),
    params:
        flags=lambda wc: reading_word_workflow.flags(config, wc.analysis),
    shell:
        "neuroalign reading-words --settings {input.settings:q}"
        " --stimuli {input.stimuli:q} {params.flags} --output {output:q} 2> {log:q}"
