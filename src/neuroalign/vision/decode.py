"""Decoding of image embeddings from voxels: ridge, norm rescaling, MindEye's scores.

The decoder of the ridge + unCLIP baseline (research notes, rule ``decode``):

1. Test images' repeats are averaged (one row per image); the split is the dataset's (NSD:
   shared1000 = test).
2. Each voxel is z-scored with the **training images'** mean and standard deviation only.
3. A multi-output `neuroalign.encoding.RidgeCV` (one alpha per embedding dimension, chosen by
   cross-validation over the training images, grid from ``alphas``; default 10^1..10^6) maps
   voxels to the model's image embedding.
4. Each predicted test embedding is rescaled to the mean norm of the training embeddings
   (ridge shrinks norms; the generator expects embeddings of the usual norm).
5. Scores: MindEye's 2-way identification and forward/backward top-1 retrieval within random
   subsets of ``min(300, n_test)`` (`neuroalign.vision.retrieval`), each with a percentile
   bootstrap interval over test images and its chance level.

`decode` is the stage (one subject, one model's embedding -> ``decode.nc``); `decode_arrays`
is the same on arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.devices import resolve_device
from neuroalign.encoding.estimators import RidgeCV
from neuroalign.results import load_netcdf, write_netcdf
from neuroalign.settings import StageSettings, alpha_grid, seed_or_default
from neuroalign.vision.encode import read_image_features
from neuroalign.vision.retrieval import bootstrap_ci, retrieval, two_way_scores

__all__ = [
    "DecodeFit",
    "DecodeSettings",
    "decode",
    "decode_arrays",
    "describe",
    "fit_decoder",
    "read_embeddings",
    "rescale_norms",
    "score_decoding",
    "zscore_train",
]

logger = logging.getLogger(__name__)

#: The score names of ``decode.nc`` (variable ``score``, dim ``metric``).
SCORES = ("two_way", "retrieval_forward", "retrieval_backward")
#: The decoding literature's ridge grid (z-scored voxels): 10^1..10^6, as in the schema.
DECODE_ALPHAS = {"start": 1.0, "stop": 6.0, "num": 11}


@dataclass(frozen=True, kw_only=True)
class DecodeSettings(StageSettings):
    """How one decoding analysis runs (one ``vision.decode`` entry).

    Build it with ``DecodeSettings.from_config({"dataset": "sim_vision", "model":
    "tiny_clip"})``; the schema's defaults fill the rest.

    Attributes
    ----------
    dataset : str
        Vision fMRI dataset id.
    model : str
        Model whose embedding is decoded.
    stimset : str or None
        Stimulus set of the activations; None: the dataset id.
    subjects : tuple of str
        Subject labels.
    unit : str
        Unit space of the activation store (``embeds``: the pooled projected embedding).
    layer : int
        Layer of a layered unit space (negative counts from the end); unused for ``embeds``.
    alphas : tuple of float or mapping
        Ridge penalty grid (`grid` gives the array).
    folds : int
        Cross-validation folds over the training images.
    rescale : bool
        Rescale predictions to the mean training-embedding norm.
    zscore_sessions : bool
        z-score within sessions over all trials before averaging (the reader's option).
    subset_size, n_subsets : int
        Top-1 retrieval within ``n_subsets`` random subsets of ``min(subset_size, n_test)``.
    n_bootstrap : int
        Bootstrap resamples of the test images (0: no intervals).
    ci_level : float
        Coverage of the percentile bootstrap intervals.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (`neuroalign.devices`).
    dtype : {"float32", "float64"}
        Precision of the ridge products.
    seed : int or None
        Seed of the folds, subsets and bootstrap (`random_seed` resolves a null).
    """

    SECTION: ClassVar[str] = "#/$defs/vision_decode"

    dataset: str
    model: str
    stimset: str | None = None
    subjects: tuple[str, ...] = ("01",)
    unit: str = "embeds"
    layer: int = -1
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DECODE_ALPHAS)
    )
    folds: int = 5
    rescale: bool = True
    zscore_sessions: bool = False
    subset_size: int = 300
    n_subsets: int = 30
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    device: str = "auto"
    dtype: str = "float64"
    seed: int | None = None

    @property
    def random_seed(self) -> int:
        """``seed``, or the top-level seed's default when null."""
        return seed_or_default(self.seed)

    @property
    def grid(self) -> np.ndarray:
        """The ridge penalties ``alphas`` names (`neuroalign.settings.alpha_grid`)."""
        return alpha_grid(self.alphas)

    @property
    def stimulus_set(self) -> str:
        """``stimset``, or the dataset id when null."""
        return self.stimset or self.dataset


def zscore_train(X, train) -> np.ndarray:
    """z-score each column of ``X`` with the mean and SD of the ``train`` rows only.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    train : array of int or bool
        The training rows.

    Returns
    -------
    Z : ndarray of float64
        Columns constant over the training rows become 0.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [2.0, 1.0], [10.0, 5.0]])
    >>> zscore_train(X, [0, 1])[:, 0].tolist()
    [-1.0, 1.0, 9.0]
    """
    X = np.asarray(X, dtype=np.float64)
    ref = X[np.asarray(train)]
    mean = ref.mean(axis=0)
    sd = ref.std(axis=0)
    return np.where(sd > 0, (X - mean) / np.where(sd > 0, sd, 1.0), 0.0)


def rescale_norms(pred, reference) -> np.ndarray:
    """Rescale each row of ``pred`` to the mean row norm of ``reference``.

    Examples
    --------
    >>> out = rescale_norms([[3.0, 4.0], [0.3, 0.4]], [[0.0, 2.0], [4.0, 0.0]])
    >>> np.linalg.norm(out, axis=1).tolist()
    [3.0, 3.0]
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = float(np.linalg.norm(np.asarray(reference, dtype=np.float64), axis=1).mean())
    norms = np.linalg.norm(pred, axis=1, keepdims=True)
    return pred * (target / np.where(norms > 0, norms, 1.0))


def fit_decoder(
    X_train,
    Y_train,
    *,
    alphas=None,
    folds: int = 5,
    device: str = "cpu",
    dtype: str = "float64",
) -> RidgeCV:
    """Fit the multi-output ridge from (z-scored) voxels to embeddings.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_voxels)
    Y_train : array-like of shape (n_train, n_dims)
    alphas : list or mapping, optional
        Grid (`neuroalign.settings.alpha_grid`); None: `DECODE_ALPHAS` (10^1..10^6).
    folds : int
        Cross-validation folds (one alpha per embedding dimension).
    device, dtype : str
        Where and in which precision the ridge products run.

    Returns
    -------
    model : neuroalign.encoding.RidgeCV
    """
    grid = alpha_grid(DECODE_ALPHAS if alphas is None else alphas)
    model = RidgeCV(alphas=grid, cv=folds, device=device, dtype=dtype)
    return model.fit(np.asarray(X_train, np.float64), np.asarray(Y_train, np.float64))


@dataclass(frozen=True)
class DecodeFit:
    """Result of `decode_arrays`.

    Attributes
    ----------
    pred : ndarray of shape (n_test, n_dims)
        Predicted test embeddings (rescaled when asked).
    true : ndarray of shape (n_test, n_dims)
    alpha : ndarray of shape (n_dims,)
        Chosen penalty per embedding dimension.
    scores : dict of str to dict
        Per score (`SCORES`): ``value``, ``low``, ``high``, ``chance``, and ``per_image``.
    subset_size : int
    n_lower_edge, n_upper_edge : int
        Dimensions whose alpha is at the grid's edge.
    grid : ndarray
        The penalties searched: the given grid, widened by `RidgeCV` when too many dimensions
        sat at an edge.
    """

    pred: np.ndarray
    true: np.ndarray
    alpha: np.ndarray
    scores: dict[str, dict[str, Any]]
    subset_size: int
    n_lower_edge: int
    n_upper_edge: int
    grid: np.ndarray = field(default_factory=lambda: np.empty(0))


def score_decoding(
    true,
    pred,
    *,
    subset_size: int = 300,
    n_subsets: int = 30,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], int]:
    """2-way identification and forward/backward top-1 retrieval, with intervals.

    Returns
    -------
    scores : dict of str to dict
        ``two_way``, ``retrieval_forward``, ``retrieval_backward``: each ``value`` (MindEye's
        number: the mean over images, or over subsets for retrieval), ``low``/``high``
        (percentile bootstrap over test images of the per-image scores; NaN without
        resamples), ``chance`` and ``per_image``.
    subset_size : int
        The retrieval subset size used, ``min(subset_size, n_test)``.
    """
    per = two_way_scores(true, pred)
    res = retrieval(true, pred, subset_size=subset_size, n_subsets=n_subsets, seed=seed)
    parts = {
        "two_way": (float(per.mean()), per, 0.5),
        "retrieval_forward": (float(res.subset_forward.mean()), res.forward, res.chance),
        "retrieval_backward": (float(res.subset_backward.mean()), res.backward, res.chance),
    }
    scores = {}
    for k, (name, (value, per_image, chance)) in enumerate(parts.items()):
        if n_bootstrap > 0:
            low, high = bootstrap_ci(per_image, n_boot=n_bootstrap, level=ci_level, seed=seed + k)
        else:
            low = high = float("nan")
        scores[name] = {
            "value": value,
            "low": low,
            "high": high,
            "chance": float(chance),
            "per_image": np.asarray(per_image, float),
        }
    return scores, res.subset_size


def decode_arrays(
    X,
    Y,
    train,
    test,
    *,
    alphas=None,
    folds: int = 5,
    rescale: bool = True,
    subset_size: int = 300,
    n_subsets: int = 30,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float64",
) -> DecodeFit:
    """Decode embeddings ``Y`` from voxels ``X`` (one row per image) and score the test images.

    Parameters
    ----------
    X : array-like of shape (n_images, n_voxels)
        Trial-averaged responses.
    Y : array-like of shape (n_images, n_dims)
        Each image's embedding.
    train, test : array of int
        Rows of the training and test images.
    alphas, folds, device, dtype
        The ridge (`fit_decoder`).
    rescale : bool
        Rescale predictions to the mean training-embedding norm (`rescale_norms`).
    subset_size, n_subsets, n_bootstrap, ci_level, seed
        The scores (`score_decoding`).

    Returns
    -------
    DecodeFit
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64).reshape(len(Y), -1)
    train, test = np.asarray(train), np.asarray(test)
    if len(X) != len(Y):
        raise NeuroalignError(f"{len(X)} response rows but {len(Y)} embeddings; one per image.")
    if np.intersect1d(train, test).size:
        raise NeuroalignError("train and test images overlap; pass disjoint rows.")
    Z = zscore_train(X, train)
    model = fit_decoder(Z[train], Y[train], alphas=alphas, folds=folds, device=device, dtype=dtype)
    pred = model.predict(Z[test])
    if rescale:
        pred = rescale_norms(pred, Y[train])
    scores, size = score_decoding(
        Y[test],
        pred,
        subset_size=subset_size,
        n_subsets=n_subsets,
        n_bootstrap=n_bootstrap,
        ci_level=ci_level,
        seed=seed,
    )
    return DecodeFit(
        pred=pred,
        true=Y[test],
        alpha=np.atleast_1d(np.asarray(model.best_alphas_, float)),
        scores=scores,
        subset_size=size,
        n_lower_edge=int(model.n_lower_edge_),
        n_upper_edge=int(model.n_upper_edge_),
        grid=np.asarray(model.alphas_, float),
    )


def read_embeddings(path: str | Path, unit: str = "embeds", layer: int = -1):
    """One unit space of an activation store as (embeddings, image ids).

    Parameters
    ----------
    path : str or Path
        A finished activation store (items carry ``image_id``).
    unit : str
        The unit space (``embeds``, or a layered one such as ``resid``).
    layer : int
        Layer of a layered unit space (index into the store's layers; negative from the end).

    Returns
    -------
    embeddings : ndarray of shape (n_items, n_dims)
    image_ids : ndarray of str
    """
    features, ids = read_image_features(path, unit, (layer,))
    (values,) = features.values()
    return values.astype(np.float64), ids


def _rows(item_ids: np.ndarray, image_ids: np.ndarray, where: str) -> np.ndarray:
    lookup: dict[str, int] = {}
    for row, image_id in enumerate(item_ids):
        lookup.setdefault(str(image_id), row)
    missing = [i for i in image_ids if i not in lookup]
    if missing:
        raise NeuroalignError(
            f"{where}: {len(missing)} images of the betas have no embedding (first "
            f"{missing[0]!r}); extract the activations of the dataset's image table."
        )
    return np.array([lookup[i] for i in image_ids])


def decode(
    settings: DecodeSettings,
    *,
    embeddings: str | Path,
    dataset: str | Path,
    subject: str,
    output: str | Path,
) -> Path:
    """Decode one model's image embedding from one subject's voxels and write ``decode.nc``.

    Parameters
    ----------
    settings : DecodeSettings
        One ``vision.decode`` entry.
    embeddings : str or Path
        The model's activation store of the dataset's images (unit space ``settings.unit``).
    dataset : str or Path
        The vision fMRI dataset folder (`neuroalign.data.vision.read_vision_betas`).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The netCDF file to write: ``pred`` and ``true`` (image_test x dim), ``image_id``,
        ``split``, ``alpha`` (dim), ``score``/``low``/``high``/``chance`` (metric) and
        ``per_image`` (metric x image_test).

    Returns
    -------
    output : Path

    Examples
    --------
    >>> settings = DecodeSettings.from_config({"dataset": "sim_vision", "model": "tiny_clip"})
    >>> decode(settings, embeddings="results/activations/tiny_clip/sim_vision.zarr",
    ...        dataset="data/raw/sim_vision", subject="01",
    ...        output="decode.nc")  # doctest: +SKIP
    """
    from neuroalign.data.vision import read_vision_betas

    output = Path(output)
    betas = read_vision_betas(dataset, subject, zscore_sessions=settings.zscore_sessions)
    avg = betas.average_repeats()
    ids = np.asarray(avg.image_ids).astype(str)
    split = np.asarray(avg.split).astype(str)
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    if train.size < settings.folds or test.size < 2:
        raise NeuroalignError(
            f"{betas.dataset} sub-{subject}: {train.size} train and {test.size} test images; "
            f"need at least {settings.folds} (the folds) and 2."
        )
    values, item_ids = read_embeddings(embeddings, settings.unit, settings.layer)
    Y = values[_rows(item_ids, ids, str(embeddings))]
    device = resolve_device(settings.device, field="vision.decode.device")
    fit = decode_arrays(
        avg.betas,
        Y,
        train,
        test,
        alphas=settings.alphas,
        folds=settings.folds,
        rescale=settings.rescale,
        subset_size=settings.subset_size,
        n_subsets=settings.n_subsets,
        n_bootstrap=settings.n_bootstrap,
        ci_level=settings.ci_level,
        seed=settings.random_seed,
        device=device,
        dtype=settings.dtype,
    )
    ds = _to_dataset(fit, ids, split, test)
    ds.attrs.update(
        provenance(
            stage="vision_decode",
            config={**settings.to_dict(), "seed": settings.random_seed, "subject": subject},
            seed=settings.random_seed,
            inputs={"embeddings": embeddings},
            dataset=betas.dataset,
            subject=subject,
            model=settings.model,
            unit=settings.unit,
            two_way="MindEye: r = corrcoef(real, pred)[:N, N:]; per prediction j the fraction "
            "of i != j with r[i, j] < r[j, j]; mean over j (chance 0.5)",
            retrieval=f"top-1 by cosine within {settings.n_subsets} random subsets of "
            f"{fit.subset_size} test images (min(subset_size, n_test)); forward = brain -> "
            "image, backward = image -> brain; mean over subsets",
            bootstrap="percentile intervals of the mean of per-image scores over test-image "
            f"resamples ({settings.n_bootstrap}, level {settings.ci_level})",
            normalization="voxels z-scored with the training images' statistics; predictions "
            + ("rescaled to the mean training-embedding norm" if settings.rescale else "as fit"),
            simulated=str(betas.dataset).startswith("sim_"),
            n_train_images=int(train.size),
            n_test_images=int(test.size),
            n_voxels=int(avg.betas.shape[1]),
            n_lower_edge=fit.n_lower_edge,
            n_upper_edge=fit.n_upper_edge,
            alphas_searched=f"{fit.grid.min():.3g} to {fit.grid.max():.3g} ({fit.grid.size})",
        )
    )
    write_netcdf(ds, output)
    logger.info(
        "wrote %s (2-way %.3f, retrieval %.3f/%.3f)",
        output,
        fit.scores["two_way"]["value"],
        fit.scores["retrieval_forward"]["value"],
        fit.scores["retrieval_backward"]["value"],
    )
    return output


def _to_dataset(fit: DecodeFit, ids: np.ndarray, split: np.ndarray, test: np.ndarray):
    metric = list(SCORES)
    coords = {
        "image_test": ("image_test", ids[test].astype(str)),
        "image": ("image", ids.astype(str)),
        "metric": ("metric", np.array(metric)),
        "dim": ("dim", np.arange(fit.pred.shape[1])),
    }
    data = {
        "pred": (("image_test", "dim"), fit.pred.astype(np.float32)),
        "true": (("image_test", "dim"), fit.true.astype(np.float32)),
        "split": (("image",), split.astype(str)),
        "alpha": (("dim",), fit.alpha),
        "score": (("metric",), [fit.scores[m]["value"] for m in metric]),
        "low": (("metric",), [fit.scores[m]["low"] for m in metric]),
        "high": (("metric",), [fit.scores[m]["high"] for m in metric]),
        "chance": (("metric",), [fit.scores[m]["chance"] for m in metric]),
        "per_image": (
            ("metric", "image_test"),
            np.stack([fit.scores[m]["per_image"] for m in metric]),
        ),
    }
    ds = xr.Dataset(data, coords=coords)
    return ds.assign_coords(image_id=("image_test", ids[test].astype(str)))


def describe(path: str | Path) -> str:
    """One line per score of a ``decode.nc``: value, interval and chance."""
    ds = load_netcdf(path, "decoding result")
    lines = []
    for m in ds["metric"].values:
        s = ds.sel(metric=m)
        lines.append(
            f"{m}: {float(s['score']):.3f} [{float(s['low']):.3f}, {float(s['high']):.3f}] "
            f"(chance {float(s['chance']):.4f})"
        )
    return "\n".join(lines)
