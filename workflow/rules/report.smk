rule build_report:
    input:
        unpack(report_inputs),
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
        results=lambda wc, output: Path(output[0]).parent,
        data=lambda wc: DATA,
        config=lambda wc: json.dumps(config),
        inputs=lambda wc, input: " ".join(f"--inputs {f}" for f in input),
    shell:
        "neuroalign report --config {params.config:q} --results {params.results} --data-root {params.data}"
        " --output {output}/index.html {params.inputs} 2> {log}"
