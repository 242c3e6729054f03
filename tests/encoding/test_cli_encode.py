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


@pytest.fixture(scope="module")
def sim_fmri(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    settings = {"n_subjects": 1, "voxel_size": 12, "train_stories": ["lighthouse", "orchard", "ferry"]}
    dataset = simulate_fmri(root / "sim_fmri", seed=0, settings=settings)
    truth = xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    features = truth["word_features"].rename({"token": "item", "feature": "unit"})
    noise = np.random.default_rng(0).standard_normal(features.shape)
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, features.values], axis=1))},
        coords={"story": ("item", features["story"].values), "text": ("item", features["text"].values), "layer": [0, 1]},
    )
    store.to_netcdf(root / "features.nc")
    truth.close()
    return dataset, root / "features.nc", root


def test_fmri_end_to_end_recovers_language_voxels(sim_fmri):
    dataset, features, root = sim_fmri
    out = root / "out" / "sub-01.nc"
    run(["fmri", "--activations", str(features), "--dataset", str(dataset), "--subject", "01",
         "--output", str(out), "--device", "cpu", "--dtype", "float64", "--n-perm", "50"])  # fmt: skip
    ds = xr.open_dataset(out)
    summary = json.loads(ds.attrs["summary"])
    assert summary["recall_q05"] > 0.8 and summary["precision_q05"] > 0.85
    assert ds.attrs["selected_layer"] == "1" and ds.attrs["ceiling_convention"] == "r/c"
    language = ds["planted_language"].values.astype(bool)
    assert ds["r_by_layer"].sel(layer="1").values[language].mean() > 0.3
    assert abs(ds["r_by_layer"].sel(layer="0").values.mean()) < 0.05
    assert np.mean(ds["best_layer"].values[language] == "1") > 0.9
    assert np.nanmean(ds["normalized"].values[language]) > 0.5
    img = nib.load(root / "out" / "sub-01_maps" / "r.nii.gz")
    assert img.shape == nib.load(dataset / "derivatives/neuroalign-truth/brain_mask.nii.gz").shape
    assert json.loads(ds.attrs["config"])["test_task"] == "storm"


def test_fmri_errors_are_one_line(sim_fmri, tmp_path):
    dataset, features, root = sim_fmri
    short = xr.open_dataset(features).isel(item=slice(0, 100))
    short.to_netcdf(tmp_path / "short.nc")
    with pytest.raises(NeuroalignError, match="words but the activations have"):
        run(["fmri", "--activations", str(tmp_path / "short.nc"), "--dataset", str(dataset),
             "--subject", "01", "--output", str(tmp_path / "x.nc"), "--device", "cpu"])  # fmt: skip
    assert not (tmp_path / "x.nc").exists()
    with pytest.raises(NeuroalignError, match="--alphas"):
        encode._alphas("1:2")
    with pytest.raises(NeuroalignError, match="not found"):
        encode.read_activations(tmp_path / "none.zarr", None, "all")
