"""Emergence: a tiny training run, then the stage's CLI on its checkpoints."""

import argparse
import json

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import episodic as cli
from neuroalign.episodic.settings import TrainSettings
from neuroalign.episodic.train import repeated_span_batch, train

HEADS = {"half_len": 16, "n_seq": 8, "max_lag": 5, "fit_lag": 3, "n_copy_seq": 2}


def _run(argv):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["episodic", *argv])
    args.func(args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    spec = TrainSettings(steps=500, batch_size=16, checkpoints=(0, 500))
    paths = train(out, spec, seed=0)
    assert [p.name for p in paths] == ["step0", "step500"]
    return out


def test_batches_repeat_a_span_after_bos():
    batch = repeated_span_batch(TrainSettings(batch_size=4), np.random.default_rng(0))
    assert batch.shape == (4, 49)
    assert (batch[:, 0] == 0).all() and (batch[:, 1:] > 0).all()
    for row in batch[:, 1:]:
        period = next(n for n in range(4, 17) if (row[n:] == row[:-n]).all())
        assert len(set(row[:period])) == period


def test_induction_heads_emerge_and_cli_writes_results(run_dir, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"heads": HEADS}))
    outs = {}
    for step in ("step0", "step500"):
        outs[step] = tmp_path / f"{step}.nc"
        _run(
            [
                "heads",
                "--model",
                f"path:{run_dir / step}",
                "--settings",
                str(settings),
                "--output",
                str(outs[step]),
            ]
        )
    start = xr.load_dataset(outs["step0"])["induction_score"].sel(probe="repeat")
    end = xr.load_dataset(outs["step500"])["induction_score"].sel(probe="repeat")
    assert float(start.max()) < 0.1
    assert float(end.max()) > 0.4
    assert int(np.argmax(end.values)) // end.sizes["head"] == 1  # induction needs the second layer
    traj = tmp_path / "traj.nc"
    _run(
        [
            "trajectory",
            "--heads",
            f"step0={outs['step0']}",
            f"step500={outs['step500']}",
            "--output",
            str(traj),
        ]
    )
    ds = xr.load_dataset(traj)
    assert list(ds.checkpoint.values) == ["step0", "step500"]
    assert ds.induction_score.dims == ("checkpoint", "probe", "layer", "head")
    abl = tmp_path / "ablation.nc"
    settings.write_text(json.dumps({"heads": {**HEADS, "n_copy_seq": 0}}))
    _run(
        [
            "ablate",
            "--model",
            f"path:{run_dir / 'step500'}",
            "--heads",
            str(outs["step500"]),
            "--settings",
            str(settings),
            "--output",
            str(abl),
        ]
    )
    ab = xr.load_dataset(abl)
    assert ab.sizes["condition"] == 2 + 20
    effect = ab.effect.sel(metric="repeat_loss")
    assert float(effect.sel(condition="top_induction")) > 0.1
    assert np.isfinite(ab.z_vs_random.sel(condition="top_induction", metric="repeat_loss"))
    assert ab.attrs["model"].startswith("path:")


def test_unknown_setting_is_a_clear_error(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"train": {"stepz": 3}}))
    with pytest.raises(NeuroalignError, match=r"unknown key 'train\.stepz'.*'steps'") as err:
        _run(["train", "--output", str(tmp_path), "--settings", str(settings)])
    assert "\n" not in str(err.value)
