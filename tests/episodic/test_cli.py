import argparse
import json

import xarray as xr

from neuroalign.cli import episodic


def _settings(path, **parts):
    """A settings file holding parts of the episodic section."""
    path.write_text(json.dumps(parts))
    return str(path)


def _run(argv):
    parser = argparse.ArgumentParser()
    episodic.add_parser(parser.add_subparsers())
    args = parser.parse_args(["episodic", *argv])
    args.func(args)


def test_human_writes_curves(tmp_path, shared_data):
    out = tmp_path / "human.nc"
    csv = shared_data / "free_recall" / "Morton2013.csv"
    _run(["human", "--data", f"morton={csv}", "--output", str(out)])
    ds = xr.open_dataset(out)
    assert ds.crp.dims == ("dataset", "subject", "lag")
    assert ds.attrs["stage"] == "episodic"
    assert float(ds.crp.sel(dataset="morton", lag=1).mean()) > 0.15
    assert "cmr_fit_beta_rec" not in ds


def test_human_with_grid_fits_cmr_on_the_heads_lags(tmp_path, shared_data):
    grid, out = tmp_path / "grid.nc", tmp_path / "human.nc"
    spec = {"beta_enc": [0.4, 0.8], "beta_rec": [0.3, 0.9], "gamma_ft": [0.0, 0.5], "n_runs": 1}
    _run(["grid", "--output", str(grid), "--settings", _settings(tmp_path / "g.json", grid=spec)])
    csv = shared_data / "free_recall" / "peers_notask.csv"
    settings = _settings(tmp_path / "h.json", heads={"fit_lag": 3})
    args = ["--grid", str(grid), "--settings", settings, "--output", str(out)]
    _run(["human", "--data", f"peers={csv}", *args])
    ds = xr.open_dataset(out)
    assert ds.cmr_fit_beta_rec.dims == ("dataset", "subject")
    assert ds.group_cmr_fit_beta_enc.dims == ("dataset",)
    assert ds.attrs["cmr_fit_lag"] == 3 and "cmr_grid" in ds.attrs["input_sha256"]
    assert 0.3 <= float(ds.group_cmr_fit_beta_rec.sel(dataset="peers")) <= 0.9
    assert int(ds.cmr_fit_distance.notnull().sum()) > 100  # of 126 subjects


def test_bad_data_pair_is_a_one_line_error(tmp_path):
    import pytest

    with pytest.raises(Exception, match="name=path"):
        _run(["human", "--data", "nocolon", "--output", str(tmp_path / "x.nc")])


def test_recovery_writes_fits_and_rates(tmp_path, capsys):
    grid, out = tmp_path / "grid.nc", tmp_path / "rec.nc"
    spec = {"beta_enc": [0.2, 1.0], "beta_rec": [0.2, 1.0], "gamma_ft": [0.0, 0.6], "n_runs": 1}
    settings = _settings(tmp_path / "g.json", grid=spec)
    _run(["grid", "--output", str(grid), "--settings", settings, "--jobs", "2"])
    recovery = {"n_draws": 3, "seed": 5, "beta_enc": [0.5, 0.6], "gamma_ft": [0.1, 0.2]}
    settings = _settings(tmp_path / "r.json", recovery=recovery)
    _run(["recovery", "--grid", str(grid), "--settings", settings, "--output", str(out)])
    ds = xr.open_dataset(out)
    assert ds.truth.dims == ("draw", "parameter") and ds.sizes["draw"] == 3
    truth = ds.truth.sel(parameter="beta_enc")
    assert float(truth.min()) >= 0.5 and float(truth.max()) <= 0.6
    assert ds.attrs["seed"] == 5 and "grid" in ds.attrs["input_sha256"]
    assert "continuous fit, share within one grid step: beta_enc 1.00" in capsys.readouterr().out
