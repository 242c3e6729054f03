"""Vision encoding on simulated arrays: planted ROIs and layers found, chance when shuffled."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from _vision_encode_sim import simulate

from neuroalign._check import NeuroalignError
from neuroalign.encoding.scores import pearson_r
from neuroalign.vision.compare import (
    bootstrap_counts,
    bootstrap_roi_scores,
    normalized_score,
    roi_recovery,
    roi_summary,
)
from neuroalign.vision.encode import encode_arrays, match_images, read_image_features
from neuroalign.vision.settings import VisionEncodeSettings

SETTINGS = dict(
    dataset="sim_vision",
    models=["planted"],
    alphas=[0.1, 1, 10, 100, 1000],
    n_permutations=200,
    n_bootstrap=100,
    device="cpu",
    dtype="float64",
    seed=3,
)


def _run(sim, **changes):
    settings = VisionEncodeSettings.from_config({**SETTINGS, **changes})
    return encode_arrays(
        settings,
        features=sim.features,
        Y=sim.Y,
        train=sim.train,
        test=sim.test,
        ceiling=sim.ceiling,
        rois=sim.rois,
        planted={"responsive": sim.responsive},
    )


@pytest.fixture(scope="module")
def sim():
    return simulate(seed=0)


@pytest.fixture(scope="module")
def result(sim):
    return _run(sim)


def test_planted_rois_recovered(result):
    precision = result["recovery_precision"].values
    recall = result["recovery_recall"].values
    # Half of each ROI responds; finding all voxels (or none) fails one of the two.
    assert np.all(precision > 0.9), precision
    assert np.all(recall > 0.8), recall


def test_best_layer_per_roi_is_the_planted_one(sim, result):
    best = result["model_best_layer"].sel(model="planted")
    for roi, layer in sim.planted_layer.items():
        assert str(best.sel(roi=roi).values) == layer
        fit = int(result["best_fit"].sel(roi=roi))
        assert str(result["fit_layer"].values[fit]) == layer


def test_layer_sweep_peaks_at_the_planted_layer(sim, result):
    for roi, layer in sim.planted_layer.items():
        sweep = result["roi_median"].sel(roi=roi).values
        assert result["fit_layer"].values[np.nanargmax(sweep)] == layer
        n_sig = result["roi_n_sig"].sel(roi=roi).values
        assert result["fit_layer"].values[np.argmax(n_sig)] == layer
        # At the planted layer the responsive half of the ROI explains most of its ceiling.
        assert float(result["roi_median_sig"].sel(roi=roi).values[np.argmax(n_sig)]) > 0.8
        low, high = (result[k].sel(roi=roi).values for k in ("best_low", "best_high"))
        assert low <= float(result["best_score"].sel(roi=roi)) <= high


def test_shuffled_features_give_chance(sim):
    rng = np.random.default_rng(1)
    shuffled = {
        "planted": {k: v[rng.permutation(v.shape[0])] for k, v in sim.features["planted"].items()}
    }
    ds = _run(type(sim)(**{**sim.__dict__, "features": shuffled}))
    share = float(np.mean(ds["q"].values < 0.05))
    assert share < 0.03, share
    assert np.all(np.nan_to_num(ds["recovery_recall"].values) < 0.1)
    # p is close to uniform under the null.
    assert 0.35 < float(np.median(ds["p"].values)) < 0.65


def test_model_comparison_picks_the_planted_model():
    sim = simulate(seed=2, second_model=True)
    ds = _run(sim, models=["planted", "other"])
    for roi in sim.rois:
        best = int(ds["best_fit"].sel(roi=roi))
        second = int(ds["second_fit"].sel(roi=roi))
        assert ds["fit_model"].values[best] == "planted"
        assert ds["fit_model"].values[second] == "other"
        # The paired difference of the top two is positive with its interval above 0.
        assert float(ds["diff_low"].sel(roi=roi)) > 0
        assert float(ds["diff"].sel(roi=roi)) > float(ds["diff_low"].sel(roi=roi))


def test_normalized_score_is_r_squared_over_ceiling():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((50, 4))
    pred = Y + rng.standard_normal((50, 4)) * np.array([0.3, 1, 3, 0.5])
    pred[:, 3] = -pred[:, 3]
    r = pearson_r(Y, pred)
    ceiling = np.array([0.9, 0.5, 0.25, 0.8])
    got = normalized_score(r, ceiling)
    np.testing.assert_allclose(got, np.sign(r) * r**2 / ceiling)
    assert got[3] < 0
    assert np.isnan(normalized_score(0.5, 0.0))
    # A prediction equal to the noise-free signal scores ~1 once normalized.
    signal = rng.standard_normal((4000, 1))
    repeats = signal[None] + rng.standard_normal((4, 4000, 1))
    nc = 1 / (1 + 1 / 4)  # signal variance 1, noise variance 1/4 in the mean of 4 trials
    score = normalized_score(pearson_r(repeats.mean(0), signal), nc)
    assert score[0] == pytest.approx(1.0, abs=0.05)


def test_bootstrap_with_unit_counts_is_the_plain_score():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((30, 6))
    pred = Y + rng.standard_normal((30, 6))
    ceiling = np.full(6, 0.7)
    rois = {"a": np.array([1, 1, 1, 0, 0, 0], bool), "b": np.array([0, 0, 1, 1, 1, 1], bool)}
    got = bootstrap_roi_scores(Y, pred, ceiling, rois, np.ones((1, 30)))
    norm = normalized_score(pearson_r(Y, pred), ceiling)
    summary = roi_summary(norm[None], np.zeros((1, 6)), rois)
    np.testing.assert_allclose(got[0], summary["median"][0])
    counts = bootstrap_counts(30, 5, np.random.default_rng(1))
    assert counts.shape == (5, 30) and np.all(counts.sum(1) == 30)
    # One resample equals the score on the resampled rows.
    rows = np.repeat(np.arange(30), counts[0].astype(int))
    direct = np.median(normalized_score(pearson_r(Y[rows], pred[rows]), ceiling)[rois["a"]])
    boot = bootstrap_roi_scores(Y, pred, ceiling, rois, counts)
    assert boot[0, 0] == pytest.approx(direct)


def test_roi_recovery_counts():
    rois = {"a": np.array([1, 1, 1, 1, 0], bool)}
    rec = roi_recovery(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 1], bool), rois)
    assert rec["a"] == (0.5, 0.5)


def test_match_images_names_missing_ids():
    assert match_images(["b", "a", "c"], ["a", "c"], "store").tolist() == [1, 2]
    with pytest.raises(NeuroalignError, match=r"2 of 3 images have no activations.*'x'"):
        match_images(["a"], ["a", "x", "y"], "store.zarr")


def test_read_image_features(tmp_path):
    da = xr.DataArray(
        np.arange(24, dtype=np.float32).reshape(4, 3, 2),
        dims=("item", "layer", "unit"),
        coords={"layer": [0, 1, 2], "image_id": ("item", ["i0", "i1", "i2", "i3"])},
    )
    path = tmp_path / "acts.zarr"
    xr.Dataset({"resid": da}, attrs={"complete": "true"}).to_zarr(path, consolidated=False)
    feats, ids = read_image_features(path, "resid", [-1])
    assert list(feats) == ["2"] and ids.tolist() == ["i0", "i1", "i2", "i3"]
    np.testing.assert_array_equal(feats["2"], da.isel(layer=2).values)
    with pytest.raises(NeuroalignError, match="no unit space"):
        read_image_features(path, "embed", "all")


def test_read_planted(tmp_path):
    from neuroalign.results import write_netcdf
    from neuroalign.vision.encode import PLANTED, read_planted

    assert read_planted(tmp_path, "01") is None
    truth = xr.Dataset(
        {
            "snr": (("subject", "voxel"), np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]])),
            "visual": ("voxel", np.array([1, 1, 0], np.int8)),
        },
        coords={"subject": ["01", "02"]},
        attrs={"config": json.dumps({"features": {"model": "tiny_clip", "layer": -1}})},
    )
    (tmp_path / PLANTED).mkdir(parents=True)
    write_netcdf(truth, tmp_path / PLANTED / "truth.nc")
    planted = read_planted(tmp_path, "02")
    assert planted["responsive"].tolist() == [True, False, False]
    assert (planted["model"], planted["layer"]) == ("tiny_clip", "-1")
    assert read_planted(tmp_path, "03")["responsive"].tolist() == [True, True, False]
