"""The ``neuroalign extract`` subcommand, end to end on a saved tiny model."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from tiny_models import make_llama

from neuroalign._check import NeuroalignError
from neuroalign.cli import extract as cli_extract
from neuroalign.data.stimuli import standardize, write_table
from neuroalign.models.store import open_activations


def _parser():
    parser = argparse.ArgumentParser(prog="neuroalign")
    cli_extract.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_writes_a_store_with_provenance(tmp_path, tokenizer, story_table, capsys):
    model_dir = tmp_path / "model"
    make_llama().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    table = standardize(
        story_table.drop(columns=["item", "stimset"]), stimset="demo", reader="test"
    )
    stimuli = write_table(table, tmp_path / "demo.parquet")
    out = tmp_path / "acts.zarr"
    args = _parser().parse_args(
        [
            "extract",
            "--model", f"path:{model_dir}",
            "--stimuli", str(stimuli),
            "--output", str(out),
            "--units", "resid,mlp_out",
            "--layers", "0,2",
            "--context", "words:4:2",
            "--pooling", "mean",
            "--device", "cpu",
        ]
    )  # fmt: skip
    args.func(args)
    assert capsys.readouterr().out.strip() == str(out)
    ds = open_activations(out)
    assert ds["resid"].shape == (len(table), 2, 32)
    assert list(ds["layer_name"].values) == ["layers.0", "layers.2"]
    assert ds.attrs["model"] == f"path:{model_dir}"
    assert ds.attrs["context"] == "words:4:2" and ds.attrs["pooling"] == "mean"
    assert ds.attrs["dtype"] == "float32" and len(ds.attrs["stimulus_sha256"]) == 64
    assert np.isfinite(ds["mlp_out"].values).all()


def test_cli_bad_model_is_a_clear_error(tmp_path):
    args = _parser().parse_args(
        ["extract", "--model", "path:/nonexistent", "--stimuli", str(tmp_path / "x.parquet"),
         "--output", str(tmp_path / "o.zarr")]
    )  # fmt: skip
    with pytest.raises(NeuroalignError, match="not found"):
        args.func(args)
