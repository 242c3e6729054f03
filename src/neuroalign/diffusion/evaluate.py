"""Evaluation of brain-guided synthesis: did guidance raise the target ROI, beyond its guide?

`evaluate_synthesis` reads a synthesis run's ``manifest.parquet`` (one row per image: roi, seed,
condition, image, score) and its PNGs, and scores every image under the **guiding** encoder and,
when given, a **held-out** encoder with another backbone fitted on the same betas (guidance can
overfit the encoder it follows: an adversarial image raises its guide only). Per target (the
manifest's ``roi``, one objective) and encoder:

- **Paired differences**: guided minus unguided score of the target ROI's mean prediction, per
  seed (the twins share their initial noise); the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, two-sided, zero differences dropped; all differences zero gives
  statistic 0 and p = 1), the mean difference with a percentile bootstrap interval over seeds,
  and the fraction of seeds whose difference is positive.
- **Selectivity**: the target ROI minus the mean of the other ROIs, its paired differences
  tested the same way.
- **Top fraction**: BrainDiVE keeps the best ``top_fraction`` (0.2) of each ROI's guided images
  by the *guiding* encoder's score (``ceil(fraction * n)`` images); their mean under each
  encoder is compared with the unguided images' (all, and their own top fraction).
- **Agreement**: Spearman correlation of the two encoders' target scores over the target's
  images.
- **Objective**: the manifest's own ``score`` (the guiding objective, which covers contrasts and
  voxel sets that are not one ROI), paired and tested the same way.
- **Category shares** (optional): a CLIP-style model with image and text towers assigns each
  image to the label whose prompt (``"a photo of a {}"``) is nearest in cosine (zero-shot);
  shares per target among the kept guided images, all guided images and the unguided ones.
  Without a text tower or labels this part is skipped and the reason stored in the result.

The result is one netCDF per subject, ``<results>/diffusion/eval/<run>/sub-<s>.nc``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.devices import resolve_device
from neuroalign.results import write_netcdf
from neuroalign.settings import StageSettings, seed_or_default

__all__ = [
    "CategorySettings",
    "EvaluateSettings",
    "category_labels",
    "clip_embedders",
    "evaluate_synthesis",
    "paired_summary",
    "read_images",
    "selectivity",
    "signed_rank",
    "top_fraction",
]

logger = logging.getLogger(__name__)

CONDITIONS = ("guided", "unguided")
#: The image sets of the category shares.
SHARE_SETS = ("guided_top", "guided", "unguided")
#: CLIP's pixel normalization (OpenAI), used when no processor says otherwise.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True, kw_only=True)
class CategorySettings(StageSettings):
    """Zero-shot CLIP category shares (``diffusion_eval.categories``).

    Attributes
    ----------
    model : str or None
        A CLIP-style model with image and text towers; None: no shares.
    labels : tuple of str
        Category labels.
    prompt : str
        Prompt template (``{}`` is the label).
    rois : mapping of str to str
        ROI -> its preferred label.
    """

    SECTION: ClassVar[str] = "#/$defs/diffusion_eval/properties/categories"

    model: str | None = None
    labels: tuple[str, ...] = ()
    prompt: str = "a photo of a {}"
    rois: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings(StageSettings):
    """How a synthesis run is evaluated (one entry of the config's ``diffusion.evaluate``).

    Attributes
    ----------
    synthesize : str or None
        The ``diffusion.synthesize`` entry evaluated (routing).
    held_out : str or None
        The ``diffusion.encoders`` entry of the held-out encoder (routing); None: none.
    top_fraction : float
        Fraction of each target's guided images kept by the guiding encoder's score.
    n_bootstrap : int
        Bootstrap resamples of the seeds (0: no intervals).
    ci_level : float
        Coverage of the intervals.
    batch_size : int
        Images per encoder pass.
    categories : CategorySettings
        Zero-shot CLIP category shares.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    seed : int or None
        Seed of the bootstrap (`random_seed` resolves a null).
    """

    SECTION: ClassVar[str] = "#/$defs/diffusion_eval"

    synthesize: str | None = None
    held_out: str | None = None
    top_fraction: float = 0.2
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    batch_size: int = 16
    categories: CategorySettings = field(default_factory=CategorySettings)
    device: str = "auto"
    seed: int | None = None

    @property
    def random_seed(self) -> int:
        """``seed``, or the top-level seed's default when null."""
        return seed_or_default(self.seed)


# ---------------------------------------------------------------------------- statistics


def signed_rank(diff: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences (zeros dropped).

    Returns ``(statistic, p)`` as ``scipy.stats.wilcoxon`` gives them; all differences zero
    gives ``(0.0, 1.0)`` (no evidence of a difference), no finite difference ``(nan, nan)``.
    """
    from scipy.stats import wilcoxon

    diff = np.asarray(diff, np.float64)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan"), float("nan")
    if not np.any(diff != 0):
        return 0.0, 1.0
    res = wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def paired_summary(
    guided: np.ndarray,
    unguided: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Paired guided - unguided differences: mean, bootstrap interval, signed-rank test.

    Parameters
    ----------
    guided, unguided : array, shape (n_seeds,)
        Scores of the twins (same seed in the same position); NaN pairs are left out.

    Returns
    -------
    dict with ``mean``, ``low``, ``high``, ``statistic``, ``p``, ``n`` and ``frac_positive``.
    """
    from neuroalign.vision.retrieval import bootstrap_ci

    diff = np.asarray(guided, np.float64) - np.asarray(unguided, np.float64)
    diff = diff[np.isfinite(diff)]
    stat, p = signed_rank(diff)
    if n_bootstrap and diff.size:
        low, high = bootstrap_ci(diff, n_boot=n_bootstrap, level=ci_level, seed=seed)
    else:
        low = high = float("nan")
    return {
        "mean": float(diff.mean()) if diff.size else float("nan"),
        "low": low,
        "high": high,
        "statistic": stat,
        "p": p,
        "n": float(diff.size),
        "frac_positive": float(np.mean(diff > 0)) if diff.size else float("nan"),
    }


def top_fraction(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the best ``ceil(fraction * n)`` finite scores, best first (ties: first)."""
    scores = np.asarray(scores, np.float64)
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0:
        return np.array([], int)
    k = max(1, math.ceil(fraction * finite.size - 1e-9))
    order = finite[np.argsort(-scores[finite], kind="stable")]
    return order[:k]


def selectivity(scores: np.ndarray, target: int) -> np.ndarray:
    """Target ROI minus the mean of the other ROIs; ``scores`` has ROIs on its last axis."""
    scores = np.asarray(scores, np.float64)
    if scores.shape[-1] < 2:
        return np.full(scores.shape[:-1], np.nan)
    others = np.delete(scores, target, axis=-1)
    return scores[..., target] - others.mean(axis=-1)


def category_labels(image_embeds: np.ndarray, text_embeds: np.ndarray) -> np.ndarray:
    """Zero-shot labels: each image's nearest text embedding in cosine (index per image)."""
    a = np.asarray(image_embeds, np.float64)
    b = np.asarray(text_embeds, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.argmax(a @ b.T, axis=1)


# ---------------------------------------------------------------------------- images, models


def read_images(paths: Sequence[str | Path]) -> np.ndarray:
    """PNG files as floats in [0, 1], shape (n, 3, H, W) (every image the same size)."""
    from PIL import Image

    out = []
    for path in paths:
        try:
            with Image.open(path) as img:
                out.append(np.asarray(img.convert("RGB"), np.float32) / 255.0)
        except OSError as err:
            raise NeuroalignError(f"{path}: not a readable image ({err}).") from err
    shapes = {a.shape for a in out}
    if len(shapes) > 1:
        raise NeuroalignError(f"the images have several sizes {sorted(shapes)}; expected one.")
    return np.stack(out).transpose(0, 3, 1, 2) if out else np.zeros((0, 3, 1, 1), np.float32)


def _batches(paths: Sequence[Path], batch_size: int):
    """The images of ``paths`` read ``batch_size`` at a time (memory bounded by one batch)."""
    for start in range(0, len(paths), batch_size):
        yield read_images(paths[start : start + batch_size])


def _predict(encoder: Any, paths: Sequence[Path], batch_size: int) -> np.ndarray:
    import torch

    param = next(iter(encoder.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    out = []
    with torch.no_grad():
        for images in _batches(paths, batch_size):
            x = torch.as_tensor(images, device=device, dtype=dtype)
            out.append(encoder(x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def _roi_masks(encoder: Any) -> dict[str, np.ndarray]:
    rois = getattr(encoder, "rois", None) or {}
    return {str(k): np.asarray(v.cpu() if hasattr(v, "cpu") else v, bool) for k, v in rois.items()}


def clip_embedders(
    model: Any, tokenizer: Any, *, mean=CLIP_MEAN, std=CLIP_STD, prep: Any = None
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[list[str]], np.ndarray]]:
    """Image and text embedding functions of a CLIP-style model (``get_image_features`` and
    ``get_text_features``); images (n, 3, H, W) in [0, 1] are prepared in torch: by ``prep``
    (an :class:`~neuroalign.diffusion.encoder.ImagePrep` of the model's processor: its resize,
    center crop and normalization), else resized (bicubic, antialiased) to the vision tower's
    size and normalized with ``mean`` and ``std``."""
    import torch
    import torch.nn.functional as F

    size = int(model.config.vision_config.image_size)
    param = next(model.parameters())

    def _tensor(out: Any) -> Any:
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def _pixels(t: Any) -> Any:
        if prep is not None:
            return prep(t)
        t = F.interpolate(
            t, size=(size, size), mode="bicubic", align_corners=False, antialias=True
        ).clamp(0, 1)
        m = torch.tensor(mean).view(1, 3, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1)
        return (t - m) / s

    def images(x: np.ndarray) -> np.ndarray:
        t = _pixels(torch.as_tensor(x, dtype=torch.float32)).to(param.device, param.dtype)
        with torch.no_grad():
            return _tensor(model.get_image_features(pixel_values=t)).float().cpu().numpy()

    def texts(prompts: list[str]) -> np.ndarray:
        tok = tokenizer(list(prompts), padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model.get_text_features(
                input_ids=tok["input_ids"].to(param.device),
                attention_mask=tok["attention_mask"].to(param.device),
            )
        return _tensor(out).float().cpu().numpy()

    return images, texts


def _load_clip(source: str, device: str) -> tuple[Any, Any] | str:
    """The category model's embedders, or the reason it cannot give them."""
    import transformers

    from neuroalign.models.sources import resolve_source

    location = resolve_source(source).location
    model = transformers.AutoModel.from_pretrained(location).to(device).eval()
    if not hasattr(model, "get_text_features"):
        return f"{source} has no text tower (get_text_features); no zero-shot categories."
    tokenizer = transformers.AutoTokenizer.from_pretrained(location)
    from neuroalign.diffusion.encoder import ImagePrep

    prep = None
    try:
        proc = transformers.AutoImageProcessor.from_pretrained(location)
        prep = ImagePrep.from_processor(proc)
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        pass
    return clip_embedders(model, tokenizer, prep=prep)


# ---------------------------------------------------------------------------- stage


def _read_manifest(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise NeuroalignError(f"{path}: not a readable synthesis manifest ({err}).") from err
    need = {"roi", "seed", "condition", "image"}
    if not need <= set(table.columns):
        raise NeuroalignError(
            f"{path}: a manifest needs columns {sorted(need)}; it has {sorted(table.columns)}."
        )
    bad = sorted(set(table["condition"].astype(str)) - set(CONDITIONS))
    if bad:
        raise NeuroalignError(f"{path}: unknown condition(s) {bad}; expected guided, unguided.")
    table = table.copy()
    table["roi"] = table["roi"].astype(str)
    table["condition"] = table["condition"].astype(str)
    table["seed"] = table["seed"].astype(int)
    table["score"] = pd.to_numeric(table.get("score", np.nan), errors="coerce")
    twice = table.duplicated(["roi", "condition", "seed"])
    if twice.any():
        first = table[twice].iloc[0]
        raise NeuroalignError(
            f"{path}: {int(twice.sum())} repeated (roi, condition, seed) rows (first: "
            f"{first['roi']}, {first['condition']}, {first['seed']}); one image each is expected."
        )
    return table


def evaluate_synthesis(
    settings: EvaluateSettings,
    *,
    manifest: str | Path,
    encoders: Mapping[str, Any],
    output: str | Path,
    categories: tuple[Callable, Callable] | None = None,
) -> Path:
    """Score a synthesis run's images under its encoders and test guided against unguided.

    Parameters
    ----------
    settings : EvaluateSettings
    manifest : path
        The run's ``manifest.parquet`` (images relative to its folder).
    encoders : mapping
        ``{"guiding": ..., "held_out": ...}`` (held_out optional): encoder files
        (``load_encoder``) or loaded modules (images (B, 3, H, W) in [0, 1] -> voxels, with
        ``.rois``).
    output : path
        The netCDF result.
    categories : (image_fn, text_fn), optional
        Embedding functions of a CLIP-style model (`clip_embedders`); default: from
        ``settings.categories.model``.

    Returns
    -------
    Path
    """
    manifest = Path(manifest)
    if "guiding" not in encoders:
        raise NeuroalignError("encoders: the guiding encoder (key 'guiding') is needed.")
    device = resolve_device(settings.device)
    table = _read_manifest(manifest)
    root = manifest.parent
    paths = [root / p for p in table["image"].astype(str)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NeuroalignError(
            f"{manifest}: {len(missing)} image(s) of the manifest are missing (first: "
            f"{missing[0]}); run the synthesis again."
        )
    # the guiding encoder first: it ranks the top fraction and is encoder 0 of the agreement
    names = ["guiding", *(k for k in encoders if k != "guiding")]
    encoders = {k: encoders[k] for k in names}
    loaded, sources = {}, {}
    dataset = ""
    for name, enc in encoders.items():
        if isinstance(enc, str | Path):
            from neuroalign.diffusion.encoder import load_encoder
            from neuroalign.results import load_netcdf

            attrs = load_netcdf(enc, "encoder").attrs
            sources[name] = f"{attrs.get('model', '')} ({enc})"
            dataset = dataset or str(attrs.get("dataset", ""))
            loaded[name] = load_encoder(enc, device=device)
        else:
            sources[name] = str(getattr(enc, "name", "") or type(enc).__name__)
            dataset = dataset or str(getattr(enc, "dataset", "") or "")
            loaded[name] = enc
    roi_names = list(_roi_masks(loaded["guiding"]))
    if not roi_names:
        raise NeuroalignError("the guiding encoder has no ROIs (.rois) to score.")
    # per image, per encoder, per ROI: the ROI's mean predicted response
    per_image = np.full((len(names), len(table), len(roi_names)), np.nan)
    for e, name in enumerate(names):
        pred = _predict(loaded[name], paths, settings.batch_size)
        masks = _roi_masks(loaded[name])
        for r, roi in enumerate(roi_names):
            if roi in masks and masks[roi].shape == (pred.shape[1],) and masks[roi].any():
                per_image[e, :, r] = pred[:, masks[roi]].mean(axis=1)
    targets = list(pd.unique(table["roi"]))
    seeds = sorted(set(table["seed"]))
    n_t, n_s, n_c = len(targets), len(seeds), len(CONDITIONS)
    score = np.full((len(names), n_t, n_c, n_s, len(roi_names)), np.nan)
    objective = np.full((n_t, n_c, n_s), np.nan)
    image = np.full((n_t, n_c, n_s), "", dtype=object)
    row_of = np.full((n_t, n_c, n_s), -1)
    for i, rec in enumerate(table.itertuples(index=False)):
        t, c, s = targets.index(rec.roi), CONDITIONS.index(rec.condition), seeds.index(rec.seed)
        score[:, t, c, s, :] = per_image[:, i, :]
        objective[t, c, s] = float(rec.score)
        image[t, c, s] = str(rec.image)
        row_of[t, c, s] = i
    stats = ("mean", "low", "high", "statistic", "p", "n", "frac_positive")
    diff = np.full((len(names), n_t, len(stats)), np.nan)
    sel = np.full((len(names), n_t, len(stats)), np.nan)
    obj = np.full((n_t, len(stats)), np.nan)
    top = np.zeros((n_t, n_s), bool)
    top_means = np.full((len(names), n_t, 3), np.nan)  # guided_top, unguided, unguided_top
    agreement = np.full(n_t, np.nan)
    boot = {"n_bootstrap": settings.n_bootstrap, "ci_level": settings.ci_level}
    for t, target in enumerate(targets):
        seed = settings.random_seed + t
        o = paired_summary(objective[t, 0], objective[t, 1], seed=seed, **boot)
        obj[t] = [o[k] for k in stats]
        r = roi_names.index(target) if target in roi_names else None
        rank_by = objective[t, 0] if r is None else score[0, t, 0, :, r]
        kept = top_fraction(rank_by, settings.top_fraction)
        top[t, kept] = True
        rank_un = objective[t, 1] if r is None else score[0, t, 1, :, r]
        kept_un = top_fraction(rank_un, settings.top_fraction)
        if r is None:
            continue
        for e in range(len(names)):
            g, u = score[e, t, 0, :, r], score[e, t, 1, :, r]
            d = paired_summary(g, u, seed=seed, **boot)
            diff[e, t] = [d[k] for k in stats]
            sg, su = selectivity(score[e, t, 0], r), selectivity(score[e, t, 1], r)
            d = paired_summary(sg, su, seed=seed, **boot)
            sel[e, t] = [d[k] for k in stats]
            top_means[e, t] = [np.nanmean(g[kept]), np.nanmean(u), np.nanmean(u[kept_un])]
        if len(names) > 1:
            agreement[t] = _spearman(score[0, t, :, :, r].ravel(), score[1, t, :, :, r].ravel())
    ds = xr.Dataset(
        {
            "score": (("encoder", "target", "condition", "seed", "roi"), score),
            "objective": (("target", "condition", "seed"), objective),
            "image": (("target", "condition", "seed"), image.astype(str)),
            "diff": (("encoder", "target", "stat"), diff),
            "selectivity_diff": (("encoder", "target", "stat"), sel),
            "objective_diff": (("target", "stat"), obj),
            "top": (("target", "seed"), top),
            "top_mean": (("encoder", "target", "set"), top_means),
            "agreement": ("target", agreement),
        },
        coords={
            "encoder": names,
            "target": targets,
            "condition": list(CONDITIONS),
            "seed": seeds,
            "roi": roi_names,
            "stat": list(stats),
            "set": ["guided_top", "unguided", "unguided_top"],
        },
    )
    ds["diff"].attrs["description"] = "guided - unguided target-ROI mean prediction, per seed"
    ds["selectivity_diff"].attrs["description"] = "paired differences of target - mean(others)"
    ds["agreement"].attrs["description"] = "Spearman r, guiding vs held-out target scores"
    reason = _add_categories(ds, settings, paths, row_of, top, categories, device)
    inputs = {"manifest": manifest} | {
        f"encoder_{k}": v for k, v in encoders.items() if isinstance(v, str | Path)
    }
    ds.attrs.update(
        provenance(
            stage="evaluate_synthesis",
            config=settings.to_dict(),
            inputs=inputs,
            seed=settings.random_seed,
            encoders=", ".join(f"{k}: {v}" for k, v in sources.items()),
            images_root=str(root),
            dataset=dataset,
            simulated=str(dataset.startswith("sim_")).lower(),
            categories=reason or "computed",
        )
    )
    write_netcdf(ds, output)
    logger.info("evaluated %d images of %d targets -> %s", len(table), n_t, output)
    return Path(output)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def _add_categories(
    ds: xr.Dataset,
    settings: EvaluateSettings,
    paths: Sequence[Path],
    row_of: np.ndarray,
    top: np.ndarray,
    categories: tuple[Callable, Callable] | None,
    device: str,
) -> str | None:
    """Add ``category`` and ``category_share`` to ``ds``; return why not when skipped."""
    cat = settings.categories
    if not cat.labels:
        return "skipped: no category labels configured (diffusion_eval.categories.labels)."
    if categories is None:
        if not cat.model:
            return "skipped: no CLIP model with a text tower configured (categories.model)."
        loaded = _load_clip(cat.model, device)
        if isinstance(loaded, str):
            return f"skipped: {loaded}"
        categories = loaded
    image_fn, text_fn = categories
    text = text_fn([cat.prompt.format(label) for label in cat.labels])
    embeds = np.concatenate([image_fn(x) for x in _batches(paths, settings.batch_size)])
    label = category_labels(embeds, text)
    n_t, n_c, n_s = row_of.shape
    assigned = np.full((n_t, n_c, n_s), -1)
    assigned[row_of >= 0] = label[row_of[row_of >= 0]]
    shares = np.full((n_t, len(SHARE_SETS), len(cat.labels)), np.nan)
    for t in range(n_t):
        sets = [assigned[t, 0][top[t]], assigned[t, 0], assigned[t, 1]]
        for k, chosen in enumerate(sets):
            chosen = chosen[chosen >= 0]
            if chosen.size:
                shares[t, k] = np.bincount(chosen, minlength=len(cat.labels)) / chosen.size
    names = np.array([*cat.labels, ""], dtype=object)
    ds["category"] = (("target", "condition", "seed"), names[assigned].astype(str))
    ds["category_share"] = (("target", "share_set", "label"), shares)
    ds.coords["share_set"] = list(SHARE_SETS)
    ds.coords["label"] = list(cat.labels)
    preferred = [cat.rois.get(str(t), "") for t in ds["target"].values]
    ds["preferred_label"] = ("target", np.array(preferred, dtype=str))
    return None
