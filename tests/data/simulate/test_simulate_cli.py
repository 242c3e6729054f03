import json

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.data.simulate import (
    SimFmriSettings,
    SimLocalizerSettings,
    SimMegSettings,
    simulate,
)
from neuroalign.data.simulate import bids as bids_module


def _settings(tmp_path, values, name="s.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return str(path)


def test_simulate_and_recover_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "sim_eyetracking"
    settings = _settings(tmp_path, {"n_readers": 3, "stories": ["orchard"], "seed": 2})
    assert main(["simulate", "eyetracking", "--settings", settings, "--output", str(out)]) == 0
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


def test_the_seed_is_a_setting(tmp_path):
    """The CLI and the Python stage give the same bytes for the same settings file."""
    path = _settings(tmp_path, {"n_readers": 1, "stories": ["ferry"], "seed": 9})
    argv = ["simulate", "eyetracking", "--settings", path, "--output", str(tmp_path / "a")]
    assert main(argv) == 0
    from neuroalign.data.simulate import SimEyetrackingSettings
    from neuroalign.settings import read_settings

    simulate(read_settings(SimEyetrackingSettings, path), output=tmp_path / "b")
    report = "ia_report.csv"
    assert (tmp_path / "a" / report).read_bytes() == (tmp_path / "b" / report).read_bytes()


def test_bad_settings_give_a_one_line_error(tmp_path, capsys):
    bad = _settings(tmp_path, {"sfreq": "fast"})
    code = main(["simulate", "meg", "--settings", bad, "--output", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "s.json" in err and "'sfreq'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    argv = ["simulate", "meg", "--settings", str(broken), "--output", str(tmp_path / "o")]
    assert main(argv) == 2
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


def test_features_named_in_the_settings_need_a_store(tmp_path):
    settings = SimFmriSettings.from_config({"features": {"model": "gpt2", "layer": 0}})
    with pytest.raises(NeuroalignError, match=r"names model 'gpt2'.*--features"):
        simulate(settings, output=tmp_path / "o")
    with pytest.raises(NeuroalignError, match="takes no word features"):
        simulate(SimLocalizerSettings(), output=tmp_path / "o", features=tmp_path / "f.csv")


@pytest.mark.parametrize("flag", [{}, {"complete": "false"}])
def test_an_unfinished_activation_store_is_refused(tmp_path, flag):
    store = tmp_path / "acts.zarr"
    xr.Dataset(
        {"resid": (("item", "layer", "resid_unit"), np.zeros((2, 1, 3)))},
        coords={"text": ("item", ["a", "b"]), "layer": [0]},
        attrs=flag,
    ).to_zarr(store, consolidated=False)
    settings = SimFmriSettings.from_config({"features": {"model": "m", "layer": 0}})
    with pytest.raises(NeuroalignError, match="incomplete"):
        simulate(settings, output=tmp_path / "o", features=store)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["eyetracking", "meg"])
def test_failure_mid_write_leaves_no_output(tmp_path, monkeypatch, kind):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bids_module, "write_truth", broken)
    out = tmp_path / f"sim_{kind}"
    from neuroalign.data.simulate import SimEyetrackingSettings

    settings = {
        "eyetracking": SimEyetrackingSettings(n_readers=1, stories=("ferry",)),
        "meg": SimMegSettings(sfreq=50.0),
    }[kind]
    with pytest.raises(RuntimeError, match="disk full"):
        simulate(settings, output=out)
    # Nothing but the dataset's (released) lock file, which simulations and fetches share.
    assert [p.name for p in tmp_path.iterdir()] in ([], [f".sim_{kind}.neuroalign.lock"])
