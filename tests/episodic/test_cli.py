import argparse

import xarray as xr

from neuroalign.cli import episodic


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


def test_bad_data_pair_is_a_one_line_error(tmp_path):
    import pytest

    with pytest.raises(Exception, match="name=path"):
        _run(["human", "--data", "nocolon", "--output", str(tmp_path / "x.nc")])
