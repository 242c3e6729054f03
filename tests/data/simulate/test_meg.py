import json

import mne
import mne_bids
import numpy as np
import pandas as pd

from neuroalign.data.simulate import SimMegSettings, simulate_meg
from neuroalign.data.simulate.meg import lagged_design, magnetometer_info, sensor_pattern
from neuroalign.data.simulate.story import chapter_words
from neuroalign.recovery import recover_meg


def _path(root):
    return mne_bids.BIDSPath(subject="01", task="story", datatype="meg", root=root)


def test_raw_reads_with_mne_bids_and_has_real_sensor_layout(sim_meg):
    raw = mne_bids.read_raw_bids(_path(sim_meg), verbose=False)
    assert raw.info["sfreq"] == 100.0
    assert len(raw.ch_names) == 102 and set(raw.get_channel_types()) == {"mag"}
    canonical = mne.channels.read_meg_canonical_info("neuromag", verbose=False)
    loc = {ch["ch_name"]: ch["loc"] for ch in canonical["chs"]}
    assert all(np.allclose(ch["loc"], loc[ch["ch_name"]]) for ch in raw.info["chs"])
    assert 120 < raw.times[-1] < 240
    assert 1e-14 < raw.get_data().std() < 1e-11  # femtotesla scale


def test_word_events_in_tsv_and_annotations(sim_meg):
    events = pd.read_csv(_path(sim_meg).update(suffix="events", extension=".tsv").fpath, sep="\t")
    assert {"onset", "duration", "trial_type", "word"} <= set(events.columns)
    assert events["word"].tolist() == chapter_words()["lighthouse"]["word"].tolist()
    assert set(events["trial_type"]) == {"word"}
    raw = mne.io.read_raw_fif(_path(sim_meg).fpath, verbose=False)
    assert len(raw.annotations) == len(events)
    assert np.allclose(raw.annotations.onset - raw.first_time, events["onset"], atol=1e-6)


def test_recovered_trfs_match_planted(sim_meg):
    rec = recover_meg(sim_meg)
    summary = json.loads(rec.attrs["summary"])
    assert summary["trf_corr_word_onset"] > 0.9
    assert summary["trf_corr_surprisal"] > 0.9
    assert summary["peak_lag_error_word_onset"] <= 0.02
    assert summary["peak_lag_error_surprisal"] <= 0.03
    assert (
        rec["planted_trf"].dims
        == rec["recovered_trf"].dims
        == ("subject", "sensor", "lag", "predictor")
    )


def test_same_seed_gives_identical_data(tmp_path):
    settings = {"sfreq": 50.0}
    a = simulate_meg(tmp_path / "a", SimMegSettings.from_config({**settings, "seed": 1}))
    b = simulate_meg(tmp_path / "b", SimMegSettings.from_config({**settings, "seed": 1}))
    da = mne.io.read_raw_fif(_path(a).fpath, verbose=False).get_data()
    db = mne.io.read_raw_fif(_path(b).fpath, verbose=False).get_data()
    assert np.array_equal(da, db)


def test_sensor_patterns_are_smooth_over_the_array():
    pos = np.array([ch["loc"][:3] for ch in magnetometer_info(100.0)["chs"]])
    pattern = sensor_pattern(pos, [((-0.1, 0.0, 0.0), 1.0)], width=0.035)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    neighbours = (dist > 0) & (dist < 0.04)
    far = dist > 0.12
    diff = np.abs(pattern[:, None] - pattern[None])
    assert diff[neighbours].mean() < diff[far].mean()
    assert np.abs(pattern).max() == 1.0


def test_lagged_design_shifts_each_predictor():
    x = np.zeros((6, 2))
    x[1, 0], x[2, 1] = 1.0, 2.0
    d = lagged_design(x, 3)
    assert d.shape == (6, 6)
    assert d[1, 0] == 1 and d[2, 1] == 1 and d[3, 2] == 1
    assert d[2, 3] == 2 and d[4, 5] == 2
    ahead = lagged_design(x, 2, first_lag=-1)
    assert ahead[0, 0] == 1 and ahead[1, 1] == 1


def test_external_surprisal_drives_the_surprisal_predictor(tmp_path):
    import xarray as xr

    from neuroalign.cli import main

    words = chapter_words()
    texts = np.concatenate([w["text"].to_numpy() for w in words.values()])
    surprisal = np.random.default_rng(0).gamma(2.0, 2.0, len(texts))
    da = xr.DataArray(
        np.zeros((len(texts), 4)),
        dims=("item", "unit"),
        coords={"text": ("item", texts), "surprisal": ("item", surprisal)},
    )
    da.to_dataset(name="activations").to_netcdf(tmp_path / "acts.nc", engine="h5netcdf")
    out = tmp_path / "sim_meg"
    args = ["simulate", "meg", "--output", str(out), "--features", str(tmp_path / "acts.nc")]
    (tmp_path / "meg.json").write_text('{"sfreq": 50}')
    assert main([*args, "--settings", str(tmp_path / "meg.json")]) == 0
    with xr.open_dataset(out / "derivatives/neuroalign-truth/truth.nc", engine="h5netcdf") as t:
        values = t["predictor_values"].sel(predictor="surprisal").to_numpy()
    planted = surprisal[: len(words["lighthouse"])]
    assert np.allclose(values, (planted - planted.mean()) / planted.std())
