"""Vision encoding: voxel-wise ridge from image features (per model and layer) to visual cortex.

The stage `encode_images` reads a subject's single-trial betas
(`neuroalign.data.vision.read_vision_betas`), averages the repeats of each image, matches the
images to the activation items by ``image_id``, and for every (model, layer) fits a
:class:`~neuroalign.encoding.estimators.RidgeCV` on the training images (one alpha per voxel by
K-fold cross-validation over training images), then scores the held-out test images:

- ``r`` and ``R^2`` of the prediction with the trial-averaged test response;
- ``normalized = sign(r) r^2 / ceiling`` with the noise ceiling of
  `neuroalign.data.vision.noise_ceiling` as a fraction of variance, the share of the
  explainable variance explained (`neuroalign.vision.compare.normalized_score`);
- ``p`` from a null of r over permutations of the test images (a normal fitted to each
  voxel's null, as in the rest of the engine) and its Benjamini-Hochberg ``q`` over voxels.

Each ROI then gets a layer sweep (median and mean normalized score, over all its voxels and over
those with q below the level) and a model comparison (`neuroalign.vision.compare.compare_rois`:
each model's layer is chosen on the training images; bootstrap intervals over test images).
The pure parts (`fit_images`, `match_images`, the functions of `neuroalign.vision.compare`)
take arrays; the stage reads and writes files at its edges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.devices import resolve_device
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.estimators import RidgeCV, make_estimator
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.encoding.stats import bh_qvalues, block_permutation_null, p_values
from neuroalign.results import load_netcdf, open_activations, write_netcdf
from neuroalign.settings import select_layers
from neuroalign.vision.compare import (
    bootstrap_counts,
    bootstrap_roi_scores,
    compare_rois,
    normalized_score,
    roi_recovery,
    roi_summary,
)
from neuroalign.vision.settings import VisionEncodeSettings

__all__ = [
    "CEILING_CONVENTION",
    "MAPS",
    "ImageFit",
    "encode_images",
    "fit_images",
    "image_folds",
    "maps_folder",
    "match_images",
    "read_image_features",
    "read_planted",
]

logger = logging.getLogger(__name__)

#: How the normalized score is computed (stored in the result's attrs).
CEILING_CONVENTION = "sign(r) r^2 / noise ceiling (fraction of variance of the averaged trials)"
#: The voxel-wise variables of each ROI's chosen fit written as NIfTI maps (``best_<name>``).
MAPS = ("normalized", "r", "q")
#: Where a simulated vision dataset keeps its planted truth.
PLANTED = Path("derivatives") / "planted"


@dataclass(frozen=True)
class ImageFit:
    """Voxel-wise results of :func:`fit_images` (arrays of shape (n_voxels,) unless noted).

    Attributes
    ----------
    r, r2 : held-out Pearson r and R^2 against the trial-averaged test responses.
    normalized : ``sign(r) r^2 / ceiling``.
    p, q : permutation p-value of r and its Benjamini-Hochberg q-value (NaN without a null).
    alpha : chosen penalty.
    cv_score : best mean cross-validated score (negative MSE on the training images).
    pred : ndarray of shape (n_test, n_voxels), the held-out predictions.
    n_lower_edge, n_upper_edge : voxels at the alpha grid's edges.
    """

    r: np.ndarray
    r2: np.ndarray
    normalized: np.ndarray
    p: np.ndarray
    q: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray
    pred: np.ndarray
    n_lower_edge: int
    n_upper_edge: int


def image_folds(n_images: int, n_folds: int, rng: np.random.Generator) -> list:
    """K folds of the training images, drawn at random (images are exchangeable).

    Returns
    -------
    folds : list of (train_indices, test_indices)
    """
    labels = rng.permutation(n_images) % min(n_folds, n_images)
    return group_folds(labels)


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score the features with the training images' mean and SD (constant features -> 0)."""
    mean = X_train.mean(0)
    sd = X_train.std(0)
    sd = np.where(sd > 0, sd, np.inf)
    return (X_train - mean) / sd, (X_test - mean) / sd


def fit_images(
    X_train,
    Y_train,
    X_test,
    Y_test,
    ceiling,
    *,
    alphas,
    folds,
    rng: np.random.Generator,
    n_perm: int = 1000,
    p_method: str = "gaussian",
    **options: Any,
) -> ImageFit:
    """Fit voxel-wise ridge on the training images and score it on the held-out test images.

    Parameters
    ----------
    X_train : array of shape (n_train, n_features)
        Image features of the training images (standardized here with their own statistics).
    Y_train : array of shape (n_train, n_voxels)
        Trial-averaged responses to the training images.
    X_test : array of shape (n_test, n_features)
    Y_test : array of shape (n_test, n_voxels)
        Trial-averaged responses to the test images.
    ceiling : array of shape (n_voxels,)
        Noise ceiling of the test responses as a fraction of variance (0..1).
    alphas : array of float
        Ridge penalty grid.
    folds : list of (train_indices, test_indices)
        Cross-validation folds over the training images (`image_folds`).
    rng : numpy.random.Generator
        Draws the permutations of the null.
    n_perm : int
        Permutations of the test images (0: NaN p and q).
    p_method : {"gaussian", "empirical"}
        How p comes from the null (`neuroalign.encoding.stats.p_values`).
    **options
        Options of :class:`~neuroalign.encoding.estimators.RidgeCV` (``device``, ``dtype``,
        ``solver``, ``solver_params``, ...).

    Returns
    -------
    fit : ImageFit
    """
    X_train, X_test = _standardize(np.asarray(X_train, float), np.asarray(X_test, float))
    Y_train, Y_test = np.asarray(Y_train, float), np.asarray(Y_test, float)
    model = make_estimator(RidgeCV, options, alphas=alphas, cv=list(folds))
    model.fit(X_train, Y_train)
    pred = np.asarray(model.predict(X_test), float)
    # A voxel constant over the test images has no score (not r = 0), and no p: it does not
    # count among the voxels FDR controls over.
    constant = np.ptp(Y_test, axis=0) == 0
    r = np.where(constant, np.nan, pearson_r(Y_test, pred))
    if n_perm > 0:
        null = block_permutation_null(
            Y_test, pred, block=1, n_perm=n_perm, rng=rng, device=model.device
        )
        p = np.where(constant, np.nan, p_values(r, null, method=p_method))
        q = bh_qvalues(p)
    else:
        p = q = np.full(r.shape, np.nan)
    return ImageFit(
        r=r,
        r2=np.where(constant, np.nan, r2_score(Y_test, pred)),
        normalized=normalized_score(r, ceiling),
        p=p,
        q=q,
        alpha=np.asarray(model.best_alphas_, float),
        cv_score=np.asarray(model.cv_scores_).max(0),
        pred=pred.astype(np.float32),
        n_lower_edge=model.n_lower_edge_,
        n_upper_edge=model.n_upper_edge_,
    )


def _strings(values) -> np.ndarray:
    """Text as a plain str array (Zarr 3 reads text back as NumPy's variable-width StringDType)."""
    return np.asarray(values).astype(object).astype(str)


def match_images(item_ids, image_ids, where: str) -> np.ndarray:
    """Rows of the activation items for each image, by ``image_id``.

    Parameters
    ----------
    item_ids : array of str, shape (n_items,)
        The activation store's ``image_id`` per item.
    image_ids : array of str, shape (n_images,)
        The images whose features are wanted, in order.
    where : str
        The activation store, named in the error.

    Returns
    -------
    rows : ndarray of int, shape (n_images,)

    Raises
    ------
    NeuroalignError
        If an image has no item (the first few missing ids are named) or an id is repeated.
    """
    item_ids = _strings(item_ids)
    lookup: dict[str, int] = {}
    for row, image_id in enumerate(item_ids):
        if image_id in lookup:
            raise NeuroalignError(f"{where}: image_id {image_id!r} names two items.")
        lookup[image_id] = row
    wanted = _strings(image_ids)
    missing = [i for i in wanted if i not in lookup]
    if missing:
        raise NeuroalignError(
            f"{where}: {len(missing)} of {wanted.size} images have no activations (first: "
            f"{missing[:5]}); extract the activations of this dataset's image table."
        )
    return np.array([lookup[i] for i in wanted], int)


def read_image_features(
    path: str | Path, variable: str, layers: str | tuple[int, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The features of every selected layer of an activation store, and its items' image ids.

    Parameters
    ----------
    path : str or Path
        A finished activation store with dims (item, [layer,] unit) and an ``image_id`` item
        coordinate.
    variable : str
        The unit space.
    layers : "all" or tuple of int
        Indices into the store's layers (negative count from the end).

    Returns
    -------
    features : dict of layer label (str) to ndarray of shape (n_items, n_units)
    image_ids : ndarray of str, shape (n_items,)
    """
    path = Path(path)
    ds = open_activations(path)
    try:
        if variable not in ds.data_vars:
            raise NeuroalignError(
                f"{path}: no unit space {variable!r}; it has {sorted(ds.data_vars)}. Set "
                "variable to one of them."
            )
        if "image_id" not in ds.coords:
            raise NeuroalignError(
                f"{path}: the items carry no image_id; extract the activations of an image table."
            )
        image_ids = _strings(ds["image_id"].values)
        da = ds[variable]
        if "layer" not in da.dims:
            return {"all": np.asarray(da.transpose("item", ...).values, np.float32)}, image_ids
        labels = list(da["layer"].values)
        picked = select_layers(layers, len(labels), field=f"{path}: layers")
        features = {
            str(labels[k]): np.asarray(
                da.isel(layer=k).transpose("item", ...).values, np.float32
            ).reshape(da.sizes["item"], -1)
            for k in picked
        }
        return features, image_ids
    finally:
        ds.close()


def maps_folder(output: str | Path) -> Path:
    """Where `encode_images` writes the NIfTI maps of ``output`` unless told: ``<stem>_maps/``."""
    output = Path(output)
    return output.with_name(output.stem + "_maps")


def _split(betas: Any) -> tuple[Any, Any]:
    """The trial-averaged train and test images of a `VisionBetas`."""
    avg = betas.average_repeats()
    split = np.asarray(avg.split).astype(str)
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    if train.size < 2 or test.size < 3:
        raise NeuroalignError(
            f"{betas.dataset} sub-{betas.subject}: {train.size} train and {test.size} test images; "
            "need at least 2 and 3."
        )
    return avg, (train, test)


def read_planted(dataset: str | Path, subject: str) -> dict[str, Any] | None:
    """The planted truth of a simulated vision dataset (``derivatives/planted/truth.nc``).

    Returns
    -------
    planted : dict or None
        ``responsive`` (bool, shape (n_voxels,)): the voxels with planted signal for this
        subject (``snr > 0``; the ``visual`` voxels when the truth does not know the subject),
        and ``layer`` and ``model`` when the embedding was a model's activations of one layer.
        None for real data.
    """
    path = Path(dataset) / PLANTED / "truth.nc"
    if not path.is_file():
        return None
    truth = load_netcdf(path, "planted truth")
    subjects = [str(s) for s in truth["subject"].values] if "subject" in truth.coords else []
    if "snr" in truth and subject in subjects:
        responsive = truth["snr"].isel(subject=subjects.index(subject)).values > 0
    else:
        responsive = truth["visual"].values.astype(bool)
    out: dict[str, Any] = {"responsive": np.asarray(responsive, bool)}
    try:
        features = json.loads(truth.attrs.get("config", "{}")).get("features") or {}
    except ValueError:
        features = {}
    if features.get("layer") is not None:
        out["layer"] = str(features["layer"])
        out["model"] = str(features.get("model", ""))
    return out


def encode_images(
    settings: VisionEncodeSettings,
    *,
    activations: Mapping[str, str | Path],
    dataset: str | Path,
    subject: str,
    output: str | Path,
    maps: str | Path | None = None,
) -> Path:
    """Fit and test image encoding models of one subject for every model and layer.

    Parameters
    ----------
    settings : VisionEncodeSettings
        One ``vision.encode`` entry.
    activations : mapping of model name to store path
        Each model's activation store of the dataset's images (items carry ``image_id``).
    dataset : str or Path
        The vision fMRI dataset folder (read by `neuroalign.data.vision.read_vision_betas`).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The netCDF file to write.
    maps : str or Path, optional
        Folder of NIfTI maps of the chosen fit per ROI; default `maps_folder` of ``output``.

    Returns
    -------
    output : Path

    Examples
    --------
    >>> settings = VisionEncodeSettings.from_config(
    ...     {"dataset": "sim_vision", "models": ["tiny_clip"]})
    >>> encode_images(settings, activations={"tiny_clip": "results/activations/tiny_clip/"
    ...               "sim_vision.zarr"}, dataset="data/raw/sim_vision", subject="01",
    ...               output="results/vision/encoding/sim_vision/sub-01.nc")  # doctest: +SKIP
    """
    from neuroalign.data.vision import noise_ceiling, read_vision_betas

    dataset, output = Path(dataset), Path(output)
    if not activations:
        raise NeuroalignError("encode_images: give at least one activation store.")
    betas = read_vision_betas(dataset, subject, zscore_sessions=settings.zscore_sessions)
    # NSD's ceiling, in percent, for the trials averaged in each test response, of the betas
    # as they are scored (session-z-scored or not).
    try:
        ceiling = noise_ceiling(betas, zscore=settings.zscore_sessions) / 100
    except NeuroalignError as err:
        logger.warning("%s: the normalized scores are NaN, r, p and q stand", err)
        ceiling = np.full(betas.n_voxels, np.nan)
    avg, (train, test) = _split(betas)
    Y = np.asarray(avg.betas, float)
    ids = np.asarray(avg.image_ids).astype(str)
    features = {}
    for model, path in activations.items():
        layers, item_ids = read_image_features(path, settings.variable, settings.layers)
        rows = match_images(item_ids, ids, str(path))
        features[model] = {k: v[rows] for k, v in layers.items()}
    ds = encode_arrays(
        settings,
        features=features,
        Y=Y,
        train=train,
        test=test,
        ceiling=ceiling,
        rois=dict(betas.rois),
        planted=read_planted(dataset, subject),
    )
    ds = ds.assign_coords(
        image_train=("image_train", ids[train]), image_test=("image_test", ids[test])
    )
    ds.attrs.update(
        provenance(
            stage="vision_encode",
            config={**settings.to_dict(), "seed": settings.random_seed, "subject": subject},
            seed=settings.random_seed,
            inputs={f"activations_{m}": p for m, p in activations.items()},
            dataset=betas.dataset,
            subject=subject,
            models=list(activations),
            ceiling_convention=CEILING_CONVENTION,
            score="Pearson r and R^2 against the trial-averaged test responses",
            null="permutation of the test images; p "
            + (
                "from a normal fitted to each voxel's null"
                if settings.p_method == "gaussian"
                else "as (1 + #null >= r) / (1 + n_permutations)"
            ),
            bootstrap="percentile intervals over test-image resamples (ceiling held fixed)",
            simulated=str(betas.dataset).startswith("sim_"),
            n_train_images=int(train.size),
            n_test_images=int(test.size),
        )
    )
    write_netcdf(ds, output)
    # The folder always exists (a rule's output); surface data have no volume to write into.
    with atomic_path(maps or maps_folder(output)) as tmp:
        tmp.mkdir()
        if betas.mask is not None:
            import nibabel as nib

            for name in MAPS:
                values = np.nan_to_num(ds[f"best_{name}"].values.astype(np.float32))
                nib.save(betas.to_volume(values), tmp / f"best_{name}.nii.gz")
    logger.info("wrote %s", output)
    return output


def _planted_label(planted: Mapping[str, Any], features: Mapping[str, Mapping]) -> str | None:
    """The store label of the planted layer, when the planted model is among the fits."""
    model, layer = planted.get("model"), planted.get("layer")
    if model is None or layer is None or str(model) not in features:
        return None
    labels = [str(k) for k in features[str(model)]]
    if str(layer) in labels:
        return str(layer)
    index = int(layer)
    return labels[index] if -len(labels) <= index < 0 else None


def encode_arrays(
    settings: VisionEncodeSettings,
    *,
    features: Mapping[str, Mapping[str, np.ndarray]],
    Y,
    train,
    test,
    ceiling,
    rois: Mapping[str, np.ndarray],
    planted: Mapping[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """The whole analysis on arrays: every fit, the ROI layer sweeps, the comparison, recovery.

    Parameters
    ----------
    settings : VisionEncodeSettings
    features : mapping of model to mapping of layer label to array of shape (n_images, n_units)
        Image features, rows in the order of ``Y``.
    Y : array of shape (n_images, n_voxels)
        Trial-averaged responses.
    train, test : array of int
        Rows of the training and test images.
    ceiling : array of shape (n_voxels,)
        Noise ceiling of the test responses, a fraction of variance.
    rois : mapping of name to bool array of shape (n_voxels,)
    planted : mapping, optional
        ``responsive`` (bool, shape (n_voxels,)): the simulation's responsive voxels, for the
        precision and recall per ROI; ``layer``: the planted layer label.

    Returns
    -------
    result : xarray.Dataset
        Dims ``fit`` (coords ``fit_model``, ``fit_layer``), ``voxel``, ``roi``, ``boot`` absent
        (only intervals are kept).
    """
    Y = np.asarray(Y, float)
    ceiling = np.asarray(ceiling, float)
    # Normalize only where the ceiling is not near zero (NaN elsewhere, out of ROI medians).
    usable = np.where(ceiling >= settings.min_ceiling / 100, ceiling, 0.0)
    rng = np.random.default_rng(settings.random_seed)
    folds = image_folds(train.size, settings.folds, rng)
    device = resolve_device(settings.device, field="vision.encode.device")
    fit_model, fit_layer, fits = [], [], []
    for model, layers in features.items():
        for layer, X in layers.items():
            logger.info("fit %s layer %s", model, layer)
            fits.append(
                fit_images(
                    X[train],
                    Y[train],
                    X[test],
                    Y[test],
                    usable,
                    alphas=settings.grid,
                    folds=folds,
                    rng=np.random.default_rng(settings.random_seed + 1),
                    n_perm=settings.n_permutations,
                    p_method=settings.p_method,
                    device=device,
                    dtype=settings.dtype,
                )
            )
            fit_model.append(model)
            fit_layer.append(str(layer))
    stack = {
        k: np.stack([getattr(f, k) for f in fits]) for k in ("r", "r2", "normalized", "p", "q")
    }
    stack["alpha"] = np.stack([f.alpha for f in fits])
    stack["cv_score"] = np.stack([f.cv_score for f in fits])
    roi_names = list(rois)
    roi_masks = np.stack([np.asarray(rois[n], bool) for n in roi_names])
    summary = roi_summary(stack["normalized"], stack["q"], rois, q_level=settings.q_level)
    # Layers are chosen on the voxels that are scored (ceiling at least min_ceiling), or on
    # every voxel of an ROI that has none such.
    scored = usable > 0
    cv_masks = [m & scored if (m & scored).any() else m for m in roi_masks]
    roi_cv = np.stack(
        [[np.mean(f.cv_score[m]) if m.any() else np.nan for m in cv_masks] for f in fits]
    )
    counts = bootstrap_counts(
        test.size, settings.n_bootstrap, np.random.default_rng(settings.random_seed + 2)
    )
    boot = np.stack([bootstrap_roi_scores(Y[test], f.pred, usable, rois, counts) for f in fits])
    comp = compare_rois(
        np.asarray(fit_model), roi_cv, summary["median"], boot, level=settings.ci_level
    )
    models = list(features)
    low, high = (np.full(summary["median"].shape, np.nan) for _ in range(2))
    if settings.n_bootstrap:
        low, high = np.nanpercentile(
            boot, [50 * (1 - settings.ci_level), 100 - 50 * (1 - settings.ci_level)], axis=1
        )
    # The voxel maps of each ROI's chosen fit (voxels outside every ROI take the overall best).
    overall = int(np.nanargmax(np.nanmean(roi_cv, axis=1))) if roi_names else 0
    chosen = np.full(Y.shape[1], overall)
    for j in range(len(roi_names)):
        chosen[roi_masks[j]] = comp.best[j]
    cols = np.arange(Y.shape[1])
    ds = xr.Dataset(
        {
            **{name: (("fit", "voxel"), values) for name, values in stack.items()},
            "ceiling": ("voxel", ceiling),
            "roi_mask": (("roi", "voxel"), roi_masks.astype(np.int8)),
            "chosen_fit": ("voxel", chosen),
            **{f"best_{k}": ("voxel", stack[k][chosen, cols]) for k in ("r", "normalized", "q")},
            **{f"roi_{k}": (("fit", "roi"), v) for k, v in summary.items()},
            "roi_median_low": (("fit", "roi"), low),
            "roi_median_high": (("fit", "roi"), high),
            "roi_cv": (("fit", "roi"), roi_cv),
            "model_best_layer": (
                ("model", "roi"),
                np.asarray(
                    [
                        [fit_layer[np.flatnonzero(np.asarray(fit_model) == m)[k]] for k in row]
                        for m, row in zip(models, comp.best_layer, strict=True)
                    ],
                    dtype=object,
                ).astype(str),
            ),
            "best_fit": ("roi", comp.best),
            "second_fit": ("roi", comp.second),
            **{
                name: ("roi", getattr(comp, name))
                for name in (
                    "best_score",
                    "best_low",
                    "best_high",
                    "second_score",
                    "second_low",
                    "second_high",
                    "diff",
                    "diff_low",
                    "diff_high",
                )
            },
        },
        coords={
            "fit": np.arange(len(fits)),
            "fit_model": ("fit", np.asarray(fit_model, dtype=str)),
            "fit_layer": ("fit", np.asarray(fit_layer, dtype=str)),
            "voxel": np.arange(Y.shape[1]),
            "roi": np.asarray(roi_names, dtype=str),
            "model": np.asarray(models, dtype=str),
        },
        attrs={
            "q_level": settings.q_level,
            "ci_level": settings.ci_level,
            "n_bootstrap": settings.n_bootstrap,
            "n_permutations": settings.n_permutations,
            "n_lower_edge": int(sum(f.n_lower_edge for f in fits)),
            "n_upper_edge": int(sum(f.n_upper_edge for f in fits)),
        },
    )
    if planted is not None and "responsive" in planted:
        responsive = np.asarray(planted["responsive"], bool)
        significant = np.stack(
            [stack["q"][comp.best[j]] < settings.q_level for j in range(len(roi_names))]
        )
        rec = roi_recovery(significant, responsive, rois)
        ds["planted_responsive"] = ("voxel", responsive.astype(np.int8))
        ds["recovery_precision"] = ("roi", np.array([rec[n][0] for n in roi_names]))
        ds["recovery_recall"] = ("roi", np.array([rec[n][1] for n in roi_names]))
        layer = _planted_label(planted, features)
        if layer is not None:
            # Whether each ROI's chosen layer of the planted model is the planted layer.
            m = models.index(str(planted["model"]))
            found = ds["model_best_layer"].values[m] == layer
            ds["recovery_layer"] = ("roi", found.astype(np.int8))
            ds.attrs["planted_layer"] = layer
            ds.attrs["planted_model"] = str(planted["model"])
    return ds
