import argparse
import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import encode
from neuroalign.data.simulate.fmri import simulate_fmri


def run(argv):
    parser = argparse.ArgumentParser()
    encode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["encode", *argv])
    args.func(args)


def run_subject(kind, activations, dataset, output, *options):
    """``neuroalign encode <kind>`` of subject 01 of a BIDS dataset, on the CPU."""
    run(
        [
            kind,
            "--activations",
            str(activations),
            "--dataset",
            str(dataset),
            "--subject",
            "01",
            "--output",
            str(output),
            "--device",
            "cpu",
            *options,
        ]
    )


@pytest.fixture(scope="module")
def sim_fmri(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    settings = {
        "n_subjects": 1,
        "voxel_size": 12,
        "train_stories": ["lighthouse", "orchard", "ferry"],
    }
    dataset = simulate_fmri(root / "sim_fmri", seed=0, settings=settings)
    truth = xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    features = truth["word_features"].rename({"token": "item", "feature": "unit"})
    noise = np.random.default_rng(0).standard_normal(features.shape)
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, features.values], axis=1))},
        coords={
            "story": ("item", features["story"].values),
            "text": ("item", features["text"].values),
            "layer": [0, 1],
        },
    )
    store.to_netcdf(root / "features.nc")
    truth.close()
    return dataset, root / "features.nc", root


@pytest.fixture(scope="module")
def fmri_output(sim_fmri):
    dataset, features, root = sim_fmri
    out = root / "results" / "encoding" / "sim_fmri" / "sub-01" / "toy.nc"
    run_subject("fmri", features, dataset, out, "--dtype", "float64", "--n-perm", "50")
    return out


def test_fmri_end_to_end_recovers_language_voxels(sim_fmri, fmri_output):
    dataset, _, _ = sim_fmri
    out = fmri_output
    ds = xr.open_dataset(out)
    summary = json.loads(ds.attrs["summary"])
    assert summary["recall_q05"] > 0.8 and summary["precision_q05"] > 0.85
    assert ds.attrs["selected_layer"] == "1" and ds.attrs["ceiling_convention"] == "r/c"
    language = ds["planted_language"].values.astype(bool)
    assert ds["r_by_layer"].sel(layer="1").values[language].mean() > 0.3
    assert abs(ds["r_by_layer"].sel(layer="0").values.mean()) < 0.05
    assert np.mean(ds["best_layer"].values[language] == "1") > 0.9
    assert np.nanmean(ds["normalized"].values[language]) > 0.5
    img = nib.load(out.with_name("toy_maps") / "r.nii.gz")
    assert img.shape == nib.load(dataset / "derivatives/neuroalign-truth/brain_mask.nii.gz").shape
    assert json.loads(ds.attrs["config"])["test_task"] == "storm"


def test_fmri_errors_are_one_line(sim_fmri, tmp_path):
    dataset, features, _ = sim_fmri
    short = xr.open_dataset(features).isel(item=slice(0, 100))
    short.to_netcdf(tmp_path / "short.nc")
    with pytest.raises(NeuroalignError, match="words but the activations have"):
        run_subject("fmri", tmp_path / "short.nc", dataset, tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()
    with pytest.raises(NeuroalignError, match="--alphas"):
        encode._alphas("1:2")
    with pytest.raises(NeuroalignError, match="not found"):
        encode.read_activations(tmp_path / "none.zarr", None, "all")


def test_fmri_tf32_scoring_reaches_the_solver_and_the_attrs(sim_fmri, tmp_path, monkeypatch):
    from neuroalign.encoding import pipeline

    dataset, features, _ = sim_fmri
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["tf32_scoring"])
        return real(*args, **kwargs)

    real = pipeline.ridge_cv
    monkeypatch.setattr(pipeline, "ridge_cv", spy)
    out = tmp_path / "tf32.nc"
    run_subject("fmri", features, dataset, out, "--n-perm", "0", "--tf32-scoring=True")
    assert seen == [True, True]  # both layers
    with xr.open_dataset(out) as ds:
        assert json.loads(ds.attrs["config"])["tf32_scoring"] is True
    with pytest.raises(SystemExit):
        run_subject("fmri", features, dataset, out, "--tf32-scoring=maybe")


@pytest.fixture(scope="module")
def sim_meg(tmp_path_factory):
    from neuroalign.data.simulate.meg import simulate_meg

    root = tmp_path_factory.mktemp("encode_meg")
    dataset = simulate_meg(root / "sim_meg", seed=0, settings={})
    truth = xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    values = truth["predictor_values"].values
    store = xr.Dataset(
        {"resid": (("item", "unit"), values[:, 1:])},
        coords={"story": ("item", truth["story"].values), "text": ("item", truth["text"].values)},
    )
    store.to_netcdf(root / "features.nc")
    trf = truth["trf"].isel(subject=0).load()
    truth.close()
    return dataset, root / "features.nc", root, trf


def test_meg_end_to_end_recovers_trfs(sim_meg):
    import mne

    dataset, features, root, planted = sim_meg
    out = root / "out" / "meg.nc"
    run_subject(
        "meg",
        features,
        dataset,
        out,
        "--dtype",
        "float64",
        "--n-components",
        "1",
        "--alphas=-2:4:7",
        "--tmin=-0.05",
        "--tmax",
        "0.6",
    )
    ds = xr.open_dataset(out)
    assert ds["r"].max() > 0.3
    onset = ds["trf"].sel(predictor="word_onset").sel(lag=slice(0, 0.6))
    best = int(np.argmax(planted.sel(predictor="word_onset").std("lag").values))
    sensor = str(planted["sensor"].values[best])
    recovered = onset.sel(sensor=sensor).values
    truth = planted.sel(predictor="word_onset", sensor=sensor).values
    assert np.corrcoef(recovered, truth[: recovered.size])[0, 1] > 0.9
    evoked = mne.read_evokeds(root / "out" / "meg_trf-ave.fif", verbose="error")[0]
    assert evoked.data.shape == (ds.sizes["sensor"], ds.sizes["lag"])
    # held-out statistics per sensor: the strongest planted sensors are found, the (nearly)
    # signal-free ones are not
    strength = np.sqrt((planted**2).sum(("lag", "predictor"))).sel(sensor=ds["sensor"]).values
    order = np.argsort(strength)
    assert np.all(ds["q"].values[order[-20:]] < 0.05)
    assert strength[order[19]] < 0.01 * strength.max()
    assert 0.25 < ds["p"].values[order[:20]].mean() < 0.75
    assert not np.any(ds["q"].values[order[:20]] < 0.05)
    assert np.all(ds["r2"].values <= ds["r"].values ** 2 + 1e-12)
    # time-resolved scores: sensors are best predicted around the planted M100 (0.1 s)
    peak = float(ds["lag"][int(np.argmax(ds["r_by_lag"].mean("sensor").values))])
    assert 0.05 <= peak <= 0.15
    assert json.loads(ds.attrs["summary"])["word_onset_trf_correlation"] > 0.8


def test_eyetracking_gain_over_baseline(tmp_path):
    import pandas as pd

    from neuroalign.data.simulate.eyetracking import simulate_eyetracking

    dataset = simulate_eyetracking(tmp_path / "sim_eye", seed=0, settings={"n_readers": 8})
    report = pd.read_csv(dataset / "ia_report.csv", na_values=["."])
    words = report.groupby(["unique_paragraph_id", "IA_ID"], sort=False).first().reset_index()
    noise = np.random.default_rng(0).standard_normal(len(words))
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, words["surprisal"]], 1)[..., None])},
        coords={
            "story": ("item", np.array(words["unique_paragraph_id"].astype(str).tolist())),
            "text": ("item", np.array(words["IA_LABEL"].astype(str).tolist())),
            "layer": [0, 1],
        },
    )
    store.to_netcdf(tmp_path / "features.nc")
    out = tmp_path / "eye.nc"
    run(
        [
            "eyetracking",
            "--activations",
            str(tmp_path / "features.nc"),
            "--report",
            str(dataset / "ia_report.csv"),
            "--output",
            str(out),
            "--device",
            "cpu",
            "--dtype",
            "float64",
        ]
    )
    ds = xr.open_dataset(out)
    gain = ds["r2_gain"]
    assert float(gain.sel(layer="1", measure="gaze_duration")) > 0.01
    assert float(gain.sel(layer="1").max()) > float(gain.sel(layer="0").max())
    assert abs(float(gain.sel(layer="0").mean())) < 0.02
    assert "unpenalized" in ds.attrs["baseline_fit"]


def test_report_page(fmri_output, tmp_path):
    from neuroalign.report.context import ReportContext
    from neuroalign.report.stages.encode import collect

    results = fmri_output.parents[3]
    eye = xr.Dataset(
        {
            name: (("layer", "measure"), np.full((2, 1), v))
            for name, v in [("r2_baseline", 0.1), ("r2_full", 0.2), ("r2_gain", 0.1)]
        },
        coords={"layer": ["0", "1"], "measure": ["gaze_duration"]},
        attrs={"dataset": "sim_eyetracking"},
    )
    eye.to_netcdf(results / "encoding" / "reading.nc")
    site = tmp_path / "site"
    (site / "figures").mkdir(parents=True)
    page = collect(ReportContext(config={}, results=results, data_root=None, site=site))
    assert page.slug == "encode" and len(page.subpages) == 2 and page.simulated
    kinds = {sub.extra["kind"] for sub in page.subpages}
    assert kinds == {"fmri", "eyetracking"}
    assert len(list((site / "figures").glob("*.png"))) >= 3
    empty = ReportContext(config={}, results=tmp_path / "none", data_root=None, site=site)
    assert collect(empty) is None
