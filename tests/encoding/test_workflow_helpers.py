from neuroalign.encoding import workflow

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
            "alphas": "-1:6:15",
            "layers": "all",
            "folds": 5,
            "device": "auto",
            "dtype": "float32",
            "variable": "resid",
            "options": {"n_perm": 200, "test_task": "storm"},
        },
        "reading": {
            "kind": "eyetracking",
            "dataset": "pereira",
            "stimset": "sim_reading",
            "models": ["minilm"],
            "report": "ia_report.csv",
            "alphas": "-1:6:15",
            "layers": "0,2",
            "folds": 5,
            "device": "cpu",
            "dtype": "float64",
        },
    },
}


def test_targets_inputs_and_flags():
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
    flags = workflow.cli_flags(CONFIG, "sim_fmri_story")
    assert "--alphas=-1:6:15" in flags and "--n-perm=200" in flags and "--seed 3" in flags
    assert "--test-task=storm" in flags and "--variable resid" in flags


def test_table_kinds_read_the_stimulus_table():
    entry = {
        "dataset": "pereira",
        "stimset": "pereira2018",
        "models": ["minilm"],
        "alphas": "-1:6:15",
        "layers": "all",
        "folds": 10,
        "device": "auto",
        "dtype": "float32",
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
    assert "--n-perm=1000" in workflow.cli_flags(config, "pereira")
    assert "--group=story" in workflow.cli_flags(config, "ucl")
