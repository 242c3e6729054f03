"""``neuroalign encode fmri``, ``meg`` and ``eyetracking`` on simulated data with planted truth."""

import argparse
import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import encode
from neuroalign.encode.activations import read_activations
from neuroalign.encode.settings import EncodeSettings


def run(argv):
    parser = argparse.ArgumentParser()
    encode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["encode", *argv])
    args.func(args)


def run_subject(kind, settings, activations, dataset, output, *paths):
    """``neuroalign encode <kind>`` of subject 01 of a BIDS dataset."""
    run(
        [
            kind,
            *("--settings", str(settings), "--activations", str(activations)),
            *("--dataset", str(dataset), "--subject", "01", "--output", str(output)),
            *paths,
        ]
    )


@pytest.fixture(scope="module")
def fmri_output(sim_fmri, settings_file):
    dataset, features, root = sim_fmri
    out = root / "results" / "encoding" / "sim_fmri" / "sub-01" / "toy.nc"
    settings = settings_file("fmri", device="cpu", dtype="float64", options={"n_perm": 50})
    run_subject("fmri", settings, features, dataset, out)
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
    config = json.loads(ds.attrs["config"])
    assert config["test_task"] == "storm" and config["n_perm"] == 50
    assert config["alphas"] == {"start": -3, "stop": 6, "num": 19}  # the one default grid


def test_fmri_errors_are_one_line(sim_fmri, settings_file, tmp_path):
    dataset, features, _ = sim_fmri
    short = xr.open_dataset(features).isel(item=slice(0, 100))
    short.to_netcdf(tmp_path / "short.nc")
    settings = settings_file("fmri", device="cpu")
    with pytest.raises(NeuroalignError, match="words but the activations have"):
        run_subject("fmri", settings, tmp_path / "short.nc", dataset, tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()
    with pytest.raises(NeuroalignError, match=r"field 'alphas'"):
        run_subject("fmri", settings_file("fmri", alphas="1:2"), features, dataset, "x.nc")
    with pytest.raises(NeuroalignError, match="not found"):
        read_activations(tmp_path / "none.zarr")
    with pytest.raises(NeuroalignError, match=r"no \*_bold\.nii\.gz for subject '01'"):
        run_subject("fmri", settings, features, tmp_path, tmp_path / "x.nc")
    with pytest.raises(NeuroalignError, match=r"options\.test_task"):
        run_subject("fmri", settings_file("fmri", options={"test_task": "rain"}), features,
                    dataset, tmp_path / "x.nc")  # fmt: skip
    with pytest.raises(NeuroalignError, match="kind 'meg' were passed to the fmri stage"):
        run_subject("fmri", settings_file("meg"), features, dataset, tmp_path / "x.nc")


def test_an_incomplete_store_is_refused(sim_fmri, settings_file, tmp_path):
    dataset, features, _ = sim_fmri
    with xr.open_dataset(features) as ds:
        ds.attrs.pop("complete")
        ds.to_netcdf(tmp_path / "unflagged.nc")
        ds.attrs["complete"] = "false"
        ds.to_netcdf(tmp_path / "partial.nc")
    for store in ("unflagged.nc", "partial.nc"):
        with pytest.raises(NeuroalignError, match="incomplete"):
            run_subject("fmri", settings_file("fmri", device="cpu"), tmp_path / store, dataset,
                        tmp_path / "x.nc")  # fmt: skip
    assert not (tmp_path / "x.nc").exists()


def test_fmri_tf32_scoring_reaches_the_solver_and_the_attrs(
    sim_fmri, settings_file, tmp_path, monkeypatch
):
    from neuroalign.encoding import solvers

    dataset, features, _ = sim_fmri
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["tf32_scoring"])
        return real(*args, **kwargs)

    # the fit goes estimator -> solver registry -> solver: spy on the registered solver
    real = solvers.SOLVERS["ridge_cv"]
    monkeypatch.setitem(solvers.SOLVERS, "ridge_cv", spy)
    out = tmp_path / "tf32.nc"
    options = {"n_perm": 0, "tf32_scoring": True}
    run_subject("fmri", settings_file("fmri", device="cpu", options=options), features, dataset,
                out)  # fmt: skip
    assert seen == [True, True]  # both layers
    with xr.open_dataset(out) as ds:
        assert json.loads(ds.attrs["config"])["tf32_scoring"] is True
    bad = settings_file("fmri", options={"tf32_scoring": "maybe"})
    with pytest.raises(NeuroalignError, match=r"field 'options.tf32_scoring'"):
        run_subject("fmri", bad, features, dataset, out)


def test_fmri_device_follows_the_one_device_rule(sim_fmri, settings_file, tmp_path, monkeypatch):
    """``cuda:N`` is a valid setting; on a machine without that GPU the stage says so before
    computing anything."""
    import torch

    dataset, features, _ = sim_fmri
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NeuroalignError, match=r"encode.device: 'cuda:1' needs a CUDA GPU"):
        run_subject("fmri", settings_file("fmri", device="cuda:1"), features, dataset,
                    tmp_path / "x.nc")  # fmt: skip
    assert not (tmp_path / "x.nc").exists()


def test_meg_end_to_end_recovers_trfs(sim_meg, settings_file):
    import mne

    dataset, features, root, planted = sim_meg
    out = root / "out" / "meg.nc"
    settings = settings_file(
        "meg",
        device="cpu",
        dtype="float64",
        alphas={"start": -2, "stop": 4, "num": 7},
        options={"n_components": 1, "tmin": -0.05, "tmax": 0.6},
    )
    run_subject("meg", settings, features, dataset, out)
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


def test_meg_errors_are_one_line(sim_meg, settings_file, tmp_path):
    dataset, features, _, _ = sim_meg
    with pytest.raises(NeuroalignError, match=r"options\.test_blocks 4 with folds 5"):
        run_subject("meg", settings_file("meg", options={"test_blocks": 4}), features, dataset,
                    tmp_path / "x.nc")  # fmt: skip
    with pytest.raises(NeuroalignError, match=r"expected one \*_meg.*fif.* of task 'rest'"):
        run_subject("meg", settings_file("meg", options={"task": "rest"}), features, dataset,
                    tmp_path / "x.nc")  # fmt: skip
    with pytest.raises(NeuroalignError, match=r"unknown key 'options.n_comp'"):
        EncodeSettings.from_config({**json.loads(settings_file("meg").read_text()),
                                    "options": {"n_comp": 2}})  # fmt: skip


def test_eyetracking_gain_over_baseline(sim_eyetracking, settings_file, tmp_path):
    dataset, features = sim_eyetracking
    out = tmp_path / "eye.nc"
    run(
        [
            "eyetracking",
            *("--settings", str(settings_file("eyetracking", device="cpu", dtype="float64"))),
            *("--activations", str(features)),
            *("--report", str(dataset / "ia_report.csv"), "--output", str(out)),
        ]
    )
    ds = xr.open_dataset(out)
    gain = ds["r2_gain"]
    assert float(gain.sel(layer="1", measure="gaze_duration")) > 0.01
    assert float(gain.sel(layer="1").max()) > float(gain.sel(layer="0").max())
    assert abs(float(gain.sel(layer="0").mean())) < 0.02
    assert "unpenalized" in ds.attrs["baseline_fit"]
    assert ds.attrs["dataset"] == dataset.name  # the report page's simulated badge reads it
    baseline = json.loads(ds.attrs["baseline"])
    assert {"previous_word_length", "previous_word_frequency"} <= set(baseline["all"])
    assert set(baseline) == {"length", "frequency", "word", "all"}
    assert str(ds["baseline_used"].values[0]) in baseline  # the strongest on training words
    assert "training" in ds.attrs["baseline_choice"]


def test_reading_baseline_previous_word_terms_stay_in_paragraph(tmp_path):
    from neuroalign.encode.reading import READING_COLUMNS, READING_MEASURES, read_reading_report

    rows = [
        {"unique_paragraph_id": p, "IA_ID": i, "IA_LABEL": f"w{i}", "participant_id": s}
        | {c: 1.0 for c in READING_MEASURES.values()}
        | {READING_COLUMNS[0]: 10 * i + (p == "b"), READING_COLUMNS[1]: 100 + i}
        for s in ("x", "y")
        for p in ("a", "b")
        for i in (1, 2, 3)
    ]
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "ia.csv", index=False)
    words = read_reading_report(tmp_path / "ia.csv")
    np.testing.assert_array_equal(words["previous_word_length"], [0, 10, 20, 0, 11, 21])
    np.testing.assert_array_equal(words["previous_word_frequency"], [0, 101, 102, 0, 101, 102])


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
    # the index line carries each fit's headline with its interval
    assert "median r over the" in page.summary and "95% CI [" in page.summary
    assert len(list((site / "figures").glob("*.png"))) >= 3
    empty = ReportContext(config={}, results=tmp_path / "none", data_root=None, site=site)
    assert collect(empty) is None


def test_layer_sweep_over_declared_set_peaks_at_planted_layer(fmri_output):
    """The declared-set sweep (q < .05) peaks at the planted layer; all voxels are secondary."""
    from neuroalign.encode.sweeps import declared_sweeps

    ds = xr.open_dataset(fmri_output)
    curves = declared_sweeps(ds)
    primary = curves[0]
    assert primary.primary and primary.name == "voxels with q < 0.05"
    assert primary.n_targets == int((ds["q"].values < 0.05).sum()) > 0
    assert primary.peak == "1"  # the planted layer of the simulated features
    assert curves[-1].name == "all voxels" and not curves[-1].primary
    assert curves[-1].n_targets == ds.sizes["voxel"]
    planted = next(c for c in curves if c.name == "planted language voxels")
    assert planted.peak == "1"
    np.testing.assert_allclose(
        primary.mean_r, ds["r_by_layer"].values[:, ds["q"].values < 0.05].mean(1)
    )
    # no voxel passing: the noise-ceiling set takes over, and says so
    none = ds.assign(q=ds["q"] * 0 + 1)
    fallback = declared_sweeps(none)[0]
    assert fallback.primary and "noise ceiling" in fallback.name
