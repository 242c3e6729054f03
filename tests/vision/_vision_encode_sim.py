"""Simulated vision fMRI on arrays: each ROI a planted linear map of one layer's features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroalign.encoding.ceilings import correlation_ceiling, explainable_variance


@dataclass
class SimVision:
    features: dict  # model -> layer -> (n_images, n_units)
    Y: np.ndarray  # (n_images, n_voxels), trial-averaged
    repeats: np.ndarray  # (n_repeats, n_images, n_voxels)
    train: np.ndarray
    test: np.ndarray
    ceiling: np.ndarray  # fraction, for the test images
    rois: dict
    responsive: np.ndarray
    planted_layer: dict  # roi -> layer label


def simulate(
    seed: int = 0,
    n_train: int = 240,
    n_test: int = 60,
    n_units: int = 12,
    n_layers: int = 3,
    roi_size: int = 60,
    frac_responsive: float = 0.5,
    n_repeats: int = 3,
    noise: float = 1.0,
    second_model: bool = False,
) -> SimVision:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    layers = {str(k): rng.standard_normal((n, n_units)) for k in range(n_layers)}
    planted_layer = {"V1": "0", "FFA": str(n_layers - 1)}
    rois, responsive = {}, np.zeros(2 * roi_size + 20, bool)
    n_vox = responsive.size
    signal = np.zeros((n, n_vox))
    for j, (roi, layer) in enumerate(planted_layer.items()):
        mask = np.zeros(n_vox, bool)
        mask[j * roi_size : (j + 1) * roi_size] = True
        rois[roi] = mask
        vox = np.flatnonzero(mask)[: int(frac_responsive * roi_size)]
        responsive[vox] = True
        w = rng.standard_normal((n_units, vox.size)) / np.sqrt(n_units)
        signal[:, vox] = layers[layer] @ w
    repeats = signal[None] + noise * rng.standard_normal((n_repeats, n, n_vox))
    test = np.arange(n_train, n)
    ev = explainable_variance(repeats[:, test])
    ceiling = correlation_ceiling(ev, n_repeats) ** 2
    features = {"planted": layers}
    if second_model:
        features["other"] = {str(k): rng.standard_normal((n, n_units)) for k in range(n_layers)}
    return SimVision(
        features=features,
        Y=repeats.mean(0),
        repeats=repeats,
        train=np.arange(n_train),
        test=test,
        ceiling=ceiling,
        rois=rois,
        responsive=responsive,
        planted_layer=planted_layer,
    )
