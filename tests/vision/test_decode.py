"""Decoding planted embeddings from simulated voxels (X = E W + noise)."""

import numpy as np
import pytest

from neuroalign.results import load_netcdf
from neuroalign.vision.decode import (
    DecodeSettings,
    decode_arrays,
    rescale_norms,
    zscore_train,
)


def _planted(seed=0, n_train=400, n_test=100, d=32, n_voxels=500, noise=2.0):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((n_train + n_test, d))
    W = rng.standard_normal((d, n_voxels)) / np.sqrt(d)
    X = E @ W + noise * rng.standard_normal((n_train + n_test, n_voxels))
    # voxels with their own offsets and scales: the z-scoring must undo them
    X = 5.0 + X * rng.uniform(0.5, 3.0, n_voxels)
    return X, E, np.arange(n_train), np.arange(n_train, n_train + n_test)


def test_planted_embeddings_are_decoded():
    X, E, train, test = _planted()
    fit = decode_arrays(X, E, train, test, n_bootstrap=200, n_subsets=5)
    two_way = fit.scores["two_way"]
    assert two_way["value"] > 0.9
    assert two_way["low"] <= two_way["value"] <= two_way["high"]
    assert two_way["chance"] == 0.5
    assert fit.subset_size == 100  # min(300, n_test)
    assert fit.scores["retrieval_forward"]["value"] > 0.5
    assert fit.scores["retrieval_forward"]["chance"] == pytest.approx(0.01)
    # rescaled to the mean training-embedding norm
    norms = np.linalg.norm(fit.pred, axis=1)
    assert np.allclose(norms, np.linalg.norm(E[train], axis=1).mean())
    assert fit.alpha.shape == (32,)


def test_shuffled_training_rows_decode_at_chance():
    X, E, train, test = _planted(seed=1)
    Xs = X.copy()
    Xs[train] = X[np.random.default_rng(2).permutation(train)]
    fit = decode_arrays(Xs, E, train, test, n_bootstrap=0, n_subsets=5)
    assert fit.scores["two_way"]["value"] == pytest.approx(0.5, abs=0.05)
    assert fit.scores["retrieval_forward"]["value"] < 0.1


def test_zscore_uses_training_statistics_only():
    rng = np.random.default_rng(3)
    X = rng.normal(3.0, 2.0, (50, 4))
    X[40:] += 100.0  # test rows far away: they must not move the training statistics
    Z = zscore_train(X, np.arange(40))
    assert np.allclose(Z[:40].mean(axis=0), 0.0) and np.allclose(Z[:40].std(axis=0), 1.0)
    assert Z[40:].mean() > 10


def test_rescale_norms():
    out = rescale_norms(np.ones((3, 4)) * [[1], [2], [3]], np.full((5, 4), 0.5))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_settings_defaults_from_the_schema():
    s = DecodeSettings.from_config({"dataset": "sim_vision", "model": "tiny_clip"})
    assert s.unit == "embeds" and s.subset_size == 300 and s.n_subsets == 30
    assert s.grid[0] == 10.0 and s.grid[-1] == 1e6
    assert s.stimulus_set == "sim_vision"


def test_decode_stage_writes_scores_with_provenance(tmp_path, monkeypatch):
    import xarray as xr

    import neuroalign.data.vision as data_vision
    from neuroalign.data.vision import VisionBetas
    from neuroalign.results import mark_complete
    from neuroalign.vision.decode import decode, describe

    X, E, train, test = _planted(seed=4, n_train=200, n_test=40, n_voxels=200, noise=1.0)
    ids = np.array([f"img{i:03d}" for i in range(len(E))])
    # test images shown twice (noise halves when averaged), training images once
    rows = np.concatenate([train, test, test])
    rng = np.random.default_rng(5)
    trials = X[rows] + 0.5 * rng.standard_normal((len(rows), X.shape[1]))
    split = np.where(np.isin(rows, test), "test", "train")
    repeat = np.concatenate([np.zeros(len(train) + len(test)), np.ones(len(test))]).astype(int)
    betas = VisionBetas(
        betas=trials,
        image_ids=ids[rows],
        repeat=repeat,
        session=np.ones(len(rows), int),
        split=split,
        dataset="sim_vision",
        subject="01",
    )
    monkeypatch.setattr(data_vision, "read_vision_betas", lambda *a, **k: betas)
    store = tmp_path / "tiny.zarr"
    order = rng.permutation(len(E))  # items in another order than the betas
    xr.Dataset(
        {"embeds": (("item", "unit"), E[order].astype(np.float32))},
        coords={"image_id": ("item", ids[order])},
    ).to_zarr(store, consolidated=False)
    mark_complete(store)
    settings = DecodeSettings.from_config(
        {
            "dataset": "sim_vision",
            "model": "tiny",
            "n_bootstrap": 100,
            "n_subsets": 3,
            "device": "cpu",
        }
    )
    out = decode(
        settings, embeddings=store, dataset=tmp_path, subject="01", output=tmp_path / "decode.nc"
    )
    ds = load_netcdf(out)
    assert ds["pred"].shape == (40, 32) and list(ds["image_test"].values) == list(ids[test])
    assert np.allclose(ds["true"].values, E[test], atol=1e-5)
    assert float(ds["score"].sel(metric="two_way")) > 0.9
    assert ds.attrs["stage"] == "vision_decode" and ds.attrs["simulated"] == "true"
    assert "two_way:" in describe(out)
