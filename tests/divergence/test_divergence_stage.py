"""The divergence stage and the fine-tuned vs base comparison on planted simulated MEG."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.divergence.settings import DivergenceSettings
from neuroalign.divergence.stage import compare_finetuned, describe, divergence
from neuroalign.results import load_netcdf

FAST = {"layer": 1, "n_perm": 200, "n_boot": 100, "device": "cpu"}
FAST["alphas"] = {"start": -1, "stop": 5, "num": 7}


def test_divergence_ranks_the_planted_category_and_its_feature_closes_the_gap(planted, tmp_path):
    dataset, stores, _ = planted
    settings = DivergenceSettings.from_config(FAST)
    out = divergence(
        settings, activations=stores["base"], dataset=dataset, output=tmp_path / "d.nc"
    )
    ds = load_netcdf(out)
    summary = json.loads(ds.attrs["summary"])
    assert summary["top_category"] == "social" and summary["planted_category"] == "social"
    assert summary["top_q"] < 0.05 and summary["n_significant"] == 1
    assert summary["oracle_q"] > 0.05 and not ds["oracle_significant"].any()
    assert ds["error"].sizes["word"] == ds["member"].sizes["word"] == summary["n_words"]
    assert ds["window_error"].dims == ("window", "word")
    assert int(ds["test_rank"].sel(category="social")) == 1
    assert float(ds["share_top"].sel(category="social")) > float(
        ds["share_overall"].sel(category="social")
    )
    assert "social" in describe(out)


def test_layer_of_noise_finds_no_divergence_either(planted, tmp_path):
    dataset, stores, _ = planted
    settings = DivergenceSettings.from_config({**FAST, "layer": 0, "categories": ["physical"]})
    out = divergence(
        settings, activations=stores["base"], dataset=dataset, output=tmp_path / "d.nc"
    )
    ds = load_netcdf(out)
    assert list(ds["category"].values) == ["physical"]
    assert not ds["test_significant"].any()


def test_fine_tuned_vs_base_detects_a_planted_improvement(planted, tmp_path):
    dataset, stores, _ = planted
    settings = DivergenceSettings.from_config(FAST)
    out = compare_finetuned(
        settings, base=stores["base"], finetuned=stores["finetuned"],
        control=stores["control"], dataset=dataset, output=tmp_path / "c.nc",
    )  # fmt: skip
    ds = load_netcdf(out)
    assert list(ds["model"].values) == ["base", "finetuned", "control"]
    assert list(ds["versus"].values) == ["base", "control"]
    assert ds["r"].dims == ("model", "window")
    assert ds["category_r"].dims == ("model", "category", "window")
    for versus in ("base", "control"):
        q = ds["q"].sel(versus=versus)
        # the missing component peaks at 300 ms: the windows around it improve, the first do not
        assert (q.sel(window=[0.25, 0.35]) < 0.05).all()
        assert (q.sel(window=[0.05, 0.15]) > 0.05).all()
        cq = ds["category_q"].sel(versus=versus)
        assert float(cq.sel(category="social")) < 0.05
        assert (cq.drop_sel(category="social") > 0.05).all()
    r = ds["r"].sel(window=0.35)
    assert float(r.sel(model="finetuned")) > float(r.sel(model="base")) + 0.02


def test_an_encoding_stages_held_out_predictions_are_analysed_as_they_are(planted, tmp_path):
    """The layout of `encode meg_epochs`: the words as the word coordinate, float32 arrays."""
    from _divergence_sim import model_features, predict

    from neuroalign.divergence.responses import read_meg, word_epochs

    dataset, stores, truth = planted
    data, sfreq, _, words = read_meg(dataset, "01")
    observed = word_epochs(data, sfreq, words["onset"].to_numpy(), [(0.2, 0.3), (0.3, 0.4)])
    prediction = predict(model_features(truth["predictor_values"].values[:, 1], 0), observed)
    encoded = xr.Dataset(
        {"observed": observed.astype("float32"), "prediction": prediction.astype("float32")},
        coords={
            "word": ("word", words["word"].to_numpy(object)),
            "story": ("word", truth["story"].values),
        },
    ).drop_vars("text", errors="ignore")
    encoded.to_netcdf(tmp_path / "sub-01.nc")
    settings = DivergenceSettings.from_config({**FAST, "interval": [0.2, 0.4]})
    out = divergence(
        settings, activations=stores["base"], encoding=tmp_path / "sub-01.nc",
        output=tmp_path / "d.nc",
    )  # fmt: skip
    ds = load_netcdf(out)
    assert json.loads(ds.attrs["summary"])["top_category"] == "social"
    assert list(ds["text"].values[:3]) == list(words["word"][:3])
    assert "oracle_error" not in ds  # no features were fitted here
    assert (
        json.loads(ds.attrs["summary"])["median_error"] < 1 and "warning" not in ds.attrs["summary"]
    )


def test_predictions_worse_than_the_mean_are_flagged(planted, tmp_path):
    from neuroalign.divergence.responses import read_meg, word_epochs

    dataset, stores, _ = planted

    data, sfreq, _, words = read_meg(dataset, "01")
    observed = word_epochs(data, sfreq, words["onset"].to_numpy(), [(0.2, 0.3)])
    noisy = observed + 3 * float(observed.std()) * np.random.default_rng(0).standard_normal(
        observed.shape
    )
    xr.Dataset({"observed": observed, "prediction": noisy}).to_netcdf(tmp_path / "e.nc")
    settings = DivergenceSettings.from_config({**FAST, "interval": [0.2, 0.3]})
    out = divergence(
        settings, activations=stores["base"], encoding=tmp_path / "e.nc", output=tmp_path / "d.nc"
    )
    summary = json.loads(load_netcdf(out).attrs["summary"])
    assert summary["median_error"] > 1 and "overfit" in summary["warning"]


def test_stores_that_are_not_the_recordings_words_are_refused(planted, tmp_path):
    dataset, stores, _ = planted
    bad = xr.load_dataset(stores["base"]).isel(item=slice(1, None))
    bad.to_netcdf(tmp_path / "short.nc")
    settings = DivergenceSettings.from_config(FAST)
    with pytest.raises(NeuroalignError, match="items for"):
        divergence(
            settings, activations=tmp_path / "short.nc", dataset=dataset, output=tmp_path / "x.nc"
        )


def test_settings_refuse_backward_windows():
    with pytest.raises(NeuroalignError, match="must end after it starts"):
        DivergenceSettings.from_config({"windows": [[0.3, 0.1]]})
    assert np.allclose(DivergenceSettings.from_config({}).interval, (0.2, 0.5))
