import json

import pytest
import xarray as xr

from neuroalign.cli import main
from neuroalign.data.simulate import bids as bids_module


def test_simulate_and_recover_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "sim_eyetracking"
    settings = json.dumps({"n_readers": 3, "stories": ["orchard"]})
    assert (
        main(
            ["simulate", "eyetracking", "--output", str(out), "--seed", "2", "--settings", settings]
        )
        == 0
    )
    assert (out / "ia_report.csv").is_file()
    assert (out / "derivatives" / "neuroalign-truth" / "truth.nc").is_file()
    rec = tmp_path / "rec.nc"
    assert (
        main(["simulate", "recover", "eyetracking", "--dataset", str(out), "--output", str(rec)])
        == 0
    )
    with xr.open_dataset(rec, engine="h5netcdf") as ds:
        assert ds.attrs["dataset"] == "sim_eyetracking"
        assert "skip_coef_max_relative_error" in json.loads(ds.attrs["summary"])
        assert ds["planted_skip_coef"].dims == ds["recovered_skip_coef"].dims
        assert ds.attrs["stage"] == "simulate-recover"
    assert "skip_coef_max_relative_error" in capsys.readouterr().out


def test_settings_from_a_json_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"n_readers": 1, "stories": ["ferry"]}))
    assert (
        main(["simulate", "eyetracking", "--output", str(tmp_path / "o"), "--settings", str(path)])
        == 0
    )


def test_bad_settings_give_a_one_line_error(tmp_path, capsys):
    code = main(
        ["simulate", "meg", "--output", str(tmp_path / "o"), "--settings", '{"sfreq": "fast"}']
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "simulate.meg.sfreq" in err and "Traceback" not in err
    assert main(["simulate", "meg", "--output", str(tmp_path / "o"), "--settings", "{oops"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_recover_missing_dataset_is_a_user_error(tmp_path, capsys):
    code = main(
        [
            "simulate",
            "recover",
            "fmri",
            "--dataset",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "r.nc"),
        ]
    )
    assert code == 2
    assert "neuroalign simulate fmri" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["eyetracking", "meg"])
def test_failure_mid_write_leaves_no_output(tmp_path, monkeypatch, kind):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bids_module, "write_truth", broken)
    out = tmp_path / f"sim_{kind}"
    settings = {"eyetracking": {"n_readers": 1, "stories": ["ferry"]}, "meg": {"sfreq": 50.0}}[kind]
    from neuroalign.data.simulate import SIMULATORS

    with pytest.raises(RuntimeError, match="disk full"):
        SIMULATORS[kind](out, settings=settings)
    assert list(tmp_path.iterdir()) == []
