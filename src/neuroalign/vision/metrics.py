"""Image reconstruction metrics, as MindEye's ``final_evaluations.ipynb`` defines them.

Images are float tensors of shape (n, 3, H, W) in [0, 1] (uint8 arrays are divided by 255;
channels-last and grayscale arrays are taken as well); both sets are first resized to a common
square size (MindEye: 256). Every resize is bilinear without antialiasing, as torchvision's
``Resize`` did on tensors in the versions MindEye's evaluation pins (0.15, 0.16; the default
became antialiased in 0.17): a shrunk image (a 512-pixel reconstruction at 256) gets the same
numbers as there.

- ``pixcorr``: Resize(425), flatten, Pearson r per image, mean (higher is better).
- ``ssim``: Resize(425), ``rgb2gray``, scikit-image SSIM (gaussian_weights, sigma 1.5,
  use_sample_covariance=False, data_range 1) per image, mean (higher).
- ``alexnet2`` / ``alexnet5``: AlexNet ``features.4`` / ``features.11``; Resize(256) +
  ImageNet norm; 2-way identification (higher).
- ``inception``: InceptionV3 ``avgpool``; Resize(342) + ImageNet norm; 2-way (higher).
- ``clip``: CLIP ViT-L/14 image embedding; Resize(224) + CLIP norm; 2-way (higher).
- ``effnet``: EfficientNet-B1 ``avgpool``; Resize(255) + ImageNet norm; mean correlation
  distance (lower is better).
- ``swav``: SwAV ResNet-50 ``avgpool``; Resize(224) + ImageNet norm; mean correlation
  distance (lower).

2-way identification is `neuroalign.vision.retrieval.two_way_scores` on the flattened features
(chance 0.5). Feature networks are injected: a `FeatureMetric` pairs a callable (an
``nn.Module`` or any function of a preprocessed batch) with its `Preprocess`;
`build_feature_metrics` makes MindEye's set from torchvision (and transformers for CLIP), with
random weights (``"random"``: offline tests and demos; numbers then mean nothing about
perception) or pretrained ones (``"pretrained"``: the weights must already be in the local
caches). Every metric has a percentile-bootstrap interval over images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuroalign._check import NeuroalignError
from neuroalign.vision.retrieval import bootstrap_ci, two_way_scores

logger = logging.getLogger(__name__)

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "FEATURE_METRICS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "METRICS",
    "FeatureMetric",
    "MetricScore",
    "Preprocess",
    "build_feature_metrics",
    "correlation_distances",
    "evaluate",
    "feature_scores",
    "pixcorr",
    "pixcorr_scores",
    "resize",
    "ssim",
    "ssim_scores",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: All metric names, in MindEye's table order.
METRICS = ("pixcorr", "ssim", "alexnet2", "alexnet5", "inception", "clip", "effnet", "swav")
#: The feature-network metrics and how each is scored.
FEATURE_METRICS = {
    "alexnet2": "two_way",
    "alexnet5": "two_way",
    "inception": "two_way",
    "clip": "two_way",
    "effnet": "distance",
    "swav": "distance",
}
#: Whether a larger value is better, per metric.
HIGHER_IS_BETTER = {m: FEATURE_METRICS.get(m, "two_way") != "distance" for m in METRICS}
#: The low-level metrics' resize (MindEye: 425).
LOW_LEVEL_SIZE = 425


#: How far float images may stray outside [0, 1] (rounding) before they are refused.
RANGE_TOLERANCE = 1e-3


def _images(x) -> torch.Tensor:
    """Images as float32 (n, 3, H, W) in [0, 1], from float or uint8 arrays of shape
    (n, 3, H, W), (n, H, W, 3), or grayscale (n, H, W), (n, 1, H, W), (n, H, W, 1).

    A 3-d array with 3 on its first or last axis is refused: it reads as a single RGB image as
    well as three grayscale ones.
    """
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if x.ndim == 3 and 3 in (x.shape[0], x.shape[-1]):
        raise NeuroalignError(
            f"images of shape {tuple(x.shape)} are ambiguous (one RGB image or three grayscale "
            "ones); pass a batch: (1, 3, height, width) for one image, (3, height, width, 1) "
            "for three grayscale ones."
        )
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.ndim != 4 or x.shape[1] != 3:
        raise NeuroalignError(
            f"images must be (n, 3, height, width) in [0, 1] (or uint8, channels-last, "
            f"grayscale); got shape {tuple(x.shape)}."
        )
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    x = x.to(torch.float32)
    if bool(torch.isnan(x).any()):
        raise NeuroalignError(
            f"{int(torch.isnan(x).sum())} image values are NaN; metrics take finite [0, 1] images."
        )
    if x.numel() and (x.min() < -RANGE_TOLERANCE or x.max() > 1 + RANGE_TOLERANCE):
        raise NeuroalignError(
            f"image values span [{float(x.min()):.3g}, {float(x.max()):.3g}]; metrics take "
            "[0, 1] (map a decoder's [-1, 1] output with (x + 1) / 2)."
        )
    return x.clamp(0.0, 1.0)


def resize(images, size: int, *, antialias: bool = False) -> torch.Tensor:
    """Bilinear resize to ``size`` x ``size``, as torchvision ``Resize`` on tensors.

    MindEye's images are square, so ``Resize(size)`` (shorter side) is this square resize.
    ``antialias`` is off, as ``Resize`` was on tensors in the torchvision versions MindEye's
    evaluation pins; turn it on for torchvision 0.17's default.
    """
    images = _images(images)
    if images.shape[-2:] == (size, size):
        return images
    return torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias
    )


def _pair(truth, recon) -> tuple[torch.Tensor, torch.Tensor]:
    truth, recon = _images(truth), _images(recon)
    if truth.shape[0] != recon.shape[0]:
        raise NeuroalignError(
            f"{truth.shape[0]} ground-truth images but {recon.shape[0]} reconstructions; pass "
            "one reconstruction per image, in the same order."
        )
    return truth, recon


def pixcorr_scores(truth, recon, size: int = LOW_LEVEL_SIZE) -> np.ndarray:
    """Per-image pixel correlation: Resize(``size``), flatten, Pearson r."""
    truth, recon = _pair(truth, recon)
    a = resize(truth, size).reshape(len(truth), -1).double().numpy()
    b = resize(recon, size).reshape(len(recon), -1).double().numpy()
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / denom


def pixcorr(truth, recon, size: int = LOW_LEVEL_SIZE) -> float:
    """Mean PixCorr (`pixcorr_scores`)."""
    return float(np.nanmean(pixcorr_scores(truth, recon, size)))


def ssim_scores(truth, recon, size: int = LOW_LEVEL_SIZE) -> np.ndarray:
    """Per-image SSIM of the grayscale images, MindEye's scikit-image settings.

    Resize(``size``), ``skimage.color.rgb2gray``, then ``structural_similarity(gt, rec,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)``.
    """
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    truth, recon = _pair(truth, recon)
    a = resize(truth, size).permute(0, 2, 3, 1).double().numpy()
    b = resize(recon, size).permute(0, 2, 3, 1).double().numpy()
    return np.array(
        [
            structural_similarity(
                rgb2gray(x),
                rgb2gray(y),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
            for x, y in zip(a, b, strict=True)
        ]
    )


def ssim(truth, recon, size: int = LOW_LEVEL_SIZE) -> float:
    """Mean SSIM (`ssim_scores`)."""
    return float(np.mean(ssim_scores(truth, recon, size)))


@dataclass(frozen=True)
class Preprocess:
    """How a feature network's input is made from [0, 1] images.

    Attributes
    ----------
    size : int
        Square bilinear resize (`resize`).
    mean, std : tuple of float or None
        Per-channel normalization after the resize (None: none).
    """

    size: int
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD

    def __call__(self, images) -> torch.Tensor:
        x = resize(images, self.size)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
            std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x


#: MindEye's preprocessing per feature metric.
PREPROCESS = {
    "alexnet2": Preprocess(256),
    "alexnet5": Preprocess(256),
    "inception": Preprocess(342),
    "clip": Preprocess(224, CLIP_MEAN, CLIP_STD),
    "effnet": Preprocess(255),
    "swav": Preprocess(224),
}


@dataclass(frozen=True)
class FeatureMetric:
    """A feature network and how its features are compared.

    Attributes
    ----------
    extractor : callable
        Maps a preprocessed batch (n, 3, size, size) to features (n, ...).
    preprocess : Preprocess
    kind : {"two_way", "distance"}
        2-way identification (higher is better) or mean correlation distance (lower).
    """

    extractor: Callable[[torch.Tensor], Any]
    preprocess: Preprocess
    kind: str = "two_way"


def _features(metric: FeatureMetric, images, batch_size: int, device: str) -> np.ndarray:
    out = []
    module = metric.extractor
    if isinstance(module, torch.nn.Module):
        module.eval()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = metric.preprocess(images[start : start + batch_size]).to(device)
            feats = module(x)
            out.append(torch.as_tensor(feats).float().reshape(len(x), -1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def correlation_distances(real, pred) -> np.ndarray:
    """Per-image correlation distance ``1 - r`` (``scipy.spatial.distance.correlation``)."""
    real = np.asarray(real, np.float64).reshape(len(real), -1)
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    a = real - real.mean(axis=1, keepdims=True)
    b = pred - pred.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return 1.0 - r


def feature_scores(
    metric: FeatureMetric, truth, recon, *, batch_size: int = 16, device: str = "cpu"
) -> np.ndarray:
    """Per-image scores of one feature metric: 2-way scores or correlation distances."""
    truth, recon = _pair(truth, recon)
    real = _features(metric, truth, batch_size, device)
    pred = _features(metric, recon, batch_size, device)
    if metric.kind == "two_way":
        return two_way_scores(real, pred)
    if metric.kind == "distance":
        return correlation_distances(real, pred)
    raise NeuroalignError(f"metric kind {metric.kind!r}: use 'two_way' or 'distance'.")


@dataclass(frozen=True)
class MetricScore:
    """One metric over a set of images.

    Attributes
    ----------
    value : float
        MindEye's number (mean over images).
    low, high : float
        Percentile-bootstrap interval over images (NaN without resamples).
    chance : float
        0.5 for 2-way identification; NaN where no chance level is defined.
    higher_is_better : bool
    per_image : ndarray of shape (n_images,)
    """

    value: float
    low: float
    high: float
    chance: float
    higher_is_better: bool
    per_image: np.ndarray


def evaluate(
    truth,
    recon,
    *,
    feature_metrics: Mapping[str, FeatureMetric] | None = None,
    metrics: Sequence[str] = METRICS,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    batch_size: int = 16,
    device: str = "cpu",
    low_level_size: int = LOW_LEVEL_SIZE,
) -> dict[str, MetricScore]:
    """Every requested metric of ``recon`` against ``truth`` (one reconstruction per image).

    Parameters
    ----------
    truth, recon : array-like of shape (n_images, 3, H, W), values in [0, 1]
        Already at the common size (MindEye: 256).
    feature_metrics : mapping of name to FeatureMetric, optional
        The injected networks (`build_feature_metrics`); needed for every feature metric
        asked for.
    metrics : sequence of str
        Names from `METRICS`.
    n_bootstrap, ci_level, seed
        Percentile bootstrap over images.
    batch_size, device
        Forward passes of the feature networks.
    low_level_size : int
        Resize of PixCorr and SSIM (425; smaller only to keep tests fast).

    Returns
    -------
    scores : dict of str to MetricScore
    """
    feature_metrics = dict(feature_metrics or {})
    out = {}
    for k, name in enumerate(metrics):
        if name == "pixcorr":
            per, chance = pixcorr_scores(truth, recon, low_level_size), float("nan")
        elif name == "ssim":
            per, chance = ssim_scores(truth, recon, low_level_size), float("nan")
        elif name in FEATURE_METRICS:
            if name not in feature_metrics:
                raise NeuroalignError(
                    f"metric {name}: no feature network given; pass feature_metrics "
                    "(build_feature_metrics makes MindEye's set)."
                )
            fm = feature_metrics[name]
            per = feature_scores(fm, truth, recon, batch_size=batch_size, device=device)
            chance = 0.5 if fm.kind == "two_way" else float("nan")
        else:
            raise NeuroalignError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}.")
        if n_bootstrap > 0:
            low, high = bootstrap_ci(per, n_boot=n_bootstrap, level=ci_level, seed=seed + k)
        else:
            low = high = float("nan")
        undefined = int(np.isnan(np.asarray(per, float)).sum())
        if undefined:
            logger.warning(
                "%s: %d of %d images have no score (constant pixels or features); the "
                "mean is over the rest",
                name,
                undefined,
                len(per),
            )
        higher = HIGHER_IS_BETTER.get(name, True)
        if name in feature_metrics:
            higher = feature_metrics[name].kind != "distance"
        out[name] = MetricScore(
            float(np.nanmean(per)), low, high, chance, higher, np.asarray(per, float)
        )
    return out


class _Node(torch.nn.Module):
    """A network's output at one named submodule (a forward hook), as a flat batch."""

    def __init__(self, net: torch.nn.Module, node: str):
        super().__init__()
        self.net = net
        self.node = node
        self._module = dict(net.named_modules())[node]

    def forward(self, x):
        store = {}
        handle = self._module.register_forward_hook(lambda m, i, o: store.setdefault("o", o))
        try:
            self.net(x)
        finally:
            handle.remove()
        return store["o"].flatten(1)


class _ClipImage(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(pixel_values=x).image_embeds


def _tiny_clip(seed: int):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=224,
        patch_size=32,
        projection_dim=32,
    )
    return CLIPVisionModelWithProjection(config)


def _torchvision_models():
    try:
        import torchvision.models as tvm
    except Exception as err:  # a torchvision build that does not match torch fails here
        raise NeuroalignError(
            f"the image metrics' feature networks need torchvision built for this torch "
            f"({err}); install the vision-metrics extra."
        ) from err
    return tvm


def build_feature_metrics(
    kind: str = "random",
    *,
    metrics: Sequence[str] = tuple(FEATURE_METRICS),
    seed: int = 0,
    device: str = "cpu",
    clip_source: str = "openai/clip-vit-large-patch14",
) -> dict[str, FeatureMetric]:
    """MindEye's feature networks, with random or pretrained weights.

    Parameters
    ----------
    kind : {"random", "pretrained"}
        ``random``: torchvision's AlexNet, InceptionV3, EfficientNet-B1 and ResNet-50 with
        ``weights=None`` (seeded) and a tiny random CLIP vision tower. ``pretrained``:
        ImageNet weights (``IMAGENET1K_V1``), SwAV's ResNet-50 through ``torch.hub``
        (``facebookresearch/swav:main``) and CLIP ViT-L/14 (``clip_source``), each read from
        the local caches.
    metrics : sequence of str
        Which of `FEATURE_METRICS` to build.
    seed : int
        Seed of the random weights.
    device : str
        Where the networks run.
    clip_source : str
        Hugging Face id or folder of the pretrained CLIP vision tower.

    Returns
    -------
    feature_metrics : dict of str to FeatureMetric
    """
    if kind not in ("random", "pretrained"):
        raise NeuroalignError(f"extractors {kind!r}: use 'random' or 'pretrained'.")
    pre = kind == "pretrained"
    tvm = _torchvision_models() if set(metrics) - {"clip"} else None
    out: dict[str, FeatureMetric] = {}
    for name in metrics:
        torch.manual_seed(seed)
        if name in ("alexnet2", "alexnet5"):
            net = tvm.alexnet(weights="IMAGENET1K_V1" if pre else None)
            module = _Node(net, "features.4" if name == "alexnet2" else "features.11")
        elif name == "inception":
            if pre:
                net = tvm.inception_v3(weights="IMAGENET1K_V1")
            else:
                net = tvm.inception_v3(weights=None, aux_logits=False, init_weights=True)
            module = _Node(net, "avgpool")
        elif name == "effnet":
            # MindEye's EfficientNet_B1_Weights.DEFAULT, which is IMAGENET1K_V2.
            net = tvm.efficientnet_b1(weights="IMAGENET1K_V2" if pre else None)
            module = _Node(net, "avgpool")
        elif name == "swav":
            if pre:
                net = torch.hub.load("facebookresearch/swav:main", "resnet50", skip_validation=True)
            else:
                net = tvm.resnet50(weights=None)
            module = _Node(net, "avgpool")
        elif name == "clip":
            if pre:
                from transformers import CLIPVisionModelWithProjection

                model = CLIPVisionModelWithProjection.from_pretrained(clip_source)
            else:
                model = _tiny_clip(seed)
            module = _ClipImage(model)
        else:
            raise NeuroalignError(
                f"unknown feature metric {name!r}; choose from {', '.join(FEATURE_METRICS)}."
            )
        module = module.to(device).eval()
        out[name] = FeatureMetric(module, PREPROCESS[name], FEATURE_METRICS[name])
    return out
