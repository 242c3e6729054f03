"""A fine-tune that names a fetched dataset waits for its fetch (a dry run of the workflow)."""

from __future__ import annotations

import yaml


def test_finetune_on_a_named_dataset_runs_after_its_fetch(snakemake, workdir):
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["datasets"] = {"piqa": {"subset": "starter"}}
    config["finetune"]["minilm_piqa"] = {
        "base": "minilm", "dataset": "piqa", "data": {"dataset": "piqa"}, "steps": 2,
        "device": "cpu",
    }  # fmt: skip
    (workdir / "piqa.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(
        "-n", "-p", "results/models/minilm_piqa", "--configfile", "piqa.yaml", cwd=workdir
    ).stdout
    fetch, finetune = out.index("rule fetch_dataset:"), out.index("rule finetune_model:")
    assert "neuroalign fetch piqa --subset starter" in out[fetch:finetune]
    assert "input: data/raw/piqa/.neuroalign-fetch-starter.json" in out[finetune:]
    assert "--data-root data/raw" in out[finetune:]
