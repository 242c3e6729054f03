"""The image-metrics stage: reconstructions against their ground-truth images -> ``metrics.nc``.

Ground truth is a dataset folder (its image table, `neuroalign.data.vision.read_image_table`),
an image table file (parquet or CSV with ``image_id`` and ``image``, paths relative to the
table's folder) or a folder of images named ``<image_id>.<ext>``. Reconstructions are the
reconstruction stage's ``recons.parquet`` (``image_id``, ``sample``, ``path`` relative to the
table's folder, ``chosen``). Both are resized to ``image_size`` (MindEye: 256) and scored with
`neuroalign.vision.metrics.evaluate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.devices import resolve_device
from neuroalign.results import load_netcdf, write_netcdf
from neuroalign.settings import StageSettings, seed_or_default
from neuroalign.vision.metrics import METRICS, build_feature_metrics, evaluate, resize
from neuroalign.vision.retrieval import bootstrap_ci

__all__ = [
    "MetricsSettings",
    "evaluate_images",
    "load_images",
    "metrics_table",
    "read_recons",
    "read_truth",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True, kw_only=True)
class MetricsSettings(StageSettings):
    """How the image metrics run (the config's ``vision.metrics`` section).

    Attributes
    ----------
    extractors : {"random", "pretrained"}
        Weights of the feature networks (`neuroalign.vision.metrics.build_feature_metrics`).
    metrics : tuple of str
        Metrics computed (names from `neuroalign.vision.metrics.METRICS`).
    image_size : int
        Common square size both image sets are resized to first.
    recons : {"chosen", "all"}
        Score the chosen reconstruction of each image, or every sample (averaged).
    n_bootstrap : int
        Bootstrap resamples of the images (0: no intervals).
    ci_level : float
        Coverage of the percentile intervals.
    batch_size : int
        Images per forward pass.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    seed : int or None
        Seed of the random networks and the bootstrap (`random_seed` resolves a null).
    """

    SECTION: ClassVar[str] = "#/$defs/vision_metrics"

    extractors: str = "random"
    metrics: tuple[str, ...] = field(default_factory=lambda: METRICS)
    image_size: int = 256
    recons: str = "chosen"
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    batch_size: int = 16
    device: str = "auto"
    seed: int | None = None

    @property
    def random_seed(self) -> int:
        """``seed``, or the top-level seed's default when null."""
        return seed_or_default(self.seed)


def load_images(paths, size: int) -> np.ndarray:
    """Images as float32 (n, 3, size, size) in [0, 1].

    Each file is read at its own size as RGB (transparent pixels over white) and resized as a
    tensor with `neuroalign.vision.metrics.resize` (bilinear, no antialiasing, as MindEye's
    evaluation resizes its image tensors).
    """
    from PIL import Image

    out = np.empty((len(paths), 3, size, size), np.float32)
    for k, path in enumerate(paths):
        path = Path(path)
        if not path.is_file():
            raise NeuroalignError(f"image not found: {path}.")
        with Image.open(path) as img:
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            pixels = np.array(img.convert("RGB"), np.uint8)
        out[k] = resize(pixels[None], size)[0].numpy()
    return out


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def read_truth(truth: str | Path) -> dict[str, Path]:
    """Ground-truth image paths by ``image_id`` from a dataset folder, table or image folder."""
    truth = Path(truth)
    if truth.is_file():
        table, root = _table(truth), truth.parent
    elif truth.is_dir():
        images = {p.stem: p for p in sorted(truth.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        if images:
            return images
        from neuroalign.data.vision import read_image_table

        table, root = read_image_table(truth), truth
    else:
        raise NeuroalignError(f"ground-truth images not found: {truth}.")
    missing = {"image_id", "image"} - set(table.columns)
    if missing:
        raise NeuroalignError(f"{truth}: the image table lacks column(s) {sorted(missing)}.")
    return {str(i): root / str(p) for i, p in zip(table["image_id"], table["image"], strict=True)}


def read_recons(recons: str | Path, which: str = "chosen") -> pd.DataFrame:
    """The reconstruction table (``recons.parquet`` or its folder), paths made absolute.

    Parameters
    ----------
    recons : str or Path
        ``recons.parquet`` or the folder holding it.
    which : {"chosen", "all"}
        Keep each image's chosen reconstruction only, or every sample.
    """
    recons = Path(recons)
    if recons.is_dir():
        recons = recons / "recons.parquet"
    if not recons.is_file():
        raise NeuroalignError(f"reconstruction table not found: {recons}; run reconstruct.")
    table = _table(recons)
    missing = {"image_id", "sample", "path"} - set(table.columns)
    if missing:
        raise NeuroalignError(f"{recons}: lacks column(s) {sorted(missing)}.")
    if which == "chosen":
        if "chosen" not in table.columns:
            table = table[table["sample"] == table.groupby("image_id")["sample"].transform("min")]
        else:
            table = table[table["chosen"].astype(bool)]
            twice = table["image_id"][table["image_id"].duplicated()]
            if len(twice):
                raise NeuroalignError(
                    f"{recons}: column 'chosen' marks {int(twice.size) + 1} or more samples "
                    f"of image {twice.iloc[0]!r}; mark one sample per image."
                )
        # The chosen reconstructions form one set, whichever sample each image's is.
        table = table.assign(chosen_sample=table["sample"], sample=0)
    table = table.assign(
        image_id=table["image_id"].astype(str),
        path=[p if Path(p).is_absolute() else recons.parent / p for p in table["path"]],
    )
    return table.sort_values(["image_id", "sample"]).reset_index(drop=True)


def evaluate_images(
    settings: MetricsSettings,
    *,
    truth: str | Path,
    recons: str | Path,
    output: str | Path,
    feature_metrics=None,
) -> Path:
    """Score reconstructions against their ground-truth images and write ``metrics.nc``.

    Parameters
    ----------
    settings : MetricsSettings
        The ``vision.metrics`` section.
    truth : str or Path
        Dataset folder, image table or image folder (`read_truth`).
    recons : str or Path
        ``recons.parquet`` (or its folder) of the reconstruction stage.
    output : str or Path
        The netCDF file: ``value``, ``low``, ``high``, ``chance``, ``higher_is_better``
        (metric) and ``per_image`` (metric x image_id).
    feature_metrics : mapping, optional
        Injected feature networks (`neuroalign.vision.metrics.FeatureMetric`); default
        `build_feature_metrics` with ``settings.extractors``.

    Returns
    -------
    output : Path
    """
    output = Path(output)
    truth_paths = read_truth(truth)
    table = read_recons(recons, settings.recons)
    missing = sorted(set(table["image_id"]) - set(truth_paths))
    if missing:
        raise NeuroalignError(
            f"{len(missing)} reconstructed images have no ground truth in {truth} (first "
            f"{missing[0]!r})."
        )
    device = resolve_device(settings.device, field="vision.metrics.device")
    wanted = [m for m in settings.metrics if m not in ("pixcorr", "ssim")]
    if feature_metrics is None and wanted:
        feature_metrics = build_feature_metrics(
            settings.extractors, metrics=wanted, seed=settings.random_seed, device=device
        )
    ids = sorted(set(table["image_id"]))
    truth_images = load_images([truth_paths[i] for i in ids], settings.image_size)
    per_sample = []
    for sample, group in table.groupby("sample"):
        group = group.set_index("image_id").reindex(ids)
        if group["path"].isna().any():
            # A sample not drawn for every image is left out of the mean.
            logger.warning(
                "sample %s lacks %d of %d images; left out of the metrics",
                sample,
                int(group["path"].isna().sum()),
                len(ids),
            )
            continue
        scores = evaluate(
            truth_images,
            load_images(list(group["path"]), settings.image_size),
            feature_metrics=feature_metrics,
            metrics=settings.metrics,
            n_bootstrap=0,
            seed=settings.random_seed,
            batch_size=settings.batch_size,
            device=device,
        )
        per_sample.append(scores)
    if not per_sample:
        raise NeuroalignError(f"{recons}: no sample holds a reconstruction of every image.")
    names = list(settings.metrics)
    per_image = np.stack([np.mean([s[m].per_image for s in per_sample], axis=0) for m in names])
    value = np.array([np.mean([s[m].value for s in per_sample]) for m in names])
    bounds = [
        bootstrap_ci(
            per_image[k],
            n_boot=settings.n_bootstrap,
            level=settings.ci_level,
            seed=settings.random_seed + k,
        )
        if settings.n_bootstrap > 0
        else (np.nan, np.nan)
        for k in range(len(names))
    ]
    ds = xr.Dataset(
        {
            "value": (("metric",), value),
            "low": (("metric",), [b[0] for b in bounds]),
            "high": (("metric",), [b[1] for b in bounds]),
            "chance": (("metric",), [per_sample[0][m].chance for m in names]),
            "higher_is_better": (("metric",), [per_sample[0][m].higher_is_better for m in names]),
            "per_image": (("metric", "image_id"), per_image),
        },
        coords={"metric": np.array(names), "image_id": np.array(ids)},
    )
    ds.attrs.update(
        provenance(
            stage="vision_metrics",
            config={**settings.to_dict(), "seed": settings.random_seed},
            seed=settings.random_seed,
            inputs={
                "recons": Path(recons)
                if Path(recons).is_file()
                else Path(recons) / "recons.parquet"
            },
            extractors=settings.extractors,
            n_images=len(ids),
            n_samples=len(per_sample),
            definitions="MindEye final_evaluations: PixCorr and SSIM at 425 px; AlexNet(2)/(5), "
            "InceptionV3 and CLIP by 2-way identification; EffNet-B1 and SwAV by mean "
            "correlation distance",
            bootstrap=f"percentile intervals over image resamples ({settings.n_bootstrap})",
            caution=(
                "random-weight feature networks: the perceptual metrics test the pipeline, "
                "not perception"
                if settings.extractors == "random"
                else ""
            ),
        )
    )
    write_netcdf(ds, output)
    logger.info("wrote %s", output)
    return output


def metrics_table(path: str | Path) -> pd.DataFrame:
    """The metric table of a ``metrics.nc``: value, interval, chance and direction per metric."""
    ds = load_netcdf(path, "image metrics")
    return pd.DataFrame(
        {
            "metric": ds["metric"].values.astype(str),
            "value": ds["value"].values,
            "low": ds["low"].values,
            "high": ds["high"].values,
            "chance": ds["chance"].values,
            "better": np.where(ds["higher_is_better"].values, "higher", "lower"),
        }
    )
