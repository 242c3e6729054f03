"""The vision encoding stage on files: Python and CLI give the same result, maps are plottable."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from _vision_encode_sim import simulate

from neuroalign.cli import main
from neuroalign.results import load_netcdf
from neuroalign.settings import write_settings
from neuroalign.vision.encode import encode_images
from neuroalign.vision.settings import VisionEncodeSettings

vision_data = pytest.importorskip("neuroalign.data.vision")

SETTINGS = dict(
    dataset="sim_vision",
    models=["planted"],
    alphas=[1, 10, 100, 1000],
    n_permutations=100,
    n_bootstrap=50,
    device="cpu",
    dtype="float64",
    seed=1,
)


def _betas(sim) -> object:
    """Single trials of the simulated arrays as `VisionBetas` on a small volume mask."""
    n_rep, n_img, n_vox = sim.repeats.shape
    ids = np.array([f"img{i:04d}" for i in range(n_img)])
    test = np.isin(np.arange(n_img), sim.test)
    mask = np.zeros((8, 8, 8), np.int8)
    mask.flat[:n_vox] = 1
    return vision_data.VisionBetas(
        betas=sim.repeats.reshape(n_rep * n_img, n_vox),
        image_ids=np.tile(ids, n_rep),
        repeat=np.repeat(np.arange(n_rep), n_img),
        session=np.repeat(np.arange(1, n_rep + 1), n_img),
        split=np.tile(np.where(test, "test", "train"), n_rep),
        rois=sim.rois,
        mask=nib.Nifti1Image(mask, np.diag([2.0, 2.0, 2.0, 1.0])),
        dataset="sim_vision",
        subject="01",
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    sim = simulate(seed=4, n_train=160, n_test=40)
    layers = sim.features["planted"]
    n_img = sim.Y.shape[0]
    order = np.random.default_rng(0).permutation(n_img)  # items in another order than images
    acts = np.stack([layers[k] for k in sorted(layers)], axis=1)[order]
    store = root / "planted.zarr"
    xr.Dataset(
        {"resid": (("item", "layer", "unit"), acts.astype(np.float32))},
        coords={
            "layer": [0, 1, 2],
            "image_id": ("item", np.array([f"img{i:04d}" for i in order], dtype=object)),
        },
        attrs={"complete": "true"},
    ).to_zarr(store, consolidated=False)
    return root, store, _betas(sim)


def _patch(monkeypatch, betas):
    monkeypatch.setattr(vision_data, "read_vision_betas", lambda *a, **k: betas)


def test_python_and_cli_agree(inputs, monkeypatch):
    root, store, betas = inputs
    _patch(monkeypatch, betas)
    settings = VisionEncodeSettings.from_config(SETTINGS)
    py = encode_images(
        settings,
        activations={"planted": store},
        dataset=root,
        subject="01",
        output=root / "py" / "sub-01.nc",
    )
    write_settings(settings, root / "settings.json")
    status = main(
        [
            "vision-encode",
            "--settings",
            str(root / "settings.json"),
            "--activations",
            f"planted={store}",
            "--dataset",
            str(root),
            "--subject",
            "01",
            "--output",
            str(root / "cli" / "sub-01.nc"),
        ]
    )
    assert status == 0
    a, b = load_netcdf(py), load_netcdf(root / "cli" / "sub-01.nc")
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert json.loads(a.attrs["config"]) == json.loads(b.attrs["config"])
    # The planted layer of each ROI wins, with its significant voxels inside the ROI.
    assert a["model_best_layer"].sel(model="planted").values.tolist() == ["0", "2"]
    assert a.attrs["simulated"] == "true"
    img = nib.load(root / "py" / "sub-01_maps" / "best_normalized.nii.gz")
    assert img.shape == (8, 8, 8)
    assert np.allclose(
        np.asarray(img.dataobj).ravel()[: betas.n_voxels],
        np.nan_to_num(a["best_normalized"].values),
        atol=1e-6,
    )


def test_missing_images_are_named(inputs, monkeypatch, tmp_path):
    root, store, betas = inputs
    keep = betas.image_ids != "img0003"
    _patch(monkeypatch, betas)
    ds = xr.open_zarr(store, consolidated=False).load()
    ids = ds["image_id"].values.astype(object)
    ds = ds.assign_coords(image_id=("item", ids)).isel(item=np.flatnonzero(ids != "img0003"))
    small = tmp_path / "small.zarr"
    ds.attrs["complete"] = "true"
    ds.to_zarr(small, consolidated=False)
    assert keep.sum() < keep.size
    with pytest.raises(Exception, match=r"1 of 200 images have no activations.*img0003"):
        encode_images(
            VisionEncodeSettings.from_config(SETTINGS),
            activations={"planted": small},
            dataset=root,
            subject="01",
            output=tmp_path / "x.nc",
        )


def test_constant_voxels_get_no_score_and_do_not_count_in_fdr():
    from neuroalign.encoding.stats import bh_qvalues
    from neuroalign.vision.encode import fit_images

    sim = simulate(seed=5, n_train=120, n_test=40)
    Y = sim.Y.copy()
    Y[:, 7] = 2.0  # a voxel constant over every image
    train, test = sim.train, sim.test
    X = sim.features["planted"]["0"]
    fit = fit_images(
        X[train],
        Y[train],
        X[test],
        Y[test],
        sim.ceiling,
        alphas=np.array([1.0, 10.0, 100.0]),
        folds=[(np.arange(60), np.arange(60, 120)), (np.arange(60, 120), np.arange(60))],
        rng=np.random.default_rng(0),
        n_perm=50,
    )
    assert np.isnan(fit.r[7]) and np.isnan(fit.p[7]) and np.isnan(fit.q[7])
    assert np.isnan(fit.r2[7])
    others = np.delete(np.arange(Y.shape[1]), 7)
    np.testing.assert_allclose(fit.q[others], bh_qvalues(fit.p[others]))


def test_without_repeats_the_scores_stand_and_the_ceiling_is_nan(inputs, monkeypatch, caplog):
    import logging

    root, store, betas = inputs
    once = betas.repeat == 0
    single = vision_data.VisionBetas(
        betas=betas.betas[once],
        image_ids=betas.image_ids[once],
        repeat=betas.repeat[once],
        session=betas.session[once],
        split=betas.split[once],
        rois=betas.rois,
        mask=betas.mask,
        dataset="sim_vision",
        subject="01",
    )
    _patch(monkeypatch, single)
    settings = VisionEncodeSettings.from_config({**SETTINGS, "p_method": "empirical"})
    with caplog.at_level(logging.WARNING, logger="neuroalign.vision.encode"):
        out = encode_images(
            settings,
            activations={"planted": store},
            dataset=root,
            subject="01",
            output=root / "once" / "sub-01.nc",
        )
    assert "no image was shown twice" in caplog.text
    ds = load_netcdf(out)
    assert np.isnan(ds["normalized"].values).all()
    assert np.isfinite(ds["r"].values).all() and np.nanmin(ds["p"].values) >= 1 / 101
    assert "(1 + #null >= r)" in ds.attrs["null"]
