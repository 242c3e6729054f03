"""The simulated image-viewing dataset: images, planted ROIs and SNR recovered, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image
from scipy import stats

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import (
    SimVisionSettings,
    simulate,
    simulate_vision,
    simulate_vision_images,
)
from neuroalign.data.simulate.vision import PLANTED_DIR, PROPERTIES
from neuroalign.data.vision import noise_ceiling, read_image_table, read_vision_betas
from neuroalign.results import load_netcdf

SETTINGS = {"seed": 3, "n_train": 100, "n_test": 30, "image_size": 32}


def _write(root, **extra):
    cfg = SimVisionSettings.from_config({**SETTINGS, **extra})
    simulate_vision_images(root, cfg)
    return simulate_vision(root, cfg)


@pytest.fixture(scope="module")
def sim_vision(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("vision") / "sim_vision")


def test_images_and_table(sim_vision):
    table = read_image_table(sim_vision)
    assert len(table) == 130 and (table["split"] == "test").sum() == 30
    assert set(table.columns) >= {"image_id", "image", "shape", "colour", "texture", "caption"}
    row = table.iloc[0]
    assert row["caption"].split()[-1] == row["shape"] and row["colour"] in row["caption"]
    for colour, channel in (("red", 0), ("green", 1), ("blue", 2)):
        rows = table[(table["colour"] == colour) & (table["texture"] == "plain")]
        pixels = np.asarray(Image.open(sim_vision / rows["image"].iloc[0])).reshape(-1, 3)
        shape_pixels = pixels[np.abs(pixels.astype(int) - 128).max(axis=1) > 40]
        assert shape_pixels.mean(axis=0).argmax() == channel
    counts = table.groupby("shape").size()
    assert counts.max() - counts.min() <= 8  # balanced properties


def test_planted_rois_recovered(sim_vision):
    betas = read_vision_betas(sim_vision, "01").average_repeats()
    truth = load_netcdf(sim_vision / PLANTED_DIR / "truth.nc")
    table = read_image_table(sim_vision).set_index("image_id").loc[betas.image_ids]
    for k, name in enumerate(PROPERTIES):
        groups = [betas.betas[(table[name] == v).to_numpy()] for v in PROPERTIES[name]]
        f = stats.f_oneway(*groups).statistic
        member = truth["roi"].values == k
        np.testing.assert_array_equal(betas.rois[name], member)
        top = np.argsort(f)[::-1][: member.sum()]
        assert member[top].mean() > 0.8, name
        # the preferred value is the one with the largest mean response
        pref = truth["preferred"].values[0, member]
        means = np.stack([g[:, member].mean(axis=0) for g in groups])
        assert (means.argmax(axis=0) == pref).mean() > 0.85, name


def test_noise_ceiling_matches_planted(sim_vision):
    betas = read_vision_betas(sim_vision, "01")
    truth = load_netcdf(sim_vision / PLANTED_DIR / "truth.nc")
    nc = noise_ceiling(betas)
    planted = truth["noise_ceiling"].values[0]
    visual = truth["visual"].values == 1
    assert np.corrcoef(nc, planted)[0, 1] > 0.9
    assert abs(nc[visual].mean() - planted[visual].mean()) < 5
    assert nc[~visual].mean() < 15  # noise voxels: near zero (clipped estimates bias it up)


def test_same_seed_identical_other_seed_differs(sim_vision, tmp_path):
    again = _write(tmp_path / "a")
    a = read_vision_betas(again, "01", zscore_sessions=False)
    b = read_vision_betas(sim_vision, "01", zscore_sessions=False)
    np.testing.assert_array_equal(a.betas, b.betas)
    np.testing.assert_array_equal(a.image_ids, b.image_ids)
    first = read_image_table(sim_vision)["image"].iloc[0]
    assert (again / first).read_bytes() == (sim_vision / first).read_bytes()
    other = read_vision_betas(_write(tmp_path / "b", seed=4), "01", zscore_sessions=False)
    assert not np.allclose(other.betas, a.betas)


def test_features_drive_the_embedding(tmp_path):
    root = tmp_path / "sim_vision"
    cfg = SimVisionSettings.from_config(
        {**SETTINGS, "n_train": 20, "n_test": 4, "feature_dim": 3,
         "features": {"model": "m", "layer": -1}}
    )  # fmt: skip
    simulate_vision_images(root, cfg)
    ids = read_image_table(root)["image_id"].to_numpy()
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((len(ids), 2, 5))
    store = xr.Dataset(
        {"resid": (("item", "layer", "resid_unit"), acts)},
        coords={
            "item": np.arange(len(ids)),
            "layer": [0, 1],
            "image_id": ("item", ids.astype(np.dtypes.StringDType())),  # as extract writes it
        },
        attrs={"complete": "true"},
    )
    path = tmp_path / "acts.zarr"
    store.to_zarr(path, consolidated=False)
    with pytest.raises(NeuroalignError, match=r"sim_vision\.zarr"):
        simulate(cfg, output=root)
    simulate(cfg, output=root, features=path)
    truth = load_netcdf(root / PLANTED_DIR / "truth.nc")
    emb = truth["embedding"].values
    centred = acts[:, 1] - acts[:, 1].mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:3].T
    for j in range(3):
        assert abs(np.corrcoef(emb[:, j], pcs[:, j])[0, 1]) > 0.999
    assert truth.attrs["embedding_source"] == str(path)


def test_betas_need_the_images(tmp_path):
    with pytest.raises(NeuroalignError, match=r"images\.tsv: not found"):
        simulate_vision(tmp_path, SimVisionSettings.from_config(SETTINGS))
    simulate_vision_images(tmp_path, SimVisionSettings.from_config(SETTINGS))
    table = pd.read_csv(tmp_path / "images.tsv", sep="\t")
    table.iloc[:3].to_csv(tmp_path / "images.tsv", sep="\t", index=False)
    with pytest.raises(NeuroalignError, match=r"images\.tsv: field 'image_id'"):
        simulate_vision(tmp_path, SimVisionSettings.from_config(SETTINGS))


def test_settings_refuse_bad_values():
    with pytest.raises(NeuroalignError, match="test_repeats"):
        SimVisionSettings.from_config({"test_repeats": 1})


def test_command_line_two_steps(tmp_path, capsys):
    import json

    from neuroalign.cli import main

    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({**SETTINGS, "n_train": 10, "n_test": 4}))
    out = tmp_path / "sim_vision"
    args = ["--settings", str(settings), "--output", str(out)]
    assert main(["simulate", "vision-images", *args]) == 0
    assert (out / "images.tsv").is_file() and not (out / "betas_vol").exists()
    assert main(["simulate", "vision", *args]) == 0
    assert (out / PLANTED_DIR / "truth.nc").is_file()
    assert "derivatives/planted" in capsys.readouterr().out
    assert read_vision_betas(out, "01").n_trials == 10 * 2 + 4 * 3


def test_config_needs_the_features_extracted():
    from neuroalign.config import validate_config

    config = {
        "models": {"m": {"source": "hf:x/y"}},
        "simulate": {"vision": {"features": {"model": "m", "layer": -1}}},
    }
    with pytest.raises(
        NeuroalignError, match=r"simulate\.vision\.features\.model.*extract\.sim_vision"
    ):
        validate_config(config, source="c.yaml")
    config["stimuli"] = {"sim_vision": {"dataset": "sim_vision", "reader": "images"}}
    config["extract"] = {"sim_vision": {"models": ["m"]}}
    assert validate_config(config, source="c.yaml")["simulate"]["vision"]["n_test"] == 30
