"""MindEye's image metrics: identities, equality with scikit-image, directions."""

import numpy as np
import pytest
import torch

from neuroalign.vision.metrics import (
    FeatureMetric,
    Preprocess,
    evaluate,
    pixcorr,
    pixcorr_scores,
    resize,
    ssim,
    ssim_scores,
)


def _images(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 8, 8, generator=g)
    return resize(base, size).clamp(0, 1)  # smooth images, like photographs more than noise


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4)
    )


def _feature_metrics():
    pre = Preprocess(24)
    return {
        "alexnet2": FeatureMetric(_tiny_net(0), pre, "two_way"),
        "effnet": FeatureMetric(_tiny_net(1), pre, "distance"),
    }


def test_identity_gives_one():
    x = _images()
    assert pixcorr(x, x, size=32) == pytest.approx(1.0)
    assert ssim(x, x, size=32) == pytest.approx(1.0)
    scores = evaluate(
        x, x, feature_metrics=_feature_metrics(), metrics=["alexnet2", "effnet"], n_bootstrap=50
    )
    assert scores["alexnet2"].value == 1.0 and scores["alexnet2"].chance == 0.5
    assert scores["effnet"].value == pytest.approx(0.0, abs=1e-9)
    assert not scores["effnet"].higher_is_better and scores["alexnet2"].higher_is_better


def test_ssim_equals_scikit_image_at_425():
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    x, y = _images(2, 64, seed=1), _images(2, 64, seed=2)
    ours = ssim_scores(x, y)  # MindEye's 425 resize
    a = resize(x, 425).permute(0, 2, 3, 1).double().numpy()
    b = resize(y, 425).permute(0, 2, 3, 1).double().numpy()
    ref = [
        structural_similarity(
            rgb2gray(p),
            rgb2gray(q),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        for p, q in zip(a, b, strict=True)
    ]
    assert np.allclose(ours, ref, atol=1e-12)


def test_pixcorr_is_pearson_of_flattened_images():
    x, y = _images(3, 32, seed=3), _images(3, 32, seed=4)
    ref = [
        np.corrcoef(p.ravel(), q.ravel())[0, 1] for p, q in zip(x.numpy(), y.numpy(), strict=True)
    ]
    assert np.allclose(pixcorr_scores(x, y, size=32), ref, atol=1e-6)


def test_resize_matches_425_shape_and_range():
    out = resize(_images(1, 32), 425)
    assert out.shape == (1, 3, 425, 425)


def test_metric_directions():
    x = _images(8, 32, seed=5)
    g = torch.Generator().manual_seed(6)
    fms = _feature_metrics()
    values = []
    for noise in (0.05, 0.3, 1.0):
        recon = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
        s = evaluate(
            x,
            recon,
            feature_metrics=fms,
            metrics=["pixcorr", "ssim", "effnet"],
            n_bootstrap=0,
            low_level_size=32,
        )
        values.append([s["pixcorr"].value, s["ssim"].value, s["effnet"].value])
    values = np.array(values)
    assert np.all(np.diff(values[:, 0]) < 0) and np.all(np.diff(values[:, 1]) < 0)
    assert np.all(np.diff(values[:, 2]) > 0)


def test_two_way_of_unrelated_reconstructions_is_near_chance():
    x, y = _images(40, 24, seed=7), _images(40, 24, seed=8)
    s = evaluate(x, y, feature_metrics=_feature_metrics(), metrics=["alexnet2"], n_bootstrap=200)
    assert s["alexnet2"].value == pytest.approx(0.5, abs=0.12)
    assert s["alexnet2"].low < s["alexnet2"].value < s["alexnet2"].high


def test_missing_feature_network_is_refused():
    from neuroalign._check import NeuroalignError

    x = _images(2, 16)
    with pytest.raises(NeuroalignError, match="feature network"):
        evaluate(x, x, metrics=["clip"], n_bootstrap=0)


def _torchvision_ok():
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _torchvision_ok(), reason="torchvision matching torch not installed")
def test_random_torchvision_networks_identify_identical_images():
    from neuroalign.vision.metrics import build_feature_metrics

    fms = build_feature_metrics("random", metrics=["alexnet2", "alexnet5", "swav"])
    x = _images(3, 64)
    s = evaluate(x, x, feature_metrics=fms, metrics=list(fms), n_bootstrap=0)
    assert s["alexnet2"].value == 1.0 and s["alexnet5"].value == 1.0
    assert s["swav"].value == pytest.approx(0.0, abs=1e-6)


def test_random_clip_tower_identifies_identical_images():
    from neuroalign.vision.metrics import build_feature_metrics

    fms = build_feature_metrics("random", metrics=["clip"])
    assert fms["clip"].preprocess.size == 224
    x, y = _images(4, 32, seed=9), _images(4, 32, seed=10)
    s = evaluate(x, x, feature_metrics=fms, metrics=["clip"], n_bootstrap=0)
    assert s["clip"].value == 1.0
    assert (
        0.0
        <= evaluate(x, y, feature_metrics=fms, metrics=["clip"], n_bootstrap=0)["clip"].value
        <= 1.0
    )
