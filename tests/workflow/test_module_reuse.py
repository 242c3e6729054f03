"""Another Snakemake workflow imports single neuroalign rules with its own paths."""

from __future__ import annotations

import pandas as pd
import pytest

EXTERNAL_SNAKEFILE = """\
configfile: "config.yaml"


module neuroalign:
    snakefile:
        "{snakefile}"
    config:
        config["neuroalign"]


use rule simulate_dataset, stage_settings from neuroalign as na_*


use rule build_stimuli from neuroalign as my_stimuli with:
    output:
        "my_results/{{stimset}}.words.parquet",


rule all:
    default_target: True
    input:
        "my_results/reading.words.parquet",
"""

EXTERNAL_CONFIG = """\
neuroalign:
  results: out
  data: {root: ext_data}
  simulate:
    eyetracking: {}
  stimuli:
    reading: {dataset: sim_eyetracking, reader: onestop, files: [FILES]}
"""


@pytest.mark.slow
def test_external_workflow_reuses_rules_with_its_own_paths(snakemake, tmp_path, repo_root):
    from neuroalign.data.simulate import eyetracking

    (tmp_path / "Snakefile").write_text(
        EXTERNAL_SNAKEFILE.format(snakefile=repo_root / "workflow" / "Snakefile")
    )
    (tmp_path / "config.yaml").write_text(EXTERNAL_CONFIG.replace("FILES", eyetracking.REPORT))
    snakemake("--cores", "1", cwd=tmp_path)
    table = pd.read_parquet(tmp_path / "my_results" / "reading.words.parquet")
    assert len(table) > 100 and (table["stimset"] == "reading").all()
    assert (tmp_path / "ext_data" / "raw" / "sim_eyetracking").is_dir()
    assert (tmp_path / "out" / "logs" / "stimuli" / "reading.log").is_file()
    assert not (tmp_path / "results").exists(), "the module must use the importer's paths"
