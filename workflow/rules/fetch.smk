# Downloads run on the submit host: compute nodes are often offline.
localrules:
    fetch_dataset,


rule fetch_dataset:
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
        manifests=config["data"]["manifests"],
        mirror=lambda wc: (
            f"--mirror {config['data']['mirror']}" if config["data"]["mirror"] else ""
        ),
        terms=lambda wc: (
            "--accept-terms" if wc.dataset in config["data"]["accept_terms"] else ""
        ),
    shell:
        "neuroalign fetch {wildcards.dataset} --subset {wildcards.subset}"
        " --data-dir {params.data} --manifests {params.manifests} {params.mirror} {params.terms}"
        " 2> {log}"
