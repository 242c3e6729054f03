"""Each step of the stage from Python (settings from `from_config`) equals the command line."""

import argparse
import json

import pytest
import xarray as xr

from neuroalign.cli import episodic as cli
from neuroalign.episodic import stage
from neuroalign.episodic.settings import EpisodicSettings
from neuroalign.results import load_netcdf

SECTION = {
    "grid": {"beta_enc": [0.4, 0.8], "beta_rec": [0.3, 0.9], "gamma_ft": [0.0, 0.5], "n_runs": 1},
    "heads": {"half_len": 8, "n_seq": 4, "max_lag": 3, "fit_lag": 2, "n_copy_seq": 1},
    "train_heads": {"half_len": 8, "n_seq": 4, "max_lag": 3, "fit_lag": 2, "n_copy_seq": 1},
    "train": {"steps": 20, "batch_size": 4, "span": 6, "checkpoints": [0, 20]},
    "recovery": {"n_draws": 2, "beta_enc": [0.5, 0.7], "beta_rec": [0.4, 0.8]},
    "seed": 2,
}


def _cli(argv, capsys):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["episodic", *argv])
    args.func(args)
    return capsys.readouterr().out


def _same(a, b):
    xr.testing.assert_identical(
        load_netcdf(a).drop_attrs(deep=False), load_netcdf(b).drop_attrs(deep=False)
    )


@pytest.fixture(scope="module")
def settings():
    return EpisodicSettings.from_config(SECTION)


@pytest.fixture
def settings_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(SECTION))
    return str(path)


def test_cmr_steps_python_equals_cli(settings, settings_file, shared_data, tmp_path, capsys):
    grid = stage.grid(settings, output=tmp_path / "grid.nc")
    out = _cli(["grid", "--settings", settings_file, "--output", str(tmp_path / "g.nc")], capsys)
    assert "CMR grid of 2 beta_enc x 2 beta_rec x 2 gamma_ft" in out
    _same(grid, tmp_path / "g.nc")
    assert load_netcdf(grid)["cmr_curve"].attrs["seed"] == 2  # the master seed of SECTION
    data = {"morton": shared_data / "free_recall" / "Morton2013.csv"}
    human = stage.human(settings, data=data, grid=grid, output=tmp_path / "human.nc")
    argv = ["human", "--settings", settings_file, "--data", f"morton={data['morton']}"]
    out = _cli([*argv, "--grid", str(grid), "--output", str(tmp_path / "h.nc")], capsys)
    assert "morton;" in out and "subjects" in out
    _same(human, tmp_path / "h.nc")
    assert load_netcdf(human).attrs["cmr_fit_lag"] == 2
    rec = stage.recovery(settings, grid=grid, output=tmp_path / "rec.nc")
    argv = ["recovery", "--settings", settings_file, "--grid", str(grid)]
    out = _cli([*argv, "--output", str(tmp_path / "r.nc")], capsys)
    assert "continuous fit, share within one grid step: beta_enc" in out
    _same(rec, tmp_path / "r.nc")


def test_model_steps_python_equals_cli(settings, settings_file, tmp_path, capsys):
    run = stage.train(settings, output=tmp_path / "train")
    out = _cli(["train", "--settings", settings_file, "--output", str(tmp_path / "t")], capsys)
    assert "2 checkpoints" in out
    losses = [json.loads((d / "train.json").read_text())["loss"] for d in (run, tmp_path / "t")]
    assert losses[0] == losses[1] and len(losses[0]) == 20
    model = f"path:{run / 'step20'}"
    heads = stage.heads(settings, model_source=model, output=tmp_path / "heads.nc")
    argv = ["heads", "--settings", settings_file, "--model", model, "--output"]
    out = _cli([*argv, str(tmp_path / "h.nc")], capsys)
    assert "top induction head" in out
    _same(heads, tmp_path / "h.nc")
    assert load_netcdf(heads).attrs["half_len"] == "8"
    checkpoint = stage.heads(
        settings, model_source=model, output=tmp_path / "ck.nc", checkpoint=True
    )
    _cli([*argv, str(tmp_path / "c.nc"), "--checkpoint"], capsys)
    _same(checkpoint, tmp_path / "c.nc")
    abl = stage.ablate(settings, model_source=model, heads=heads, output=tmp_path / "abl.nc")
    argv = ["ablate", "--settings", settings_file, "--model", model, "--heads", str(heads)]
    out = _cli([*argv, "--output", str(tmp_path / "a.nc")], capsys)
    assert "repeat-loss effect of top induction heads" in out
    _same(abl, tmp_path / "a.nc")
    pairs = {"step20": heads, "ck": checkpoint}
    traj = stage.trajectory(heads=pairs, output=tmp_path / "traj.nc")
    argv = ["trajectory", "--heads", *(f"{k}={v}" for k, v in pairs.items())]
    out = _cli([*argv, "--output", str(tmp_path / "tr.nc")], capsys)
    assert "2 checkpoints" in out
    _same(traj, tmp_path / "tr.nc")
