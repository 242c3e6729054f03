"""What the image metrics accept: uint8, channels-last and grayscale arrays, [0, 1] floats only;
MindEye's resize; files with transparency; warnings where a number is not MindEye's."""

import logging
import types

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neuroalign._check import NeuroalignError
from neuroalign.vision import metrics
from neuroalign.vision.evaluate import load_images, read_recons
from neuroalign.vision.metrics import evaluate, pixcorr_scores, resize, ssim_scores
from neuroalign.vision.retrieval import retrieval


def _uint8(n=4, size=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def test_uint8_images_are_divided_by_255():
    x, y = _uint8(seed=0), _uint8(seed=1)
    fx, fy = x.astype(np.float32) / 255, y.astype(np.float32) / 255
    np.testing.assert_allclose(ssim_scores(x, y, 32), ssim_scores(fx, fy, 32), atol=1e-6)
    np.testing.assert_allclose(pixcorr_scores(x, y, 32), pixcorr_scores(fx, fy, 32), atol=1e-6)
    assert float(resize(x, 40).max()) <= 1.0


def test_channels_last_and_grayscale_arrays():
    x = _uint8()
    last = x.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(resize(last, 40).numpy(), resize(x, 40).numpy())
    gray = x[:, 0]
    got = resize(gray, 40).numpy()
    assert got.shape == (4, 3, 40, 40)
    np.testing.assert_array_equal(got[:, 0], got[:, 2])
    np.testing.assert_allclose(got[:, 1], gray / 255, atol=1e-7)


def test_grayscale_with_a_channel_axis_and_ambiguous_single_images():
    x = _uint8()
    gray = x[:, 0]
    expected = resize(gray, 40).numpy()
    np.testing.assert_array_equal(resize(gray[:, None], 40).numpy(), expected)
    np.testing.assert_array_equal(resize(gray[..., None], 40).numpy(), expected)
    # One RGB image without its batch axis reads as three grayscale ones too: refused.
    for one in (x[0], x[0].transpose(1, 2, 0)):
        with pytest.raises(NeuroalignError, match=r"ambiguous.*\(1, 3, height, width\)"):
            resize(one, 40)
    np.testing.assert_array_equal(resize(x[:1], 40).numpy(), resize(x, 40).numpy()[:1])


def test_floats_outside_the_unit_range_are_refused():
    x = np.linspace(-1, 1, 4 * 3 * 8 * 8, dtype=np.float32).reshape(4, 3, 8, 8)
    with pytest.raises(NeuroalignError, match=r"\(x \+ 1\) / 2"):
        resize(x, 8)
    with pytest.raises(NeuroalignError, match="NaN"):
        resize(np.full((1, 3, 8, 8), np.nan, np.float32), 8)
    # Rounding just past the ends is clamped, not refused.
    nearly = np.full((1, 3, 8, 8), 1.0005, np.float32)
    assert float(resize(nearly, 8).max()) == 1.0


def test_resize_is_not_antialiased_by_default():
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    plain = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=False)
    smooth = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=True)
    np.testing.assert_array_equal(resize(x, 16).numpy(), plain.numpy())
    np.testing.assert_array_equal(resize(x, 16, antialias=True).numpy(), smooth.numpy())
    assert float((plain - smooth).abs().max()) > 0.05


def test_load_images_resizes_each_file_as_a_tensor(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((48, 48), (20, 30))]
    paths = []
    for k, a in enumerate(arrays):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(a).save(paths[-1])
    got = load_images(paths, 24)
    for k, a in enumerate(arrays):
        np.testing.assert_allclose(got[k], resize(a[None], 24)[0].numpy(), atol=1e-6)


def test_transparent_pixels_load_as_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, opaque on the left half only
    rgba[:, :4, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got = load_images([tmp_path / "a.png"], 8)[0]
    np.testing.assert_allclose(got[:, :, :4], [[[1.0]], [[0.0]], [[0.0]]] * np.ones((3, 8, 4)))
    np.testing.assert_allclose(got[:, :, 4:], 1.0)


def test_two_chosen_samples_of_one_image_are_refused(tmp_path):
    rows = [
        {"image_id": "a", "sample": 0, "path": "a0.png", "chosen": True},
        {"image_id": "a", "sample": 1, "path": "a1.png", "chosen": True},
        {"image_id": "b", "sample": 0, "path": "b0.png", "chosen": True},
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "recons.parquet")
    with pytest.raises(NeuroalignError, match=r"chosen.*image 'a'"):
        read_recons(tmp_path)


def test_scores_left_undefined_are_counted_in_a_warning(caplog):
    truth = np.random.default_rng(0).random((3, 3, 16, 16)).astype(np.float32)
    recon = truth.copy()
    recon[1] = 0.5  # a constant image has no pixel correlation
    with caplog.at_level(logging.WARNING, logger="neuroalign.vision.metrics"):
        score = evaluate(truth, recon, metrics=["pixcorr"], n_bootstrap=0, low_level_size=16)
    assert np.isnan(score["pixcorr"].per_image[1]) and score["pixcorr"].value == pytest.approx(1)
    assert "1 of 3 images have no score" in caplog.text


def test_retrieval_among_fewer_than_300_items_warns(caplog):
    x = np.random.default_rng(0).standard_normal((20, 8))
    with caplog.at_level(logging.WARNING, logger="neuroalign.vision.retrieval"):
        retrieval(x, x, n_subsets=2)
    assert "among 20 items, not 300" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="neuroalign.vision.retrieval"):
        retrieval(x, x, subset_size=20, n_subsets=2)
    assert caplog.text == ""


def test_pretrained_effnet_takes_mindeyes_default_weights(monkeypatch):
    asked = {}

    class Net(torch.nn.Module):
        def __init__(self, weights=None, **kwargs):
            super().__init__()
            asked["weights"] = weights
            self.avgpool = torch.nn.AdaptiveAvgPool2d(1)

    fake = types.SimpleNamespace(efficientnet_b1=Net)
    monkeypatch.setattr(metrics, "_torchvision_models", lambda: fake)
    metrics.build_feature_metrics("pretrained", metrics=["effnet"])
    # torchvision's EfficientNet_B1_Weights.DEFAULT, which MindEye's evaluation loads.
    assert asked["weights"] == "IMAGENET1K_V2"
