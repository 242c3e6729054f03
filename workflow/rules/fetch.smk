# The `data` section, with only this dataset's acceptance of terms, so that accepting the terms
# of one dataset does not fetch the others again.
SETTINGS["fetch"] = lambda dataset: {
    **config["data"],
    "accept_terms": [d for d in config["data"]["accept_terms"] if d == dataset],
}


# Downloads run on the submit host: compute nodes are often offline.
localrules:
    fetch_dataset,


# The mirror comes through the settings file (config data.mirror); NEUROALIGN_MIRROR in the
# environment of the run beats it, as everywhere (neuroalign.data.fetch.resolve_mirror).
rule fetch_dataset:
    input:
        settings=lambda wc: settings_file("fetch", wc.dataset),
    output:
        stamp=f"{DATA}/raw/{{dataset}}/.neuroalign-fetch-{{subset}}.json",
    log:
        f"{RESULTS}/logs/fetch/{{dataset}}-{{subset}}.log",
    retries: 2
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("fetch_dataset", mem_mb=1000, runtime=240),
    params:
        data=lambda wc, output: Path(output.stamp).parents[2],
    shell:
        "neuroalign fetch {wildcards.dataset:q} --subset {wildcards.subset:q}"
        " --settings {input.settings:q} --data-dir {params.data:q} 2> {log:q}"
