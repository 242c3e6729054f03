"""Brain alignment of localized units: the encoding engine on unit subsets vs random sets."""

import argparse
import json

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import encode
from neuroalign.data.simulate import SimFmriSettings, simulate_fmri
from neuroalign.encode.unit_sets import select_units


def run(argv):
    parser = argparse.ArgumentParser()
    encode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["encode", *argv])
    args.func(args)


def _unit_sets(path, localized, randoms, n_layers, n_units):
    """A file laid out like a `neuroalign localize` result (mask and random masks)."""
    seeds = np.arange(len(randoms))
    xr.Dataset(
        {
            "mask": (("network", "layer", "unit"), localized[None]),
            "random_mask": (("scheme", "seed", "layer", "unit"), np.stack(randoms)[None]),
        },
        coords={
            "network": ["language"],
            "scheme": ["uniform"],
            "seed": seeds,
            "layer": np.arange(n_layers),
            "unit": np.arange(n_units),
        },
    ).to_netcdf(path)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Simulated fMRI driven by the true features; layer 1 holds them, layer 0 is noise."""
    root = tmp_path_factory.mktemp("unit_sets")
    settings = {
        "seed": 1,
        "n_subjects": 1,
        "voxel_size": 12,
        "train_stories": ["lighthouse", "orchard"],
    }
    dataset = simulate_fmri(root / "sim_fmri", SimFmriSettings.from_config(settings))
    with xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc") as truth:
        features = truth["word_features"].rename({"token": "item", "feature": "unit"}).load()
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(features.shape)
    xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, features.values], axis=1))},
        coords={
            "story": ("item", features["story"].values),
            "text": ("item", features["text"].values),
            "layer": [0, 1],
        },
        attrs={"complete": "true"},
    ).to_netcdf(root / "features.nc")
    n_units = features.shape[1]
    k = 6
    localized = np.zeros((2, n_units), bool)
    localized[1, :k] = True  # the units that carry the planted features
    randoms = []
    for _ in range(8):
        mask = np.zeros((2, n_units), bool)
        mask[0, rng.choice(n_units, k, replace=False)] = True  # noise units only
        randoms.append(mask)
    _unit_sets(root / "localize.nc", localized, randoms, 2, n_units)
    return dataset, root


def test_localized_units_align_better_than_random_sets(planted, settings_file):
    dataset, root = planted
    out = root / "out.nc"
    settings = settings_file("fmri", device="cpu", dtype="float64", options={"n_perm": 20})
    run(["fmri", "--settings", str(settings), "--activations", str(root / "features.nc"),
         "--dataset", str(dataset), "--subject", "01", "--output", str(out),
         "--unit-sets", str(root / "localize.nc")])  # fmt: skip
    ds = xr.open_dataset(out)
    summary = json.loads(ds.attrs["summary"])
    assert list(ds["unit_set"].values[:2]) == ["localized", "uniform_0"]
    assert ds["unit_set_r"].shape == (9, ds.sizes["voxel"])
    assert summary["alignment_percentile"] == 100.0
    assert summary["alignment_difference"] > 0.1 and summary["alignment_z"] > 3
    random_r = ds["unit_set_mean_r"].values[1:]
    np.testing.assert_allclose(summary["alignment_random_r_mean"], random_r.mean(), rtol=1e-6)


def test_unit_sets_must_match_the_activations(planted, settings_file, tmp_path):
    dataset, root = planted
    wrong = tmp_path / "wrong.nc"
    _unit_sets(wrong, np.ones((3, 4), bool), [np.ones((3, 4), bool)], 3, 4)
    settings = settings_file("fmri", device="cpu", options={"n_perm": 0})
    for unit_sets, match in ((wrong, "localized on layers"), (root / "features.nc", "random_mask")):
        with pytest.raises(NeuroalignError, match=match):
            run(["fmri", "--settings", str(settings), "--activations", str(root / "features.nc"),
                 "--dataset", str(dataset), "--subject", "01", "--output", str(tmp_path / "x.nc"),
                 "--unit-sets", str(unit_sets)])  # fmt: skip
    assert not (tmp_path / "x.nc").exists()


def test_select_units_keeps_item_coordinates():
    da = xr.DataArray(
        np.arange(24.0).reshape(4, 6),
        dims=("item", "resid_unit"),
        coords={"text": ("item", list("abcd"))},
    )
    mask = np.array(
        [[True, False, False, False, False, True], [False, True, False, False, False, False]]
    )
    picked = select_units({0: da, 1: da * 10}, mask)
    assert picked.dims == ("item", "unit") and list(picked["text"].values) == list("abcd")
    np.testing.assert_array_equal(picked.values[:, 0], da.values[:, 0])
    np.testing.assert_array_equal(picked.values[:, 2], da.values[:, 1] * 10)
