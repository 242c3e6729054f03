from neuroalign.localize.workflow import cli_flags, localize_runs, rule_inputs, stimuli_path

CONFIG = {
    "seed": 3,
    "results": "res",
    "data": {"root": "data"},
    "datasets": {"fedorenko2010_localizer": {"subset": "starter"}, "blimp": {"subset": "full"}},
    "localize": {
        "language": {
            "localizer": "language",
            "dataset": "fedorenko2010_localizer",
            "models": ["minilm", "gpt2"],
            "blimp": {"dataset": "blimp", "file": "BLiMP.zip"},
            "absolute": False,
            "paradigms": ["a", "b"],
        },
        "sim": {
            "localizer": "custom",
            "stimset": "sim_localizer",
            "positive": "sentence",
            "models": ["minilm"],
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


def test_flags_parse_with_the_cli():
    import argparse

    from neuroalign.cli import localize as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    for name in ("language", "sim"):
        argv = ["localize", "--model", "m", "--stimuli", "s", "--output", "o"]
        args = parser.parse_args(argv + cli_flags(CONFIG, name).split())
        assert args.seed == 3 and args.localizer == CONFIG["localize"][name]["localizer"]
    assert args.positive == "sentence" and args.absolute
    lang = parser.parse_args(argv + cli_flags(CONFIG, "language").split())
    assert lang.absolute is False and lang.paradigms == ("a", "b")
    assert str(lang.blimp).replace("\\", "/") == "data/raw/blimp/BLiMP.zip"
