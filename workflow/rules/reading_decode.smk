# Decoding of reading goal and comprehension from eye movements: one job per `reading_decode`
# entry (CPU; the fusion transformer is small). Its settings file is the entry; the dataset and,
# when features.model names one, that model's activations of the paragraphs are waited for.
SETTINGS["reading_decode"] = lambda name: reading_decode_workflow.settings(config, name)


rule decode_reading:
    input:
        unpack(lambda wc: reading_decode_workflow.rule_inputs(config, wc.analysis)),
        settings=lambda wc: settings_file("reading_decode", wc.analysis),
    output:
        f"{RESULTS}/reading/decode/{{analysis}}.nc",
    log:
        f"{RESULTS}/logs/reading_decode/{{analysis}}.log",
    wildcard_constraints:
        analysis="|".join(config.get("reading_decode", {})) or "^$",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("decode_reading", mem_mb=4000, runtime=30),
    params:
        flags=lambda wc: reading_decode_workflow.flags(config, wc.analysis),
    shell:
        "neuroalign decode-reading --settings {input.settings:q} {params.flags}"
        " --output {output:q} 2> {log:q}"
