"""The guiding encoder: features equal the extraction's, planted voxels are recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neuroalign.diffusion.encoder import (
    ImagePrep,
    fit_encoder,
    fit_encoder_arrays,
    load_encoder,
)
from neuroalign.diffusion.settings import DiffusionEncoderSettings
from neuroalign.models.random_init import init_model
from neuroalign.models.stage import ExtractSettings, extract
from neuroalign.results import open_activations

vision_data = pytest.importorskip("neuroalign.data.vision")

N_IMAGES, N_TEST = 60, 12


def _images(rng: np.random.Generator, n: int, size: int = 64) -> np.ndarray:
    """Smooth random RGB images (uint8), so the features vary with colour and layout."""
    low = rng.uniform(0, 255, (n, 4, 4, 3))
    big = np.kron(low, np.ones((1, size // 4, size // 4, 1)))
    return np.clip(big + rng.normal(0, 20, big.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny CLIP tower, 60 PNG images and their extracted activations (resid and embeds)."""
    root = tmp_path_factory.mktemp("enc")
    tower = init_model("clip-vision-tiny", root / "tiny_clip", seed=3)
    images = _images(np.random.default_rng(0), N_IMAGES)
    (root / "img").mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(root / "img" / f"im{i:03d}.png")
    table = pd.DataFrame(
        {
            "image": [f"img/im{i:03d}.png" for i in range(N_IMAGES)],
            "image_id": [f"im{i:03d}" for i in range(N_IMAGES)],
        }
    )
    table.to_parquet(root / "stim.parquet")
    settings = ExtractSettings.from_config(
        {
            "model": {
                "source": f"path:{tower}",
                "tower": "vision",
                "units": ["resid", "embeds"],
                "device": "cpu",
                "dtype": "float32",
            },
            "pooling": "mean",
        }
    )
    out = extract(settings, stimuli=root / "stim.parquet", output=root / "acts.zarr")
    return root, out, images


def _betas(Y: np.ndarray, rois: dict) -> object:
    n_img, n_vox = Y.shape
    ids = np.array([f"im{i:03d}" for i in range(n_img)])
    test = np.arange(n_img) >= n_img - N_TEST
    rng = np.random.default_rng(1)
    reps = np.stack([Y + 0.05 * rng.standard_normal(Y.shape) for _ in range(2)])
    return vision_data.VisionBetas(
        betas=reps.reshape(2 * n_img, n_vox),
        image_ids=np.tile(ids, 2),
        repeat=np.repeat(np.arange(2), n_img),
        session=np.repeat([1, 2], n_img),
        split=np.tile(np.where(test, "test", "train"), 2),
        rois=rois,
        dataset="sim_vision",
        subject="01",
    )


@pytest.mark.parametrize(("units", "layer"), [("resid", -1), ("resid", 1), ("embeds", -1)])
def test_module_features_equal_the_store(store, units, layer, monkeypatch, tmp_path):
    root, acts, images = store
    ds = open_activations(acts)
    da = ds[units]
    X = (da.isel(layer=layer) if "layer" in da.dims else da).transpose("item", ...).values
    ds.close()
    # Planted voxels: a linear map of the features (so the fit is near exact).
    rng = np.random.default_rng(2)
    W = rng.standard_normal((X.shape[1], 20))
    Y = (X - X.mean(0)) / X.std(0) @ W / np.sqrt(X.shape[1])
    rois = {"A": np.arange(20) < 10, "B": np.arange(20) >= 10}
    monkeypatch.setattr(vision_data, "read_vision_betas", lambda *a, **k: _betas(Y, rois))
    settings = DiffusionEncoderSettings.from_config(
        {
            "dataset": "sim_vision",
            "model": "tiny_clip",
            "units": units,
            "layer": layer,
            "alphas": [1e-3, 1e-2, 0.1, 1, 10],
            "device": "cpu",
        }
    )
    path = fit_encoder(
        settings, activations=acts, dataset=root, subject="01", output=tmp_path / "e.nc"
    )
    encoder = load_encoder(path)
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    with torch.no_grad():
        feats = encoder.features(x).numpy()
        pred = encoder(x).numpy()
    np.testing.assert_allclose(feats, X, atol=1e-4, rtol=1e-4)
    assert set(encoder.rois) == {"A", "B"} and encoder.rois["A"].dtype == torch.bool
    assert encoder.name == "tiny_clip"
    # The planted voxels come back on the held-out images.
    import xarray as xr

    r = xr.load_dataset(path)["r"].values
    assert np.median(r) > 0.9
    test = slice(N_IMAGES - N_TEST, None)
    assert np.corrcoef(pred[test].ravel(), Y[test].ravel())[0, 1] > 0.9


def test_module_is_differentiable(store, monkeypatch, tmp_path):
    root, acts, _ = store
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((N_IMAGES, 5))
    monkeypatch.setattr(
        vision_data, "read_vision_betas", lambda *a, **k: _betas(Y, {"A": np.ones(5, bool)})
    )
    settings = DiffusionEncoderSettings.from_config(
        {"dataset": "sim_vision", "model": "tiny_clip", "device": "cpu", "alphas": [1.0]}
    )
    path = fit_encoder(
        settings, activations=acts, dataset=root, subject="01", output=tmp_path / "e.nc"
    )
    encoder = load_encoder(path)
    # Another size: resized in torch, still differentiable.
    x = torch.rand(2, 3, 48, 48, requires_grad=True)
    encoder(x)[:, encoder.rois["A"]].mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_fit_arrays_recovers_planted_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)) * 3 + 1
    W = rng.standard_normal((8, 30))
    Y = X @ W + 0.1 * rng.standard_normal((300, 30))
    fit = fit_encoder_arrays(
        X[:240], Y[:240], X[240:], Y[240:], alphas=[1e-3, 1, 1e3], rng=rng, device="cpu"
    )
    assert fit.r.min() > 0.99
    np.testing.assert_allclose(fit.weight / fit.scale[:, None], W, atol=0.05)


def test_prep_matches_the_processor_on_other_sizes():
    from transformers import CLIPImageProcessor

    proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    prep = ImagePrep.from_processor(proc)
    img = _images(np.random.default_rng(5), 1, size=64)[0]
    ref = proc(images=[img], return_tensors="pt")["pixel_values"]
    ours = prep(torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255))
    assert ours.shape == ref.shape
    # PIL's bicubic and torch's antialiased bicubic differ slightly; the layout is the same.
    assert torch.corrcoef(torch.stack([ours.ravel(), ref.ravel()]))[0, 1] > 0.99
