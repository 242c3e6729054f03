"""The guiding encoder: voxel-wise ridge on a vision model's image features, as a torch module.

`fit_encoder` fits :class:`~neuroalign.encoding.estimators.RidgeCV` (one alpha per voxel by
K-fold cross-validation over the training images) from one unit space and layer of an image
activation store to a subject's repeat-averaged training betas, scores it on the test images
(Pearson r per voxel) and writes the weights, the feature standardization and the ROI masks to
one netCDF file. `load_encoder` turns that file back into an :class:`ImageEncoder`: the vision
model itself, run again on images in [0, 1] with the processor's resize and normalization done
in torch and the store's pooling, so the prediction is differentiable with respect to the
pixels (what guidance needs) and equals the fit's own prediction on the same images.

Prediction of voxel v for an image with features x (the pooled unit space)::

    y_v = sum_u (x_u - mean_u) / scale_u * weight[u, v] + intercept[v]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.diffusion.settings import DiffusionEncoderSettings
from neuroalign.encoding.estimators import RidgeCV, make_estimator
from neuroalign.encoding.scores import pearson_r
from neuroalign.results import load_netcdf, open_activations, write_netcdf

__all__ = [
    "EncoderFit",
    "ImageEncoder",
    "ImagePrep",
    "encoder_path",
    "fit_encoder",
    "fit_encoder_arrays",
    "load_encoder",
]

logger = logging.getLogger(__name__)

#: How torch resizes the processor's PIL resample codes (PIL: 0 nearest, 2 bilinear, 3
#: bicubic). PIL's nearest samples the source pixel under each output pixel's centre, which is
#: torch's ``nearest-exact`` (torch's ``nearest`` floors the corner and shifts by a pixel).
_RESAMPLE = {0: "nearest-exact", 2: "bilinear", 3: "bicubic"}


def encoder_path(results: str | Path, dataset: str, subject: str, model: str) -> Path:
    """Where the workflow writes an encoder.

    ``<results>/diffusion/encoders/<dataset>/sub-<subject>/<model>.nc``.
    """
    return Path(results) / "diffusion" / "encoders" / dataset / f"sub-{subject}" / f"{model}.nc"


@dataclass(frozen=True)
class EncoderFit:
    """A fitted linear read-out from pooled image features to voxels.

    Attributes
    ----------
    weight : ndarray of shape (n_units, n_voxels)
        Ridge weights on the standardized features.
    intercept : ndarray of shape (n_voxels,)
    mean, scale : ndarray of shape (n_units,)
        Training mean and standard deviation of each feature (constant features: scale 1
        and weight 0).
    alpha : ndarray of shape (n_voxels,)
        Chosen penalty per voxel.
    r : ndarray of shape (n_voxels,)
        Pearson r of the test prediction with the trial-averaged test responses.
    """

    weight: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    alpha: np.ndarray
    r: np.ndarray

    def predict(self, X) -> np.ndarray:
        """Predicted responses, shape (n_images, n_voxels), of features (n_images, n_units)."""
        return ((np.asarray(X, float) - self.mean) / self.scale) @ self.weight + self.intercept


def fit_encoder_arrays(
    X_train,
    Y_train,
    X_test,
    Y_test,
    *,
    alphas,
    n_folds: int = 5,
    rng: np.random.Generator,
    **options: Any,
) -> EncoderFit:
    """Fit voxel-wise ridge on standardized training features; score on the test images.

    Parameters
    ----------
    X_train : array of shape (n_train, n_units)
    Y_train : array of shape (n_train, n_voxels)
    X_test : array of shape (n_test, n_units)
    Y_test : array of shape (n_test, n_voxels)
    alphas : array of float
        Ridge penalty grid.
    n_folds : int
        Cross-validation folds over the training images (drawn at random with ``rng``).
    rng : numpy.random.Generator
    **options
        Options of :class:`~neuroalign.encoding.estimators.RidgeCV` (``device``, ``dtype``).

    Returns
    -------
    fit : EncoderFit
    """
    from neuroalign.encoding.cv import group_folds

    X_train, X_test = np.asarray(X_train, float), np.asarray(X_test, float)
    mean, sd = X_train.mean(0), X_train.std(0)
    constant = ~(sd > 0)
    scale = np.where(constant, 1.0, sd)
    Z_train = (X_train - mean) / scale
    Z_train[:, constant] = 0.0
    labels = rng.permutation(len(X_train)) % min(n_folds, len(X_train))
    model = make_estimator(RidgeCV, options, alphas=alphas, cv=group_folds(labels))
    model.fit(Z_train, np.asarray(Y_train, float))
    weight = np.asarray(model.coef_, float).T.copy()
    weight[constant] = 0.0
    fit = EncoderFit(
        weight=weight,
        intercept=np.asarray(model.intercept_, float).reshape(-1),
        mean=mean,
        scale=scale,
        alpha=np.asarray(model.best_alphas_, float).reshape(-1),
        r=np.zeros(weight.shape[1]),
    )
    r = pearson_r(np.asarray(Y_test, float), fit.predict(X_test))
    return EncoderFit(**{**fit.__dict__, "r": np.asarray(r, float)})


def _read_features(path: Path, units: str, layer: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """One unit space (and layer) of an activation store, its image ids, attrs and block."""
    from neuroalign.settings import select_layers
    from neuroalign.vision.encode import read_image_features

    ds = open_activations(path)
    try:
        attrs = dict(ds.attrs)
        layered = units in ds.data_vars and "layer" in ds[units].dims
        block = None
        if layered:
            blocks = [int(b) for b in np.asarray(ds["layer"].values)]
            block = blocks[select_layers([layer], len(blocks), field=f"{path}: layer")[0]]
    finally:
        ds.close()
    features, ids = read_image_features(path, units, (layer,) if layered else "all")
    (X,) = features.values()
    return X, ids, {"attrs": attrs, "block": block}


def fit_encoder(
    settings: DiffusionEncoderSettings,
    *,
    activations: str | Path,
    dataset: str | Path,
    subject: str,
    output: str | Path,
) -> Path:
    """Fit the guiding encoder of one subject and write it (netCDF).

    Parameters
    ----------
    settings : DiffusionEncoderSettings
        One ``diffusion.encoders`` entry.
    activations : str or Path
        The model's activation store of the dataset's images (items carry ``image_id``).
    dataset : str or Path
        The vision fMRI dataset folder (`neuroalign.data.vision.read_vision_betas`).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The file to write (`encoder_path`).

    Returns
    -------
    output : Path
        A netCDF file with ``weight`` (unit, voxel), ``intercept``, ``feature_mean``,
        ``feature_scale`` (unit), ``alpha``, ``r`` (voxel), one bool ``roi_<name>`` (voxel) per
        ROI, and attrs ``model`` (the model's name), ``model_source``, ``units``, ``layer``
        (block index, -1 for unlayered spaces), ``pooling`` and provenance.

    Examples
    --------
    >>> settings = DiffusionEncoderSettings.from_config(
    ...     {"dataset": "sim_vision", "model": "tiny_clip"})
    >>> fit_encoder(settings, activations="results/activations/tiny_clip/sim_vision.zarr",
    ...             dataset="data/raw/sim_vision", subject="01",
    ...             output="results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc"
    ...             )  # doctest: +SKIP
    """
    from neuroalign.data import vision as vision_data
    from neuroalign.devices import resolve_device
    from neuroalign.vision.encode import match_images

    activations, dataset, output = Path(activations), Path(dataset), Path(output)
    X, item_ids, meta = _read_features(activations, settings.units, settings.layer)
    attrs = meta["attrs"]
    if not attrs.get("model"):
        raise NeuroalignError(
            f"{activations}: the store names no model source (attr 'model'); extract it with "
            "neuroalign extract."
        )
    betas = vision_data.read_vision_betas(
        dataset, subject, zscore_sessions=settings.zscore_sessions
    )
    avg = betas.average_repeats()
    split = np.asarray(avg.split).astype(str)
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    if train.size < 2 or test.size < 3:
        raise NeuroalignError(
            f"{betas.dataset} sub-{subject}: {train.size} train and {test.size} test images; "
            "need at least 2 and 3."
        )
    ids = np.asarray(avg.image_ids).astype(str)
    X = X[match_images(item_ids, ids, str(activations))]
    Y = np.asarray(avg.betas, float)
    fit = fit_encoder_arrays(
        X[train],
        Y[train],
        X[test],
        Y[test],
        alphas=settings.grid,
        n_folds=settings.folds,
        rng=np.random.default_rng(settings.random_seed),
        device=resolve_device(settings.device, field="diffusion.encoders.device"),
        dtype=settings.dtype,
    )
    rois = {str(k): np.asarray(v, bool) for k, v in betas.rois.items()}
    ds = xr.Dataset(
        {
            "weight": (("unit", "voxel"), fit.weight.astype(np.float32)),
            "intercept": ("voxel", fit.intercept.astype(np.float32)),
            "feature_mean": ("unit", fit.mean.astype(np.float32)),
            "feature_scale": ("unit", fit.scale.astype(np.float32)),
            "alpha": ("voxel", fit.alpha),
            "r": ("voxel", fit.r),
            **{f"roi_{name}": ("voxel", mask.astype(np.int8)) for name, mask in rois.items()},
        },
        coords={"unit": np.arange(fit.weight.shape[0]), "voxel": np.arange(fit.weight.shape[1])},
    )
    ds.attrs.update(
        provenance(
            stage="diffusion_encoder",
            config={**settings.to_dict(), "subject": subject},
            seed=settings.random_seed,
            model=settings.model,
            model_source=str(attrs["model"]),
            units=settings.units,
            layer=-1 if meta["block"] is None else int(meta["block"]),
            pooling=str(attrs.get("pooling", "mean")),
            dataset=betas.dataset,
            subject=subject,
            rois=json.dumps(list(rois)),
            simulated=str(betas.dataset).startswith("sim_"),
            n_train_images=int(train.size),
            n_test_images=int(test.size),
            median_test_r=float(np.nanmedian(fit.r)),
        )
    )
    write_netcdf(ds, output)
    logger.info("wrote %s (median test r %.3f)", output, float(np.nanmedian(fit.r)))
    return output


@dataclass(frozen=True)
class ImagePrep:
    """A processor's resize, center crop and normalization of images, done in torch.

    Attributes
    ----------
    size : dict
        The processor's ``size`` (``shortest_edge`` or ``height`` and ``width``); None: no
        resize.
    crop : tuple of int or None
        (height, width) of the center crop; None: no crop.
    mode : str
        torch interpolation mode of the resize.
    scale : float
        What the processor multiplies 0..255 pixels by (``rescale_factor``).
    mean, std : tuple of float
        Per-channel normalization.
    """

    size: dict | None
    crop: tuple[int, int] | None
    mode: str
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_processor(cls, processor: Any) -> ImagePrep:
        """Read the steps of a Hugging Face image processor (or a processor holding one)."""
        proc = getattr(processor, "image_processor", processor)
        if proc is None:
            raise NeuroalignError(
                "the encoder's model has no image processor; save one next to its weights"
            )
        size = dict(getattr(proc, "size", None) or {}) if getattr(proc, "do_resize", True) else {}
        crop = None
        if getattr(proc, "do_center_crop", False):
            c = getattr(proc, "crop_size", None) or {}
            crop = (int(c["height"]), int(c["width"]))
        resample = getattr(proc, "resample", 3)
        mode = _RESAMPLE.get(int(getattr(resample, "value", resample)), "bicubic")
        rescale = float(proc.rescale_factor) if getattr(proc, "do_rescale", True) else 1.0
        if getattr(proc, "do_normalize", True):
            mean = tuple(float(m) for m in proc.image_mean)
            std = tuple(float(s) for s in proc.image_std)
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        return cls(size or None, crop, mode, rescale, mean, std)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of an image of this size after the resize and the crop."""
        h, w = self._resized(height, width)
        return self.crop if self.crop is not None else (h, w)

    def _resized(self, height: int, width: int) -> tuple[int, int]:
        """The resize's output size: ``shortest_edge`` (capped by ``longest_edge`` when both
        are given), ``longest_edge`` alone, or ``height`` and ``width``."""
        if not self.size:
            return height, width
        size = self.size
        if "shortest_edge" in size or "longest_edge" in size:
            short, long = min(height, width), max(height, width)
            if "shortest_edge" in size:
                new_short = int(size["shortest_edge"])
                new_long = int(new_short * long / short)
                if size.get("longest_edge") and new_long > int(size["longest_edge"]):
                    new_short, new_long = (
                        int(int(size["longest_edge"]) * short / long),
                        int(size["longest_edge"]),
                    )
            else:
                new_long = int(size["longest_edge"])
                new_short = int(new_long * short / long)
            return (new_short, new_long) if height <= width else (new_long, new_short)
        if "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        raise NeuroalignError(
            f"image processor size {size}: expected shortest_edge, longest_edge or height and "
            "width; resize the images before the encoder or use another processor"
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Images (batch, 3, height, width) in [0, 1] -> the model's ``pixel_values``."""
        h, w = self._resized(images.shape[-2], images.shape[-1])
        x = images
        if (h, w) != tuple(images.shape[-2:]):
            kwargs = {"antialias": True} if self.mode in ("bilinear", "bicubic") else {}
            x = torch.nn.functional.interpolate(
                x, size=(h, w), mode=self.mode, align_corners=False if kwargs else None, **kwargs
            )
            if self.mode == "bicubic":  # processors resize 0..255 pixels and clamp them
                x = x.clamp(0, 1)
        if self.crop is not None:
            ch, cw = self.crop
            if ch > h or cw > w:  # processors pad a smaller image with zeros, centred
                top, left = -(-max(0, ch - h) // 2), -(-max(0, cw - w) // 2)
                x = torch.nn.functional.pad(
                    x, (left, max(0, cw - w) - left, top, max(0, ch - h) - top)
                )
                h, w = x.shape[-2:]
            top, left = (h - ch) // 2, (w - cw) // 2
            x = x[..., top : top + ch, left : left + cw]
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(shape)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(shape)
        return (x * (255.0 * self.scale) - mean) / std


class ImageEncoder(torch.nn.Module):
    """A vision model and a linear voxel read-out: images in [0, 1] -> predicted responses.

    Differentiable end to end. Build it with :func:`load_encoder`.

    Parameters
    ----------
    model : torch.nn.Module
        The vision tower (frozen: its parameters need no gradient).
    prep : ImagePrep
        The processor's steps.
    units : {"resid", "embeds"}
        Unit space read.
    layer : int
        Block index of ``resid`` (ignored for ``embeds``).
    pooling : {"mean", "first"}
        How ``resid`` tokens become one vector (``mean``: over the patch tokens).
    weight, intercept, mean, scale : tensor
        The read-out (:class:`EncoderFit`).
    rois : dict of str to bool tensor of shape (n_voxels,)
    name : str
        The encoder's name (its model).

    Attributes
    ----------
    rois : dict of str to torch.BoolTensor
    voxel_names : list of str or None
    name : str
    """

    def __init__(
        self,
        model: torch.nn.Module,
        prep: ImagePrep,
        *,
        units: str,
        layer: int,
        pooling: str,
        weight: torch.Tensor,
        intercept: torch.Tensor,
        mean: torch.Tensor,
        scale: torch.Tensor,
        rois: Mapping[str, torch.Tensor],
        name: str = "",
        voxel_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        from neuroalign.models.discover import discover

        self.model = model.eval().requires_grad_(False)
        self.prep = prep
        self.units, self.layer, self.pooling = units, int(layer), pooling
        self.arch = discover(model, "vision")
        self.register_buffer("weight", weight)
        self.register_buffer("intercept", intercept)
        self.register_buffer("feature_mean", mean)
        self.register_buffer("feature_scale", scale)
        self.rois = {k: v.bool() for k, v in rois.items()}
        self.name = name
        self.voxel_names = voxel_names
        self._config = getattr(model.config, "vision_config", model.config)

    @property
    def n_voxels(self) -> int:
        """Number of predicted voxels."""
        return int(self.weight.shape[1])

    def _address(self) -> str:
        from neuroalign.models.units import address

        return address(self.arch, self.units, self.layer)

    def _entry(self) -> Any:
        """What takes ``pixel_values``: the model, or the image side of a dual encoder."""
        import inspect

        params = inspect.signature(self.model.forward).parameters
        if hasattr(self.model, "get_image_features") and "input_ids" in params:
            return self.model.get_image_features
        return self.model

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled unit activations, shape (batch, n_units), of images in [0, 1] (float32)."""
        from neuroalign.models.hooks import StopForward, capture
        from neuroalign.models.pooling import PoolPlan, pool_tokens
        from neuroalign.models.vision import n_patches

        dtype = next(self.model.parameters()).dtype
        pixels = self.prep(images.float()).to(dtype)
        seen: dict[str, torch.Tensor] = {}
        address = self._address()

        def record(_: str, tensor: torch.Tensor) -> None:
            seen["x"] = tensor

        with capture(self.model, [address], record, stop_after=address):
            try:
                self._entry()(pixel_values=pixels)
            except StopForward:
                pass
        hidden = seen["x"]
        if self.units == "embeds":
            return hidden.float()
        batch, seq = hidden.shape[0], hidden.shape[1]
        patches = n_patches(self._config, tuple(pixels.shape[-2:]))
        prefix = seq - patches if patches and patches <= seq else 0
        plan = PoolPlan.from_positions(
            np.arange(batch),
            np.arange(batch),
            [np.arange(prefix, seq)] * batch,
            seq,
            first=np.zeros(batch, dtype=np.int64),
        )
        index = {k: v.to(hidden.device) for k, v in plan.to("cpu").items()}
        return pool_tokens(hidden, index, self.pooling).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted responses, shape (batch, n_voxels), of images (batch, 3, H, W) in [0, 1]."""
        x = (self.features(images) - self.feature_mean) / self.feature_scale
        return x @ self.weight + self.intercept


def load_encoder(
    path: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    model_source: str | None = None,
) -> ImageEncoder:
    """Load a fitted encoder (:func:`fit_encoder`) as a differentiable :class:`ImageEncoder`.

    Parameters
    ----------
    path : str or Path
        The encoder file.
    device : str or torch.device, optional
        Where the module runs (default the CPU).
    dtype : str or torch.dtype, optional
        The vision model's dtype (a setting such as ``float16`` or a torch dtype; default
        float32). The read-out stays float32.
    model_source : str, optional
        Load the vision model from here instead of the file's ``model_source`` (a moved
        snapshot, say).

    Returns
    -------
    encoder : ImageEncoder
    """
    from neuroalign.models.sources import load_model

    ds = load_netcdf(path, "encoder")
    source = model_source or ds.attrs.get("model_source")
    if not source:
        raise NeuroalignError(f"{path}: not an encoder file (no model_source attr).")
    if isinstance(dtype, str):
        from neuroalign.devices import resolve_dtype

        dtype = resolve_dtype(dtype, str(device or "cpu"), field="dtype")
    model, processor, _ = load_model(source, dtype=dtype or torch.float32)
    rois = {
        str(k)[4:]: torch.from_numpy(ds[k].values.astype(bool))
        for k in ds.data_vars
        if str(k).startswith("roi_")
    }
    names = [str(v) for v in ds["voxel_name"].values] if "voxel_name" in ds else None
    encoder = ImageEncoder(
        model,
        ImagePrep.from_processor(processor),
        units=str(ds.attrs.get("units", "resid")),
        layer=int(ds.attrs.get("layer", -1)),
        pooling=str(ds.attrs.get("pooling", "mean")),
        weight=torch.from_numpy(ds["weight"].values.astype(np.float32)),
        intercept=torch.from_numpy(ds["intercept"].values.astype(np.float32)),
        mean=torch.from_numpy(ds["feature_mean"].values.astype(np.float32)),
        scale=torch.from_numpy(ds["feature_scale"].values.astype(np.float32)),
        rois=rois,
        name=str(ds.attrs.get("model", "")),
        voxel_names=names,
    )
    if device is not None:
        encoder.to(device)
        encoder.rois = {k: v.to(device) for k, v in encoder.rois.items()}
    return encoder
