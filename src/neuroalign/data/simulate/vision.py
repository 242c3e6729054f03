"""Image-viewing fMRI with planted property ROIs (``sim_vision``, THINGS-fMRI layout).

Two steps, so a model's activations for the images can drive the voxels:

1. :func:`simulate_vision_images` draws the procedural images (a shape with a colour and a
   texture on a grey background, e.g. "a red striped circle") and writes them with their
   table: ``images/<shape>/<image_id>.png`` and ``images.tsv`` (``image_id``, ``image``,
   ``shape``, ``colour``, ``texture``, ``caption``, ``split``).
2. :func:`simulate_vision` writes the single-trial betas in the THINGS-fMRI volumetric layout
   (``betas_vol/sub-XX/ses-NN/..._betas.nii.gz`` + ``_conditions.tsv``, brain mask, ROI masks)
   that :func:`neuroalign.data.vision.read_vision_betas` reads, and the planted truth in
   ``derivatives/planted/`` (``truth.nc``, ``truth.json``).

Generative model, per subject, image ``i``, trial ``t`` and voxel ``v``::

    s_v(i) = c_v * ((1 - p) ** 0.5 * z_e(E_i @ W_v) + p ** 0.5 * z_p(P_i @ Q_v))
    beta_v(t) = o_v(session) + s_v(image(t)) + noise_sd_v * eps

``E`` is the image embedding (a seeded random one, or principal components of a model's
activations for the images, z-scored), ``W`` a planted Gaussian map; ``P`` the one-hot
property of the voxel's ROI (shape, colour or texture) and ``Q_v`` the one-hot of its
preferred value; ``p`` = ``property_share`` in ROI voxels, 0 elsewhere; ``z_e``, ``z_p``
standardize over images; ``c_v`` sets the signal SD (``signal_sd`` times a random factor in
visual voxels, 0 outside them). The planted SNR is ``c_v / noise_sd_v``, hence the planted
noise ceiling ``100 snr**2 / (snr**2 + 1/n)``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, suggest
from neuroalign._io import atomic_path, provenance
from neuroalign.data.dataset_lock import dataset_lock
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.features import reduce_dim
from neuroalign.data.simulate.settings import SimVisionSettings
from neuroalign.results import check_replaceable, open_activations, write_netcdf

logger = logging.getLogger(__name__)

DATASET_ID = "sim_vision"
PLANTED_DIR = Path("derivatives") / "planted"
IMAGE_TABLE = "images.tsv"
#: Every name the two steps write at the top of the dataset folder (the guard's allow-list).
_OWN_NAMES = frozenset(
    {"images", IMAGE_TABLE, "betas_vol", "derivatives", "README", "dataset_description.json"}
)


def is_sim_vision(path: str | Path) -> bool:
    """Whether a folder holds only what the simulated vision dataset writes (or its temp names)."""
    return all(
        entry.name in _OWN_NAMES or (entry.name.startswith(".") and entry.name.endswith(".tmp"))
        for entry in Path(path).iterdir()
    )


def check_vision_output(output: str | Path) -> None:
    """Refuse a dataset folder that holds anything the simulated vision dataset did not write."""
    check_replaceable(output, owned=is_sim_vision, flag="--output", what="sim_vision dataset")


SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
}
TEXTURES = ("plain", "striped", "dotted", "checkered")
PROPERTIES = {"shape": SHAPES, "colour": tuple(COLOURS), "texture": TEXTURES}
GRID = (12, 14, 10)
VOXEL_MM = 3.0
# Property ROI centres (voxel indices) in the posterior (visual) half of the grid.
ROI_CENTRES = {"shape": (3.5, 3.0, 4.5), "colour": (8.0, 3.0, 4.5), "texture": (6.0, 5.0, 6.5)}


# ------------------------------------------------------------------------------------------
# Images


def image_design(settings: SimVisionSettings) -> pd.DataFrame:
    """Return the image table of the settings (no pixels): ids, properties, captions, split.

    Every shape x colour x texture combination is used in turn (in a seeded order), so the
    properties are balanced; the test images are a seeded random subset.
    """
    seed = settings.seed or 0
    rng = np.random.default_rng([seed, 10])
    combos = [(s, c, t) for s in SHAPES for c in COLOURS for t in TEXTURES]
    n = settings.n_train + settings.n_test
    order = np.concatenate([rng.permutation(len(combos)) for _ in range(-(-n // len(combos)))])
    chosen = [combos[k] for k in order[:n]]
    test = np.zeros(n, dtype=bool)
    test[rng.choice(n, settings.n_test, replace=False)] = True
    ids = [f"{shape}_{i:04d}" for i, (shape, _, _) in enumerate(chosen)]
    return pd.DataFrame(
        {
            "image_id": ids,
            "image": [f"images/{s}/{i}.png" for i, (s, _, _) in zip(ids, chosen, strict=True)],
            "shape": [c[0] for c in chosen],
            "colour": [c[1] for c in chosen],
            "texture": [c[2] for c in chosen],
            "caption": [
                f"a {c} {t} {s}" if t != "plain" else f"a plain {c} {s}" for s, c, t in chosen
            ],
            "split": np.where(test, "test", "train"),
        }
    )


def draw_image(
    shape: str, colour: str, texture: str, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Return an RGB uint8 image (size x size x 3) of one shape with a colour and texture.

    Position, scale and texture phase are jittered by ``rng``; the background is mid grey
    with faint pixel noise.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(float) / size
    cx, cy = rng.uniform(0.4, 0.6, 2)
    r = rng.uniform(0.26, 0.36)
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        inside = dx**2 + dy**2 <= r**2
    elif shape == "square":
        inside = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    elif shape == "triangle":
        inside = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    elif shape == "cross":
        arm = r * 0.33
        inside = ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | (
            (np.abs(dy) <= arm) & (np.abs(dx) <= r)
        )
    else:
        raise NeuroalignError(f"unknown shape {shape!r}; shapes are {SHAPES}.")
    period = 0.09
    phase = rng.uniform(0, period)
    if texture == "plain":
        shade = np.ones_like(xx)
    elif texture == "striped":
        shade = np.where(np.mod(xx + yy + phase, period) < period / 2, 1.0, 0.45)
    elif texture == "dotted":
        u, v = np.mod(xx + phase, period) - period / 2, np.mod(yy + phase, period) - period / 2
        shade = np.where(u**2 + v**2 < (period * 0.3) ** 2, 0.35, 1.0)
    elif texture == "checkered":
        shade = np.where(
            (np.floor((xx + phase) / period) + np.floor(yy / period)) % 2 == 0, 1.0, 0.45
        )
    else:
        raise NeuroalignError(f"unknown texture {texture!r}; textures are {TEXTURES}.")
    img = np.full((size, size, 3), 128.0) + rng.normal(0, 4, (size, size, 3))
    rgb = np.asarray(COLOURS[colour], float)
    img[inside] = rgb * shade[inside, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def simulate_vision_images(output: str | Path, settings: SimVisionSettings | None = None) -> Path:
    """Write the simulated images and their table into the dataset folder ``output``.

    Writes ``<output>/images/`` and ``<output>/images.tsv`` (each atomically); the betas of
    :func:`simulate_vision` go beside them.

    Returns
    -------
    output : Path
    """
    from PIL import Image

    cfg = settings or SimVisionSettings()
    output = Path(output)
    with dataset_lock(output, holder="simulation"):  # the lock of `simulate` and fetch
        check_vision_output(output)
        table = image_design(cfg)
        logger.info("drawing %d images of %d pixels", len(table), cfg.image_size)
        with atomic_path(output / "images") as tmp:
            for k, row in enumerate(table.itertuples()):
                rng = np.random.default_rng([cfg.seed or 0, 11, k])
                pixels = draw_image(row.shape, row.colour, row.texture, cfg.image_size, rng)
                path = tmp.parent / row.image
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
        with atomic_path(output / IMAGE_TABLE) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
    return output


# ------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True)
class ImageFeatures:
    """A model's activations per image: ``values`` (n_images, n_units) in ``image_ids`` order."""

    image_ids: np.ndarray
    values: np.ndarray
    source: str


def read_image_features(path: str | Path, *, units: str, layer: int) -> ImageFeatures:
    """Read one layer of a unit space from an activation store of images.

    Parameters
    ----------
    path : str or Path
        An activation store (Zarr) whose ``item`` dim carries an ``image_id`` coordinate.
    units : str
        Its data variable (unit space), e.g. ``"resid"``.
    layer : int
        Layer to take; negative counts from the end of the store's layers.
    """
    path = Path(path)
    with open_activations(path) as ds:
        if units not in ds.data_vars:
            raise NeuroalignError(
                f"{path}: no variable {units!r}; it has {sorted(ds.data_vars)}."
                f"{suggest(units, ds.data_vars)}"
            )
        var = ds[units]
        if "image_id" not in var.coords:
            raise NeuroalignError(
                f"{path}: field 'image_id' missing along 'item'; extract the activations of the "
                "image stimulus table (reader images)."
            )
        if "layer" in var.dims:
            layers = var.coords["layer"].values.tolist()
            if -len(layers) <= layer < 0:
                layer = layers[layer]
            if layer not in layers:
                raise NeuroalignError(
                    f"{path}: {units!r} has layers {layers}; pick one with "
                    "simulate.vision.features.layer (negative counts from the end)."
                )
            var = var.sel(layer=layer, drop=True)
        unit_dims = [d for d in var.dims if d != "item"]
        if len(unit_dims) != 1:
            raise NeuroalignError(f"{path}: {units!r} has dims {var.dims}; expected one unit dim.")
        values = var.transpose("item", unit_dims[0]).to_numpy().astype(float)
        ids = var.coords["image_id"].to_numpy().astype(object).astype(str)
    return ImageFeatures(image_ids=ids, values=values, source=str(path))


def image_embedding(
    table: pd.DataFrame, dim: int, seed: int, features: ImageFeatures | None
) -> np.ndarray:
    """Return the z-scored embedding (n_images, dim) that drives the voxels.

    Without features, a seeded standard normal embedding; with features, the first ``dim``
    principal components of the images' activations (an image's rows averaged if repeated).
    """
    if features is None:
        emb = np.random.default_rng([seed, 12]).standard_normal((len(table), dim))
    else:
        frame = pd.DataFrame(features.values).groupby(features.image_ids).mean()
        missing = sorted(set(table["image_id"]) - set(frame.index))
        if missing:
            raise NeuroalignError(
                f"{features.source}: {len(missing)} simulated images have no activations, e.g. "
                f"{missing[:3]}; extract features for the sim_vision stimulus table."
            )
        emb = reduce_dim(frame.loc[table["image_id"]].to_numpy(float), dim)
    sd = emb.std(axis=0)
    sd[sd == 0] = 1.0
    return (emb - emb.mean(axis=0)) / sd


# ------------------------------------------------------------------------------------------
# Betas


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the brain mask (an ellipsoid), its affine and the visual (posterior) mask."""
    idx = np.indices(GRID).astype(float)
    centre = (np.array(GRID) - 1) / 2
    radii = np.array(GRID) / 2
    brain = sum(((idx[a] - centre[a]) / radii[a]) ** 2 for a in range(3)) <= 1.0
    visual = brain & (idx[1] < GRID[1] * 0.5)
    affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    affine[:3, 3] = -centre * VOXEL_MM
    return brain, affine, visual


def _roi_masks(radius: float, brain: np.ndarray, visual: np.ndarray) -> dict[str, np.ndarray]:
    idx = np.indices(GRID).astype(float)
    out = {}
    for name, c in ROI_CENTRES.items():
        out[name] = (sum((idx[a] - c[a]) ** 2 for a in range(3)) <= radius**2) & visual & brain
    taken = np.zeros(GRID, bool)
    for name in out:  # one ROI per voxel
        out[name] &= ~taken
        taken |= out[name]
    return out


def trial_order(table: pd.DataFrame, cfg: SimVisionSettings, seed: int) -> pd.DataFrame:
    """Return the trials: image, session, run, trial type, in presentation order."""
    reps = np.where(table["split"] == "test", cfg.test_repeats, cfg.train_repeats)
    images = np.repeat(np.arange(len(table)), reps)
    images = images[np.random.default_rng([seed, 13]).permutation(images.size)]
    sessions = np.array_split(images, cfg.n_sessions)
    rows = []
    for s, block in enumerate(sessions, start=1):
        for r, run in enumerate(np.array_split(block, cfg.runs_per_session), start=1):
            rows += [(i, s, r) for i in run]
    frame = pd.DataFrame(rows, columns=["image_index", "session", "run"])
    frame["image_id"] = table["image_id"].to_numpy()[frame["image_index"]]
    frame["trial_type"] = np.where(
        table["split"].to_numpy()[frame["image_index"]] == "test", "test", "exp"
    )
    return frame


def simulate_vision(
    output: str | Path,
    settings: SimVisionSettings | None = None,
    *,
    features: ImageFeatures | None = None,
) -> Path:
    """Write the simulated single-trial betas and planted truth into the dataset folder.

    The images and ``images.tsv`` of :func:`simulate_vision_images` (same settings) must be
    there already. Writes ``betas_vol/``, ``derivatives/planted/``, ``dataset_description.json``
    and ``README`` (each atomically).

    Parameters
    ----------
    output : str or Path
        The dataset folder (``<data.root>/raw/sim_vision``).
    settings : SimVisionSettings, optional
        ``simulate.vision`` (default: the schema's defaults); its ``seed`` (None: 0) and the
        other settings fix the data bitwise.
    features : ImageFeatures, optional
        A model's activations for the images (see :func:`read_image_features`); None: a seeded
        random embedding.

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        If the image table is missing or was written with other settings.
    """
    cfg = settings or SimVisionSettings()
    seed = cfg.seed or 0
    output = Path(output)
    table = image_design(cfg)
    table_path = output / IMAGE_TABLE
    if not table_path.is_file():
        raise NeuroalignError(
            f"{table_path}: not found; write the images first (neuroalign simulate vision-images)."
        )
    written = pd.read_csv(table_path, sep="\t", keep_default_na=False)
    if "image_id" not in written or list(written["image_id"].astype(str)) != list(
        table["image_id"]
    ):
        raise NeuroalignError(
            f"{table_path}: field 'image_id' does not match these settings' images; write the "
            "images again with the same simulate.vision settings."
        )
    emb = image_embedding(table, cfg.feature_dim, seed, features)
    brain, affine, visual = _grid()
    rois_vol = _roi_masks(cfg.roi_radius, brain, visual)
    inside = brain
    visual_v = visual[inside]
    roi_index = np.full(inside.sum(), -1, dtype=np.int8)
    for k, name in enumerate(PROPERTIES):
        roi_index[rois_vol[name][inside]] = k
    trials = trial_order(table, cfg, seed)
    subjects = bids.subject_labels(cfg.n_subjects)
    n_vox = int(inside.sum())
    logger.info(
        "simulating %s: %d subjects, %d images, %d trials, %d voxels (%d visual)",
        DATASET_ID, len(subjects), len(table), len(trials), n_vox, visual_v.sum(),
    )  # fmt: skip
    planted = [_plant(np.random.default_rng([seed, 20, k]), emb, table, roi_index, visual_v, cfg)
               for k in range(len(subjects))]  # fmt: skip
    with atomic_path(output / "betas_vol") as tmp:
        for k, subject in enumerate(subjects):
            p = planted[k]
            sub_dir = tmp / f"sub-{subject}"
            sub_dir.mkdir(parents=True)
            nib.save(nib.Nifti1Image(inside.astype(np.uint8), affine),
                     sub_dir / f"sub-{subject}_brainmask.nii.gz")  # fmt: skip
            (sub_dir / "rois").mkdir()
            for name in (*PROPERTIES, "visual"):
                vol = visual if name == "visual" else rois_vol[name]
                nib.save(nib.Nifti1Image(vol.astype(np.uint8), affine),
                         sub_dir / "rois" / f"sub-{subject}_{name}.nii.gz")  # fmt: skip
            for (session, run), frame in trials.groupby(["session", "run"], sort=True):
                rng = np.random.default_rng([seed, 21, k, session, run])
                signal = p["signal"][frame["image_index"].to_numpy()]
                noise = rng.standard_normal(signal.shape) * p["noise_sd"]
                betas = p["offset"][session - 1] + signal + noise
                ses_dir = sub_dir / f"ses-{session:02d}"
                ses_dir.mkdir(exist_ok=True)
                stem = ses_dir / f"sub-{subject}_ses-{session:02d}_run-{run:02d}"
                vol = np.zeros((*GRID, len(frame)), dtype=np.float32)
                vol[inside] = betas.T.astype(np.float32)
                nib.save(nib.Nifti1Image(vol, affine), f"{stem}_betas.nii.gz")
                cond = pd.DataFrame(
                    {
                        "trial": np.arange(1, len(frame) + 1),
                        "image_filename": table["image"].to_numpy()[frame["image_index"]],
                        "trial_type": frame["trial_type"].to_numpy(),
                    }
                )
                cond.to_csv(f"{stem}_conditions.tsv", sep="\t", index=False)
    truth = _truth(planted, subjects, table, emb, roi_index, visual_v, inside, affine, cfg)
    truth.attrs.update(
        provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
    )
    truth.attrs["embedding_source"] = features.source if features is not None else "random"
    summary = {
        "dataset": DATASET_ID,
        "seed": seed,
        "settings": cfg.to_dict(),
        "subjects": subjects,
        "n_images": len(table),
        "n_trials": len(trials),
        "n_voxels": n_vox,
        "n_visual_voxels": int(visual_v.sum()),
        "rois": {name: int((roi_index == k).sum()) for k, name in enumerate(PROPERTIES)},
        "embedding_source": truth.attrs["embedding_source"],
        "planted": "weights (subject, feature, voxel), roi, preferred (subject, voxel), "
        "signal (subject, image, voxel), noise_sd, snr, noise_ceiling (percent, test_repeats "
        "trials averaged), embedding (image, feature)",
    }
    with atomic_path(output / PLANTED_DIR) as tmp:
        tmp.mkdir(parents=True)
        write_netcdf(truth, tmp / "truth.nc")
        (tmp / "truth.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    bids.write_dataset_description(
        output, "neuroalign simulated image-viewing fMRI", description=_DESCRIPTION
    )
    (output / "README").write_text(_README)
    return output


def _plant(
    rng: np.random.Generator,
    emb: np.ndarray,
    table: pd.DataFrame,
    roi_index: np.ndarray,
    visual: np.ndarray,
    cfg: SimVisionSettings,
) -> dict[str, np.ndarray]:
    n_img, n_feat = emb.shape
    n_vox = roi_index.size
    weights = rng.standard_normal((n_feat, n_vox)) * visual
    emb_part = emb @ weights
    emb_part = _standardize(emb_part)
    prop_part = np.zeros((n_img, n_vox))
    preferred = np.full(n_vox, -1, dtype=np.int64)
    for k, (name, values) in enumerate(PROPERTIES.items()):
        voxels = np.flatnonzero(roi_index == k)
        prefs = rng.integers(0, len(values), voxels.size)
        preferred[voxels] = prefs
        codes = pd.Categorical(table[name], categories=values).codes
        prop_part[:, voxels] = (codes[:, None] == prefs[None, :]).astype(float)
    prop_part = _standardize(prop_part)
    share = np.where(roi_index >= 0, cfg.property_share, 0.0)
    mixed = np.sqrt(1 - share) * emb_part + np.sqrt(share) * prop_part
    mixed = _standardize(mixed)
    scale = cfg.signal_sd * rng.uniform(0.3, 1.7, n_vox) * visual
    signal = mixed * scale
    noise_sd = cfg.noise_sd * rng.uniform(0.8, 1.2, n_vox)
    offset = rng.normal(0, 2.0, (cfg.n_sessions, n_vox))
    snr = signal.std(axis=0) / noise_sd
    return {
        "weights": weights,
        "preferred": preferred,
        "signal": signal,
        "noise_sd": noise_sd,
        "offset": offset,
        "snr": snr,
        "noise_ceiling": 100 * snr**2 / (snr**2 + 1 / cfg.test_repeats),
    }


def _standardize(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)


def _truth(
    planted: list[dict[str, np.ndarray]],
    subjects: list[str],
    table: pd.DataFrame,
    emb: np.ndarray,
    roi_index: np.ndarray,
    visual: np.ndarray,
    inside: np.ndarray,
    affine: np.ndarray,
    cfg: SimVisionSettings,
) -> xr.Dataset:
    def stack(key: str) -> np.ndarray:
        return np.stack([p[key] for p in planted])

    ijk = np.argwhere(inside)
    sv = ("subject", "voxel")
    ds = xr.Dataset(
        {
            "weights": (("subject", "feature", "voxel"), stack("weights")),
            "signal": (("subject", "image", "voxel"), stack("signal")),
            "noise_sd": (sv, stack("noise_sd")),
            "snr": (sv, stack("snr")),
            "noise_ceiling": (sv, stack("noise_ceiling")),
            "preferred": (sv, stack("preferred")),
            "roi": ("voxel", roi_index),
            "visual": ("voxel", visual.astype(np.int8)),
            "embedding": (("image", "feature"), emb),
        },
        coords={
            "subject": subjects,
            "image": table["image_id"].to_numpy(),
            "feature": np.arange(emb.shape[1]),
            "i": ("voxel", ijk[:, 0]),
            "j": ("voxel", ijk[:, 1]),
            "k": ("voxel", ijk[:, 2]),
            "shape": ("image", table["shape"].to_numpy()),
            "colour": ("image", table["colour"].to_numpy()),
            "texture": ("image", table["texture"].to_numpy()),
            "caption": ("image", table["caption"].to_numpy()),
            "split": ("image", table["split"].to_numpy()),
        },
    )
    ds["roi"].attrs["names"] = list(PROPERTIES)
    ds["roi"].attrs["description"] = "index into names: the property the voxel prefers; -1 none"
    ds["preferred"].attrs["description"] = (
        "index of the preferred value of the ROI's property (shape, colour or texture) in "
        "the values attribute; -1 outside the ROIs"
    )
    ds["preferred"].attrs["values"] = json.dumps({k: list(v) for k, v in PROPERTIES.items()})
    ds["signal"].attrs["units"] = "percent signal change (betas)"
    ds["noise_ceiling"].attrs["units"] = f"percent, for {cfg.test_repeats} trials averaged"
    ds["snr"].attrs["description"] = "signal SD over images / noise SD (NSD's ncsnr)"
    ds.attrs["affine"] = affine.tolist()
    ds.attrs["grid_shape"] = list(GRID)
    ds.attrs["test_repeats"] = int(cfg.test_repeats)
    return ds


_DESCRIPTION = "Simulated image-viewing fMRI with planted property ROIs."
_README = """Simulated image-viewing fMRI (neuroalign).

Procedural images (a shape with a colour and a texture, see images.tsv) were "shown" in
single trials; test images repeat for noise ceilings. Single-trial betas are in the
THINGS-fMRI volumetric layout (betas_vol/sub-XX/ses-NN/*_betas.nii.gz with
*_conditions.tsv). Visual voxels are a planted linear map of an image embedding plus noise;
three ROIs also prefer one shape, colour or texture. The planted truth is in
derivatives/planted/ (truth.nc, truth.json). These are not real brain data.
"""
