"""Word-epoch MEG encoding on the simulated BIDS MEG (written with mne-bids): the planted
latencies and sensors come back, the broken sensors that channels.tsv marks bad stay out, and
the per-word held-out predictions are the ones the scores are computed from."""

from __future__ import annotations

import json

import mne
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import SimMegSettings, simulate_meg
from neuroalign.encode.meg_epochs import cv_groups, encode_meg_epochs, evoked_file
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encoding.scores import pearson_r

BADS = ["MEG 0111", "MEG 1741"]


def _settings(**options):
    return EncodeSettings.from_config(
        {
            "kind": "meg_epochs",
            "dataset": "sim_meg",
            "stimset": "story",
            "models": ["toy"],
            "device": "cpu",
            "dtype": "float64",
            "alphas": {"start": -1, "stop": 4, "num": 11},
            "options": options,
        }
    )


@pytest.fixture(scope="module")
def epochs_run(sim_meg, tmp_path_factory):
    """The simulated dataset with two broken sensors (junk, marked bad in channels.tsv by the
    simulator), encoded from a store of the planted feature (surprisal) beside noise units."""
    _, _, _, trf = sim_meg
    root = tmp_path_factory.mktemp("meg_epochs")
    copy = simulate_meg(
        root / "sim_meg", SimMegSettings.from_config({"seed": 0, "bad_channels": BADS})
    )
    (channels,) = copy.glob("sub-01/meg/*_channels.tsv")
    table = pd.read_csv(channels, sep="\t")
    assert table.loc[table["status"] == "bad", "name"].tolist() == BADS
    truth = xr.open_dataset(copy / "derivatives" / "neuroalign-truth" / "truth.nc")
    values = truth["predictor_values"].values
    noise = np.random.default_rng(1).standard_normal((values.shape[0], 5))
    store = xr.Dataset(
        {
            "resid": (
                ("item", "layer", "unit"),
                np.stack([noise, np.c_[values[:, 1:], noise[:, 1:]]], axis=1),
            )
        },
        coords={
            "story": ("item", truth["story"].values),
            "text": ("item", truth["text"].values),
            "layer": [0, 1],
        },
        attrs={"complete": "true"},
    )
    truth.close()
    store.to_netcdf(root / "features.nc")
    out = encode_meg_epochs(
        _settings(),
        activations=root / "features.nc",
        dataset=copy,
        subject="01",
        output=root / "sub-01.nc",
    )
    return xr.load_dataset(out), out, trf


def test_recovers_planted_latency_and_sensors(epochs_run):
    ds, _, trf = epochs_run
    summary = json.loads(ds.attrs["summary"])
    # the word-onset response (same for every word) peaks at 0.1 s in the mean epoch
    assert summary["planted_onset_latency_s"] == pytest.approx(0.1)
    assert abs(summary["recovered_erf_peak_s"] - 0.1) <= 0.02
    assert summary["onset_top_sensor_overlap"] >= 0.7
    # the feature-driven response peaks at 0.4 s: the best window is within one window of it
    assert summary["planted_feature_latency_s"] == pytest.approx(0.4)
    assert abs(summary["latency_error_s"]) <= 0.1
    assert summary["feature_top_sensor_overlap"] >= 0.6
    assert summary["r_vs_planted_pattern"] > 0.7
    # the layer holding the feature is picked (by inner CV), the noise layer predicts nothing
    assert ds.attrs["selected_layer"] == "1"
    assert float(ds["r_by_layer"].sel(layer="1").max()) > 0.3
    assert float(np.abs(ds["r_by_layer"].sel(layer="0")).max()) < 0.25
    # the null: the planted sensors pass at the peak window, almost nothing before the response
    strongest = np.argsort(
        np.abs(trf.sel(predictor="surprisal", sensor=ds["sensor"]).values).max(1)
    )
    assert (ds["q"].sel(window=0.45).values[strongest[-5:]] < 0.05).all()
    assert (ds["q"].sel(window=slice(0, 0.2)).values < 0.05).mean() < 0.05
    assert ds["p"].sel(window=slice(0, 0.2)).mean() > 0.3
    early = ds["r"].sel(window=slice(0, 0.2)).mean()
    assert float(early) < 0.05  # before the feature-driven response, nothing to predict


def test_bads_and_layout(epochs_run):
    ds, out, _ = epochs_run
    assert not set(BADS) & set(ds["sensor"].values.tolist())
    assert ds.sizes["sensor"] == 100
    assert ds["prediction"].dims == ds["observed"].dims == ("word", "sensor", "window")
    for name in ("word", "story", "onset", "run", "fold"):
        assert ds[name].dims == ("word",)
    assert ds.sizes["word"] == 398 and ds["word"].values[0] == "On"
    assert ds["onset"].values[0] == pytest.approx(3.0)
    assert set(np.unique(ds["fold"])) == set(range(5))
    np.testing.assert_allclose(ds["window"], np.arange(0.05, 0.8, 0.1))
    # r is the correlation over words of the stored held-out prediction and observation
    obs = ds["observed"].values.reshape(ds.sizes["word"], -1)
    pred = ds["prediction"].values.reshape(ds.sizes["word"], -1)
    np.testing.assert_allclose(pearson_r(obs, pred), ds["r"].values.ravel(), atol=1e-4)
    steps = json.loads(ds.attrs["preprocessing"])[0]
    assert steps["bads"] == BADS
    assert [s["step"] for s in steps["steps"]] == ["pick", "filter", "epochs"]
    assert steps["steps"][1] == {"step": "filter", "l_freq": 0.5, "h_freq": 30.0, "method": "fir"}
    evoked = mne.read_evokeds(evoked_file(out), verbose="error")[0]
    assert evoked.ch_names == ds["sensor"].values.tolist()
    np.testing.assert_allclose(evoked.data, ds["r"].values)


def test_cv_groups():
    words = pd.DataFrame({"story": ["a"] * 4 + ["b"] * 4, "run": ["r1"] * 6 + ["r2"] * 2})
    labels, group, n = cv_groups(words, "auto", 5)
    assert group == "story" and n == 2 and labels.tolist() == [0] * 4 + [1] * 4
    labels, group, n = cv_groups(words.assign(story="a"), "auto", 5)
    assert group == "run" and labels.tolist() == [0] * 6 + [1] * 2
    labels, group, n = cv_groups(words.assign(story="a", run="r"), "auto", 4)
    assert group == "block" and n == 4 and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(NeuroalignError, match="one story only"):
        cv_groups(words.assign(story="a"), "story", 5)


def test_report_page(epochs_run, tmp_path):
    """The fit's page: topographies, window courses and the mean epoch drawn (no blank
    canvas), the recovery and preprocessing tables, a headline at the best window."""
    from matplotlib.image import imread

    from neuroalign.report.blocks import Figure, Table
    from neuroalign.report.context import ReportContext
    from neuroalign.report.stages import encode_meg_epochs as page

    ds, out, _ = epochs_run
    ctx = ReportContext(config={}, results=out.parent, data_root=None, site=tmp_path / "site")
    text, blocks = page.blocks(ctx, "fit", ds, out)
    figures = [b for b in blocks if isinstance(b, Figure)]
    assert [b.src for b in figures] == [
        "figures/fit-topomaps.png",
        "figures/fit-windows.png",
        "figures/fit-erf.png",
    ]
    for block in figures:
        assert imread(ctx.site / block.src).std() > 0.05
    tables = [b for b in blocks if isinstance(b, Table)]
    assert [t.columns[0] for t in tables] == ["statistic", "recovery metric", "recording"]
    headline = page.headline(ds)
    assert "0.40-0.50 s" in headline.label
    passing = ds["q"].sel(window=0.45).values < 0.05
    assert f"the {passing.sum()} sensors with q < 0.05" in headline.label
    r = ds["r"].sel(window=0.45).values
    assert headline.value == pytest.approx(float(np.median(r[passing])))
    assert text == headline.text()


def test_trf_path_finds_a_kit_recording(shared_data, tmp_path):
    """The lag-engine path (kind meg) finds a KIT recording as it finds the simulated FIF."""
    from mne_bids import BIDSPath, write_raw_bids

    from neuroalign.encode.bids import meg_recording

    raw = mne.io.read_raw_kit(shared_data / "formats" / "test_as-raw.con", slope="+")
    raw.info["line_freq"] = 60.0
    path = BIDSPath(subject="01", task="story", datatype="meg", root=tmp_path)
    write_raw_bids(raw, path, events=mne.find_events(raw, verbose="error"),
                   event_id={"word": 2}, verbose="error")  # fmt: skip
    recording = meg_recording(tmp_path, "01")
    assert recording.task == "story" and recording.data.suffix == ".con"
    assert recording.events.name == "sub-01_task-story_events.tsv"


def test_unknown_bad_channel_is_named(tmp_path):
    with pytest.raises(NeuroalignError, match=r"bad_channels: \['MEG 9999'\] are not sensors"):
        simulate_meg(tmp_path / "x", SimMegSettings.from_config({"bad_channels": ["MEG 9999"]}))


def test_trf_path_preprocessing_is_recorded(epochs_run, sim_meg, tmp_path):
    """The lag-engine path (kind meg) drops the channels file's bad channels and records its
    preprocessing; a band-pass is an option (none by default, as before)."""
    from neuroalign.encode.meg import encode_meg

    _, out, _ = epochs_run
    dataset = out.parent / "sim_meg"
    _, features, _, _ = sim_meg
    entry = {"kind": "meg", "dataset": "sim_meg", "stimset": "story", "models": ["toy"],
             "device": "cpu", "alphas": [1.0, 100.0]}  # fmt: skip
    options = {"n_components": 1, "n_perm": 0, "tmin": 0.0, "tmax": 0.2}
    plain = encode_meg(
        EncodeSettings.from_config({**entry, "options": options}),
        activations=features, dataset=dataset, subject="01", output=tmp_path / "a.nc",
    )  # fmt: skip
    band = {**options, "l_freq": 1.0, "h_freq": 40.0}
    filtered = encode_meg(
        EncodeSettings.from_config({**entry, "options": band}),
        activations=features, dataset=dataset, subject="01", output=tmp_path / "b.nc",
    )  # fmt: skip
    a, b = xr.load_dataset(plain), xr.load_dataset(filtered)
    assert not set(BADS) & set(a["sensor"].values.tolist()) and a.sizes["sensor"] == 100
    steps_a = json.loads(a.attrs["preprocessing"])[0]
    steps_b = json.loads(b.attrs["preprocessing"])[0]
    assert steps_a["bads"] == BADS and [s["step"] for s in steps_a["steps"]] == ["pick"]
    assert steps_b["steps"][1] == {"step": "filter", "l_freq": 1.0, "h_freq": 40.0, "method": "fir"}
    assert not np.allclose(a["r"].values, b["r"].values)


@pytest.fixture(scope="module")
def wide_run(epochs_run, tmp_path_factory):
    """The same recording encoded from many features (the planted one among 300 noise units),
    where a penalty chosen for correlation alone would overfit."""
    _, out, _ = epochs_run
    root = out.parent
    store = xr.load_dataset(root / "features.nc")
    rng = np.random.default_rng(2)
    values = store["resid"].values[:, 1, :1]
    wide = np.c_[values, rng.standard_normal((len(values), 300))]
    wide_store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), wide[:, None, :])},
        coords={"story": store["story"], "text": store["text"], "layer": [0]},
        attrs={"complete": "true"},
    )
    wide_store.to_netcdf(root / "wide.nc")
    result = encode_meg_epochs(
        _settings(n_perm=0),
        activations=root / "wide.nc",
        dataset=root / "sim_meg",
        subject="01",
        output=root / "wide-sub-01.nc",
    )
    return xr.load_dataset(result)


def test_held_out_predictions_are_no_worse_than_the_mean(wide_run):
    """Penalties are chosen on the squared error, so the stored predictions are usable as
    predictions (per-word errors downstream), not only as correlates: each word's error over
    sensors and windows is at most about that of predicting each sensor-window's mean."""
    ds = wide_run
    error = (ds["prediction"] - ds["observed"]) ** 2 / ds["observed"].var("word")
    per_word = error.mean(("sensor", "window"))
    assert float(per_word.median()) < 1.1
