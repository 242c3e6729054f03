"""Reconstruction: images generated from decoded embeddings through an unCLIP-style pipeline.

The stage reads the predicted image embeddings of the decoding stage (``decode.nc``), and for
each image draws ``n_samples`` samples from the pipeline conditioned on the prediction
(``image_embeds=``, ``noise_level`` and an empty prompt by default). Every sample has its own seed,
a function of the base seed, the image's id and the sample number (:func:`seed_table`), stored
in the output table, so any one image can be regenerated alone. With ``select = "best_cosine"``
the sample whose embedding (the pipeline's image encoder, or an injected embedder) is closest in
cosine to the prediction is the chosen one (MindEye's best-of-n); with ``"first"``, sample 0.

Outputs, in one folder written next to its final place and renamed into it (a folder at the final
path is complete)::

    recons/<image_id>_s<k>.png     every sample
    truth/<image_id>.png           the ground-truth image (when a stimulus table is given)
    recons.parquet                 image_id, index, sample, seed, path, cosine, chosen (+ truth)
                                   with provenance (settings, seeds, library versions) in its
                                   schema metadata (key b"neuroalign")
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError, check_option
from neuroalign._io import atomic_path, provenance
from neuroalign.results import load_netcdf
from neuroalign.settings import StageSettings

logger = logging.getLogger(__name__)

__all__ = [
    "METADATA_KEY",
    "ReconstructSettings",
    "best_of_n",
    "check_embedding_size",
    "cosine",
    "embedding_size",
    "read_predictions",
    "read_recons",
    "reconstruct",
    "seed_table",
]

#: The parquet schema metadata key holding the provenance of ``recons.parquet``.
METADATA_KEY = b"neuroalign"
#: The libraries whose versions the provenance records.
_LIBRARIES = ("torch", "diffusers", "transformers", "numpy")
SELECT = ("best_cosine", "first")


@dataclass(frozen=True, kw_only=True)
class ReconstructSettings(StageSettings):
    """How one reconstruction runs (an entry of the config's ``vision.reconstruct``).

    Attributes
    ----------
    decode : str or None
        The ``vision.decode`` entry whose predictions are read (workflow routing only).
    pipeline : str
        Source of the unCLIP-style pipeline (``hf:<id>[@rev]`` or ``path:<dir>``); the stage's
        ``pipeline`` argument overrides it.
    variable : str
        The variable of ``decode.nc`` holding the predicted embeddings.
    split : str or None
        Reconstruct the images of this split only (when ``decode.nc`` has a ``split``); None: all.
    n_images : int or None
        At most this many images (the first ones), for quick runs; None: all.
    n_samples : int
        Samples per image.
    select : {"best_cosine", "first"}
        Which sample is chosen.
    steps : int
        Denoising steps.
    guidance_scale : float
        Classifier-free guidance scale (1 or less: no guidance, the default, which the tiny
        demo pipeline needs; diffusers' StableUnCLIPImg2ImgPipeline defaults to 10, MindEye1
        used 3.5 with Versatile Diffusion, MindEye2 5: set it for a real checkpoint).
    noise_level : int
        Noise added to the image embeddings (0: none).
    prompt : str
        Text prompt ("" for embedding-only reconstruction).
    batch_size : int
        Samples per pipeline call (a batch generates what single calls do).
    device, dtype : str
        Placement and precision (`neuroalign.devices`).
    seed : int or None
        Base seed of the seed table; None: the top-level seed (0 from Python).
    """

    SECTION: ClassVar[str] = "#/$defs/vision_reconstruct"

    decode: str | None = None
    pipeline: str = "path:results/models/tiny_unclip"
    variable: str = "pred"
    split: str | None = "test"
    n_images: int | None = None
    n_samples: int = 4
    select: str = "best_cosine"
    steps: int = 20
    guidance_scale: float = 1.0
    noise_level: int = 0
    prompt: str = ""
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "auto"
    seed: int | None = None


def _id_key(image_id: Any) -> int:
    """A stable 64-bit integer of an image id (its text's SHA-256), the same in every run."""
    return int.from_bytes(hashlib.sha256(str(image_id).encode()).digest()[:8], "little")


def seed_table(image_ids: Sequence[Any], n_samples: int, base_seed: int = 0) -> pd.DataFrame:
    """The seed of every (image, sample): the first word of ``SeedSequence([base, key, sample])``.

    ``key`` is a 64-bit integer of the image id's text (its SHA-256), so a sample's seed
    depends only on the base seed, its image's id and the sample number: the same image gets the
    same seeds whatever the split, order or number of the other images, changing ``n_samples``
    keeps every other seed, and two images never share a stream.

    Parameters
    ----------
    image_ids : sequence
        The images' ids, in the order of the table (unique).
    n_samples : int
        Samples per image.
    base_seed : int
        The run's base seed.

    Returns
    -------
    table : DataFrame
        Columns ``index`` (position in ``image_ids``), ``sample``, ``seed`` (int64, below
        2**32), image-major.
    """
    ids = [str(i) for i in image_ids]
    if len(set(ids)) != len(ids):
        raise NeuroalignError("seed_table: image ids must be unique (one seed stream an image).")
    rows = [
        (i, k, int(np.random.SeedSequence([int(base_seed), key, k]).generate_state(1)[0]))
        for i, key in enumerate(_id_key(image_id) for image_id in ids)
        for k in range(int(n_samples))
    ]
    return pd.DataFrame(rows, columns=["index", "sample", "seed"]).astype("int64")


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two arrays of shape (n, d)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.where(norm > 0, norm, np.nan)


def best_of_n(cosines: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mark, in each group (image), the row of maximal cosine (the first on ties; NaN never wins).

    Parameters
    ----------
    cosines : array, shape (n,)
    groups : array, shape (n,)
        The image each row belongs to.

    Returns
    -------
    chosen : bool array, shape (n,)
    """
    cosines = np.asarray(cosines, dtype=np.float64)
    score = np.where(np.isnan(cosines), -np.inf, cosines)
    chosen = np.zeros(len(cosines), dtype=bool)
    for group in pd.unique(np.asarray(groups)):
        rows = np.flatnonzero(np.asarray(groups) == group)
        chosen[rows[np.argmax(score[rows])]] = True
    return chosen


def read_predictions(
    path: str | Path, variable: str = "pred", split: str | None = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted embeddings and their image ids from a decoding result.

    ``variable`` is 2-D (image x embedding); image ids come from its first dimension's
    ``image_id`` coordinate, else that dimension's labels. With ``split`` and a ``split``
    coordinate on that dimension, only that split's images are kept.

    Returns
    -------
    embeds : array, shape (n_images, d), float32
    image_ids : array of str, shape (n_images,)
    """
    ds = load_netcdf(path, "decoding result")
    if variable not in ds:
        raise NeuroalignError(
            f"{path}: no variable {variable!r} (has {', '.join(map(str, ds.data_vars))}); set "
            "`variable` to the predicted embeddings"
        )
    pred = ds[variable]
    if pred.ndim != 2:
        raise NeuroalignError(f"{path}: {variable} has dims {pred.dims}; expected (image, embed)")
    dim = pred.dims[0]
    ids = np.asarray((pred["image_id"] if "image_id" in pred.coords else pred[dim]).values)
    ids = ids.astype(str)
    keep = np.ones(pred.shape[0], dtype=bool)
    if split is not None:
        splits = _splits(ds, dim, ids)
        if splits is not None:
            keep = splits == split
            if not keep.any():
                held = ", ".join(sorted(set(splits)))
                raise NeuroalignError(
                    f"{path}: no prediction of a {split!r} image ({variable} holds {held} "
                    "images); set split to one of those, or null"
                )
    embeds = np.asarray(pred.values, dtype=np.float32)[keep]
    return embeds, ids[keep]


def _splits(ds: Any, dim: str, ids: np.ndarray) -> np.ndarray | None:
    """The split of each predicted image: a ``split`` coordinate on the predictions' dimension,
    or the decoding result's ``split`` variable over all its images (``image``), looked up by
    image id; None when the file has neither."""
    if "split" in ds.coords and ds["split"].dims == (dim,):
        return np.asarray(ds["split"].values).astype(str)
    if "split" in ds and ds["split"].ndim == 1:
        other = ds["split"].dims[0]
        labels = np.asarray(ds[other].values).astype(str)
        lookup = dict(zip(labels, np.asarray(ds["split"].values).astype(str), strict=True))
        if not any(i in lookup for i in ids):
            return None  # the split is of other labels than the predictions' ids
        return np.array([lookup.get(i, "") for i in ids])
    return None


def _versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    pixels = np.clip(np.round(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")


def _truth_images(stimuli: Path) -> dict[str, Path]:
    """image_id -> ground-truth image file, from a stimulus table with image_id and image."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(stimuli)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{stimuli}: not a readable stimulus table ({err})") from err
    df = table.to_pandas()
    if not {"image_id", "image"} <= set(df.columns):
        raise NeuroalignError(f"{stimuli}: a stimulus table with image_id and image columns")
    meta = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}") or b"{}")
    info = meta.get("info", {}) if isinstance(meta.get("info"), dict) else {}
    root = Path(meta.get("image_root") or info.get("image_root") or stimuli.parent)
    out = {}
    for image_id, image in zip(df["image_id"].astype(str), df["image"].astype(str), strict=True):
        path = Path(image)
        out[image_id] = path if path.is_absolute() else root / path
    return out


def reconstruct(
    settings: ReconstructSettings,
    *,
    decode: str | Path,
    output: str | Path,
    pipeline: Any = None,
    stimuli: str | Path | None = None,
    embedder: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Path:
    """Generate reconstructions from a decoding result's predicted embeddings.

    Parameters
    ----------
    settings : ReconstructSettings
        Samples, selection, sampler and seed.
    decode : path
        The decoding result (``decode.nc``): predicted embeddings with image ids.
    output : path
        The folder to write (replaced when it exists; see the module docstring).
    pipeline : str or pipeline, optional
        A pipeline source (``hf:``/``path:``), or a loaded unCLIP-style pipeline; default:
        ``settings.pipeline``.
    stimuli : path, optional
        A stimulus table with ``image_id`` and ``image`` columns: the ground-truth images are
        copied next to the reconstructions (for the report's gallery).
    embedder : callable, optional
        Images (n, h, w, 3) in [0, 1] -> embeddings (n, d) for the best-of-n cosine; default: the
        pipeline's image encoder.

    Returns
    -------
    output : Path
    """
    from neuroalign.vision.unclip import embed_images, generate, load_pipeline

    check_option("select", settings.select, SELECT)
    decode, output = Path(decode), Path(output)
    embeds, image_ids = read_predictions(decode, settings.variable, settings.split)
    if settings.n_images is not None:
        embeds, image_ids = embeds[: settings.n_images], image_ids[: settings.n_images]
    source = pipeline if pipeline is not None else settings.pipeline
    pipe = (
        load_pipeline(source, device=settings.device, dtype=settings.dtype)
        if isinstance(source, str)
        else source
    )
    check_embedding_size(pipe, embeds, f"{decode} ({settings.variable})")
    truths = _checked_truths(Path(stimuli), image_ids) if stimuli is not None else {}
    base_seed = 0 if settings.seed is None else int(settings.seed)
    table = seed_table(image_ids, settings.n_samples, base_seed)
    rows = table["index"].to_numpy()
    seeds = table["seed"].tolist()
    logger.info(
        "reconstructing %d images x %d samples (%d steps)",
        len(image_ids),
        settings.n_samples,
        settings.steps,
    )
    embed = embedder if embedder is not None else embed_images(pipe)
    table["image_id"] = image_ids[rows]
    pairs = zip(table["image_id"], table["sample"], strict=True)
    table["path"] = [f"recons/{i}_s{k}.png" for i, k in pairs]
    table["truth"] = [f"truth/{i}.png" if i in truths else "" for i in table["image_id"]]
    cosines = np.full(len(table), np.nan)
    batch = max(1, int(settings.batch_size))
    with atomic_path(output) as tmp:
        (tmp / "recons").mkdir(parents=True)
        # Batch by batch: each batch's images are embedded and written before the next is
        # made, so memory holds one batch whatever the number of images.
        for start in range(0, len(table), batch):
            part = slice(start, start + batch)
            images = generate(
                pipe,
                embeds[rows[part]],
                seeds[part],
                steps=settings.steps,
                guidance_scale=settings.guidance_scale,
                noise_level=settings.noise_level,
                prompt=settings.prompt,
                batch_size=batch,
            )
            cosines[part] = cosine(embed(images), embeds[rows[part]])
            for image, rel in zip(images, table["path"].iloc[part], strict=True):
                _save_png(image, tmp / rel)
            logger.info("%d of %d samples", min(start + batch, len(table)), len(table))
        table["cosine"] = cosines
        if settings.select == "best_cosine":
            table["chosen"] = best_of_n(table["cosine"].to_numpy(), rows)
        else:
            table["chosen"] = table["sample"].to_numpy() == 0
        table = table[["image_id", "index", "sample", "seed", "path", "cosine", "chosen", "truth"]]
        inputs = {"decode": decode} | ({"stimuli": Path(stimuli)} if stimuli is not None else {})
        meta = provenance(
            stage="reconstruct",
            config=settings.to_dict(),
            inputs=inputs,
            seed=base_seed,
            pipeline=_pipeline_record(source, pipe),
            seed_rule="SeedSequence([seed, index, sample]).generate_state(1)[0]",
        )
        meta["libraries"] = _versions()
        if truths:
            _write_truths(truths, table, tmp)
        _write_parquet(table, meta, tmp / "recons.parquet")
    return output


def embedding_size(pipe: Any) -> int | None:
    """The image-embedding size an unCLIP-style pipeline is conditioned on (its image
    normalizer's, else half its UNet's projection input: the embedding and its noise-level
    embedding are concatenated); None when it says neither."""
    normalizer = getattr(pipe, "image_normalizer", None)
    mean = getattr(normalizer, "mean", None)
    if mean is not None:
        return int(mean.shape[-1])
    config = getattr(getattr(pipe, "unet", None), "config", None)
    size = getattr(config, "projection_class_embeddings_input_dim", None)
    return int(size) // 2 if size else None


def check_embedding_size(pipe: Any, embeds: np.ndarray, where: str) -> None:
    """Refuse predictions whose size is not the pipeline's conditioning size."""
    size = embedding_size(pipe)
    if size is not None and embeds.shape[1] != size:
        raise NeuroalignError(
            f"{where}: predicted embeddings have {embeds.shape[1]} values but the pipeline is "
            f"conditioned on {size}; decode into the pipeline's image-encoder space (its "
            "`embeds` units)"
        )


def _checked_truths(stimuli: Path, image_ids: np.ndarray) -> dict[str, Path]:
    """The ground-truth files of the images to reconstruct, each checked to exist before any
    image is made; images the table lacks are counted in a warning (none found: an error)."""
    truths = _truth_images(stimuli)
    wanted = {str(i): truths[str(i)] for i in pd.unique(image_ids) if str(i) in truths}
    if not wanted:
        raise NeuroalignError(
            f"{stimuli}: none of the {len(set(image_ids))} images to reconstruct is in the "
            f"stimulus table (first id {image_ids[0]!r}); pass the decoded dataset's table"
        )
    missing = len(set(image_ids)) - len(wanted)
    if missing:
        logger.warning("%s: %d images to reconstruct have no ground truth there", stimuli, missing)
    for image_id, path in wanted.items():
        if not path.is_file():
            raise NeuroalignError(f"ground-truth image of {image_id!r} not found: {path}")
    return wanted


def _pipeline_record(source: Any, pipe: Any) -> dict[str, Any]:
    """What the provenance says of the pipeline: its source, name, scheduler and precision."""
    scheduler = getattr(pipe, "scheduler", None)
    unet = getattr(pipe, "unet", None)
    return {
        "source": str(source) if isinstance(source, str) else type(source).__name__,
        "name_or_path": str(getattr(getattr(pipe, "config", None), "_name_or_path", "")),
        "class": type(pipe).__name__,
        "scheduler": type(scheduler).__name__ if scheduler is not None else "",
        "scheduler_config": dict(getattr(scheduler, "config", {}) or {}),
        "dtype": str(getattr(unet, "dtype", "")),
        "device": str(getattr(pipe, "_execution_device", getattr(pipe, "device", ""))),
    }


def _write_truths(truths: Mapping[str, Path], table: pd.DataFrame, folder: Path) -> None:
    from PIL import Image

    (folder / "truth").mkdir()
    for image_id in pd.unique(table["image_id"]):
        if image_id in truths:
            with Image.open(truths[image_id]) as img:
                img.convert("RGB").save(folder / "truth" / f"{image_id}.png", format="PNG")


def _write_parquet(table: pd.DataFrame, meta: Mapping[str, Any], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    schema_meta = dict(arrow.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(dict(meta), sort_keys=True, default=str).encode()
    pq.write_table(arrow.replace_schema_metadata(schema_meta), path)


def read_recons(folder: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a reconstruction folder's table and provenance.

    Returns
    -------
    table : DataFrame
        One row per sample (see the module docstring).
    meta : dict
        The provenance (settings, seeds rule, library versions).

    Raises
    ------
    NeuroalignError
        If the folder has no readable ``recons.parquet``.
    """
    import pyarrow.parquet as pq

    path = Path(folder) / "recons.parquet"
    if not path.is_file():
        raise NeuroalignError(f"reconstructions not found: {path}; run `neuroalign reconstruct`")
    try:
        arrow = pq.read_table(path)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{path}: not a readable reconstruction table ({err})") from err
    meta = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}") or b"{}")
    return arrow.to_pandas(), meta
