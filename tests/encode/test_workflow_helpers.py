import subprocess
import sys

from neuroalign.config import validate_config
from neuroalign.encode import workflow
from neuroalign.encode.settings import EncodeSettings, FmriOptions
from neuroalign.settings import read_settings, write_settings

CONFIG = {
    "results": "results",
    "seed": 3,
    "data": {"root": "data"},
    "datasets": {"pereira": {"subset": "core"}},
    "encode": {
        "sim_fmri_story": {
            "kind": "fmri",
            "dataset": "sim_fmri",
            "stimset": "sim_story",
            "models": ["minilm"],
            "subjects": ["01", "02"],
            "alphas": {"start": -1, "stop": 6, "num": 15},
            "layers": "all",
            "folds": 5,
            "device": "auto",
            "dtype": "float32",
            "variable": "resid",
            "seed": None,
            "options": {"n_perm": 200, "test_task": "storm"},
        },
        "reading": {
            "kind": "eyetracking",
            "dataset": "pereira",
            "stimset": "sim_reading",
            "models": ["minilm"],
            "report": "ia_report.csv",
            "alphas": [0.1, 1.0, 10.0],
            "layers": [0, -1],
            "folds": 5,
            "device": "cuda:1",
            "dtype": "float64",
            "seed": 11,
        },
    },
}


def test_targets_inputs_and_settings(tmp_path):
    assert workflow.targets(CONFIG) == [
        "results/encoding/sim_fmri_story/minilm/sub-01.nc",
        "results/encoding/sim_fmri_story/minilm/sub-02.nc",
        "results/encoding/reading/minilm/reading.nc",
    ]
    assert workflow.entries_of(CONFIG, "fmri") == "sim_fmri_story"
    assert workflow.entries_of(CONFIG, "meg") == "^$"
    inputs = workflow.rule_inputs(CONFIG, "sim_fmri_story", "minilm")
    assert inputs == {
        "activations": "results/activations/minilm/sim_story.zarr",
        "dataset": "data/raw/sim_fmri",
    }
    assert workflow.rule_inputs(CONFIG, "reading", "m")["dataset"].endswith(
        ".neuroalign-fetch-core.json"
    )
    assert workflow.data_path(CONFIG, "reading") == "data/raw/pereira/ia_report.csv"
    # the settings file: the entry, its null seed filled with the top-level seed
    fmri = workflow.stage_settings(CONFIG, "sim_fmri_story")
    assert fmri["seed"] == 3 and CONFIG["encode"]["sim_fmri_story"]["seed"] is None
    assert workflow.stage_settings(CONFIG, "reading")["seed"] == 11
    path = write_settings(fmri, tmp_path / "sim_fmri_story.json")
    settings = read_settings(EncodeSettings, path)
    assert settings.seed == 3 and settings.random_seed == 3
    assert settings.options == FmriOptions(n_perm=200, test_task="storm")
    assert settings.grid.size == 15 and settings.grid[0] == 0.1
    reading = read_settings(
        EncodeSettings, write_settings(workflow.stage_settings(CONFIG, "reading"), path)
    )
    assert reading.layers == (0, -1) and reading.device == "cuda:1"
    assert reading.alphas == (0.1, 1.0, 10.0)


def test_table_kinds_read_the_stimulus_table():
    entry = {
        "dataset": "pereira",
        "stimset": "pereira2018",
        "models": ["minilm"],
        "layers": "all",
        "folds": 10,
        "device": "auto",
        "dtype": "float32",
        "seed": None,
        "localized": None,
    }
    config = {
        **CONFIG,
        "encode": {
            "pereira": {**entry, "kind": "sentences", "options": {"n_perm": 1000}},
            "ucl": {**entry, "kind": "words", "stimset": "ucl", "options": {"group": "story"}},
        },
    }
    assert workflow.targets(config) == [
        "results/encoding/pereira/minilm/sentences.nc",
        "results/encoding/ucl/minilm/words.nc",
    ]
    assert workflow.entries_of(config, "words") == "ucl"
    inputs = workflow.rule_inputs(config, "ucl", "minilm")
    assert inputs["stimuli"] == "results/stimuli/ucl.parquet"
    assert inputs["activations"] == "results/activations/minilm/ucl.zarr"
    assert "stimuli" not in workflow.rule_inputs(CONFIG, "sim_fmri_story", "minilm")
    pereira = EncodeSettings.from_config(workflow.stage_settings(config, "pereira"))
    assert pereira.options.n_perm == 1000 and pereira.options.targets == ("effect_size",)
    ucl = EncodeSettings.from_config(workflow.stage_settings(config, "ucl"))
    assert ucl.options.group == "story" and ucl.options.measures is None


def test_the_demo_and_starter_entries_are_valid_settings(repo_root):
    from neuroalign._yaml import load_yaml

    for name in ("config.yaml", "starter.yaml"):
        config = validate_config(load_yaml(repo_root / "config" / name), source=name)
        for entry in config["encode"]:
            settings = EncodeSettings.from_config(workflow.stage_settings(config, entry))
            assert settings.grid.size == 19  # the one default grid


def test_the_workflow_helpers_import_no_torch():
    code = (
        "import sys; import neuroalign.encode.workflow, neuroalign.encode.settings, "
        "neuroalign.cli.encode; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
