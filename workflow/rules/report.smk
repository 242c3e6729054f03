from neuroalign._io import config_hash

SETTINGS["report"] = lambda name: config["report"]
# The whole validated configuration, which the report shows and reads its datasets from.
SETTINGS["config"] = lambda name: config


rule build_report:
    input:
        unpack(report_inputs),
        settings=settings_file("report", "report"),
        config=settings_file("config", "run"),
    output:
        report(
            directory(f"{RESULTS}/report"),
            htmlindex="index.html",
            caption="../report/site.rst",
            category="Report",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../envs/neuroalign.yaml"
    resources:
        **rule_resources("build_report", mem_mb=2000, runtime=20),
    params:
        # shown in the Snakemake report's caption; the site computes the same hash
        config_hash=lambda wc: config_hash(config),
        results=lambda wc, output: Path(output[0]).parent,
        data=lambda wc: DATA,
        inputs=lambda wc: " ".join(
            f"--inputs {shlex.quote(str(f))}"
            for files in report_inputs(wc).values()
            for f in ([files] if isinstance(files, str) else files)
        ),
    shell:
        "neuroalign report --settings {input.settings:q} --config {input.config:q}"
        " --results {params.results:q} --data-root {params.data:q}"
        " --output {output:q}/index.html {params.inputs} 2> {log:q}"
