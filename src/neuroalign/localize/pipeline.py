"""The localizer stage: activations to statistics, masks, controls, reliability and more.

Everything lands in one xarray Dataset per (model, localizer), written atomically to netCDF:

==========================  =================================  ================================
variable                    dims                               meaning
==========================  =================================  ================================
t, p, q, d, mean_pos/neg    (layer, unit)                      selectivity of every unit
rank                        (layer, unit)                      1 = most selective (finite t)
mask                        (network, layer, unit)             localized units (int8 0/1)
bottom_mask                 (network, layer, unit)             the k least selective units
random_mask                 (scheme, seed, layer, unit)        equal-size sets from the complement
layer_fraction              (network, layer)                   share of the layer's units selected
split_t, split_mask         (split, layer, unit)               t and mask of each run alone
reliability_*               (), (resplit), (resample)          Dice, Jaccard, Spearman, CV effect
ablation_*                  (dose, [seed,] task)               task scores under each lesion
alignment_*                 ([seed,] target)                   brain scores of each unit set
==========================  =================================  ================================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.localize import reliability as rel
from neuroalign.localize.ablate import ablated
from neuroalign.localize.alignment import compare_alignment
from neuroalign.localize.contrasts import Contrast, truncate_texts
from neuroalign.localize.evaluate import Task, compare_to_random, deficit
from neuroalign.localize.select import n_select, per_layer_top, random_masks, top_k
from neuroalign.localize.settings import LocalizeSettings
from neuroalign.localize.stats import contrast as contrast_stats
from neuroalign.results import load_netcdf, write_netcdf

logger = logging.getLogger(__name__)


def extract_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    unit_space: str = "resid",
    pooling: str = "last",
    truncate: int | None = 12,
    layers: str | Sequence[int] = "all",
    batch_size: int = 32,
) -> tuple[np.ndarray, list[int], list[str]]:
    """Pooled activations of sentence-level items from the extraction engine.

    Parameters
    ----------
    model, tokenizer
        A Hugging Face model and its fast tokenizer.
    texts : sequence of str
        One item per text.
    unit_space : str, default="resid"
        A unit space of :mod:`neuroalign.models.units` with a layer dim.
    pooling : {"last", "mean"}, default="last"
        Sub-token pooling over each item's text tokens (special tokens excluded).
    truncate : int or None, default=12
        Keep the first ``truncate`` tokens (special tokens included; the paper's 12).
    layers : "all" or sequence of int
        Blocks to read.
    batch_size : int, default=32
        Items per forward pass.

    Returns
    -------
    acts : float32 array of shape (n_items, n_layers, n_units)
    layers : list of int
        The block index of each layer row.
    texts : list of str
        The texts as the model saw them (after truncation).
    """
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    if unit_space in ("embed", "attn_pattern"):
        raise NeuroalignError(
            f"unit space {unit_space!r} cannot be localized; use resid, attn_out, mlp_out, "
            "mlp_neuron or head_out"
        )
    texts = list(texts)
    if truncate:
        texts = truncate_texts(tokenizer, texts, int(truncate))
    table = pd.DataFrame({"item": np.arange(len(texts)), "text": texts})
    extractor = Extractor(
        model,
        tokenizer,
        units=unit_space,
        layers=layers,
        context="sentence",
        pooling=pooling,
        batch_size=batch_size,
    )
    ds = extract_dataset(extractor, table)
    return ds[unit_space].to_numpy(), list(extractor.layers), texts


def _int8(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask, dtype=np.int8)


def _ranks(t: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.where(np.isfinite(t), t, -np.inf).ravel(), kind="stable")
    rank = np.empty(t.size, dtype=np.int64)
    rank[order] = np.arange(1, t.size + 1)
    rank[~np.isfinite(t.ravel())] = 0
    return rank.reshape(t.shape)


def localize(
    acts: np.ndarray,
    items: Contrast,
    settings: LocalizeSettings,
    *,
    layers: Sequence[int] | None = None,
) -> xr.Dataset:
    """Selectivity, localized mask, random controls and split-half reliability.

    Parameters
    ----------
    acts : array of shape (n_items, n_layers, n_units)
        Activations of the localizer's items, in table order.
    items : Contrast
        Condition and split of each item.
    settings : LocalizeSettings
        Statistic, selection rule, random controls and bootstrap.
    layers : sequence of int, optional
        Block index of each layer row (default 0, 1, ...).

    Returns
    -------
    ds : Dataset
        The variables of the module table except ``ablation_*`` and ``alignment_*``.
    """
    acts = np.asarray(acts)
    if acts.ndim != 3 or len(acts) != len(items.table):
        raise NeuroalignError(
            f"activations of shape {acts.shape} do not match the {len(items.table)} localizer "
            "items (expected item x layer x unit)"
        )
    n_layers, n_units = acts.shape[1:]
    layers = list(range(n_layers)) if layers is None else list(layers)
    sel = contrast_stats(acts, items.is_positive, absolute=settings.absolute)
    mask = settings.selector(sel.t, sel.q)
    if not mask.any():
        logger.warning("%s localizer: no unit passed the %s rule", items.name, settings.rule)
    coords = {"layer": layers, "unit": np.arange(n_units), "network": [items.name]}
    lu = ("layer", "unit")
    ds = xr.Dataset(
        {
            "t": (lu, sel.t),
            "df": (lu, sel.df),
            "p": (lu, sel.p),
            "q": (lu, sel.q),
            "d": (lu, sel.d),
            "mean_pos": (lu, sel.mean_pos),
            "mean_neg": (lu, sel.mean_neg),
            "rank": (lu, _ranks(sel.t)),
            "mask": (("network", *lu), _int8(mask[None])),
            "layer_fraction": (("network", "layer"), mask.mean(axis=1)[None]),
        },
        coords=coords,
    )
    ds["mean_neg_raw"] = (lu, acts[~items.is_positive].astype(np.float64).mean(0))
    if settings.bottom:
        k = int(mask.sum())
        ds["bottom_mask"] = (("network", *lu), _int8(top_k(sel.t, k, largest=False)[None]))
    if mask.any() and not mask.all():
        draws = [
            random_masks(mask, n_seeds=settings.n_seeds, scheme=s, seed=settings.random_seed)
            for s in settings.schemes
        ]
        ds = ds.assign_coords(scheme=list(settings.schemes), seed=draws[0][1])
        ds["random_mask"] = (("scheme", "seed", *lu), _int8(np.stack([d[0] for d in draws])))
    ds.update(_reliability(acts, items, settings, lu))
    ds.attrs.update(
        {
            "localizer": items.name,
            "positive": items.positive,
            "negative": items.negative,
            "n_items": str(len(items.table)),
            "n_positive": str(int(items.is_positive.sum())),
            "k": str(int(mask.sum())),
            "rule": settings.rule,
            "fraction": str(settings.fraction),
            "alpha": str(settings.alpha),
            "statistic": "welch_t_abs" if settings.absolute else "welch_t_raw",
        }
    )
    return ds


RELIABILITY_LEVEL = 0.95


def _reliability(
    acts: np.ndarray, items: Contrast, settings: LocalizeSettings, lu: tuple[str, str]
) -> xr.Dataset:
    half = items.split
    res = rel.split_halves(
        acts, items.is_positive, half, settings.selector, absolute=settings.absolute
    )
    n_total = acts.shape[1] * acts.shape[2]
    chance_dice, chance_jaccard = rel.chance_overlap(res.masks[0].sum() / n_total)
    out = xr.Dataset(
        {
            "split_t": (("split", *lu), res.t),
            "split_mask": (("split", *lu), _int8(res.masks)),
            "reliability_dice": res.dice,
            "reliability_jaccard": res.jaccard,
            "reliability_spearman_t": res.spearman_t,
            "reliability_cv_effect": res.cv_effect,
            "reliability_chance_dice": chance_dice,
            "reliability_chance_jaccard": chance_jaccard,
        },
        coords={"split": np.unique(half)},
    )
    if settings.n_boot:
        rng = np.random.default_rng(settings.random_seed)
        dist = rel.resplit_distribution(
            acts,
            items.is_positive,
            half,
            settings.selector,
            absolute=settings.absolute,
            n_splits=settings.n_boot,
            rng=rng,
        )
        for key in ("dice", "jaccard", "spearman_t"):
            out[f"reliability_resplit_{key}"] = ("resplit", dist[key])
            lo, hi = rel.percentile_ci(dist[key], RELIABILITY_LEVEL)
            out[f"reliability_{key}"].attrs.update(
                {
                    "dist_low": lo,
                    "dist_high": hi,
                    "dist_median": float(np.nanmedian(dist[key])),
                    "dist_level": RELIABILITY_LEVEL,
                    "dist_kind": "re-split",
                }
            )
        iv = rel.cv_effect_interval(
            acts,
            items.is_positive,
            half,
            settings.selector,
            absolute=settings.absolute,
            n_boot=settings.n_boot,
            rng=rng,
            level=RELIABILITY_LEVEL,
        )
        out["reliability_boot_cv_effect"] = ("resample", iv.distribution)
        out["reliability_cv_effect"].attrs.update(
            {"ci_low": iv.low, "ci_high": iv.high, "ci_level": iv.level, "ci_method": iv.method}
        )
    return out


def dose_masks(t: np.ndarray, settings: LocalizeSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each dose (fraction of units), the localized top set and its random sets.

    The localized set is the global (or, with ``per_layer_topk``, per-layer) top fraction;
    random sets come from its complement with ``settings.ablation_scheme``.
    """
    out = []
    for dose in settings.doses:
        if settings.rule == "per_layer_topk":
            mask = per_layer_top(t, dose)
        else:
            mask = top_k(t, n_select(t.size, dose))
        if not mask.any():
            raise NeuroalignError(
                f"dose {dose} keeps no unit of {t.size}; use larger doses for this model"
            )
        rand, _ = random_masks(
            mask,
            n_seeds=settings.n_seeds,
            scheme=settings.ablation_scheme,
            seed=settings.random_seed,
        )
        out.append((mask, rand))
    return out


def ablation_study(
    model: Any,
    tasks: Sequence[Task],
    t: np.ndarray,
    settings: LocalizeSettings,
    *,
    layers: Sequence[int] | None = None,
    values: np.ndarray | None = None,
) -> xr.Dataset:
    """Score held-out tasks with no lesion, the localized set and each random set, per dose.

    Parameters
    ----------
    model : torch.nn.Module
        The model the activations came from.
    tasks : sequence of Task
        Held-out tasks (:mod:`neuroalign.localize.evaluate`); fitted here on the intact model.
    t : array of shape (n_layers, n_units)
        The localizer's t map.
    settings : LocalizeSettings
        Rule (top-k flavour), doses (fractions of units to lesion), unit space, ablation mode
        (``ablation_mode``) and random sets (``n_seeds``, ``ablation_scheme``, seed).
    layers, values
        Block index of each layer row, and the values of ``mean`` ablation (see
        :func:`neuroalign.localize.ablate.ablated`).

    Returns
    -------
    ds : Dataset
        ``ablation_baseline (task)``, ``ablation_localized (dose, task)``,
        ``ablation_random (dose, seed, task)``, ``ablation_deficit_z`` and
        ``ablation_percentile (dose, task)``, ``ablation_k (dose)``.
    """
    import torch

    from neuroalign.models.discover import discover

    if not tasks:
        raise NeuroalignError("no ablation task: give BLiMP pairs, a corpus or both")
    arch = discover(model)
    kwargs = {
        "unit_space": settings.units,
        "mode": settings.ablation_mode,
        "values": values,
        "layers": layers,
        "arch": arch,
    }

    def run(mask: np.ndarray) -> np.ndarray:
        with torch.no_grad(), ablated(model, mask, **kwargs):
            return np.array([task.score(model) for task in tasks])

    with torch.no_grad():
        for task in tasks:
            task.fit(model)
    baseline = run(np.zeros_like(t, dtype=bool))
    doses = settings.doses
    sets = dose_masks(t, settings)
    localized, rand = [], []
    for dose, (mask, rmasks) in zip(doses, sets, strict=True):
        logger.info("ablating %d units (dose %g) and %d random sets", mask.sum(), dose, len(rmasks))
        localized.append(run(mask))
        rand.append(np.stack([run(m) for m in rmasks]))
    localized, rand = np.stack(localized), np.stack(rand)
    z = np.full(localized.shape, np.nan)
    pct = np.full(localized.shape, np.nan)
    for j, task in enumerate(tasks):
        for i in range(len(doses)):
            loc_def = deficit(baseline[j], localized[i, j], task.higher_is_better)
            rand_def = deficit(baseline[j], rand[i, :, j], task.higher_is_better)
            z[i, j], pct[i, j] = compare_to_random(float(loc_def), rand_def)
    names = [task.name for task in tasks]
    ds = xr.Dataset(
        {
            "ablation_baseline": ("task", baseline),
            "ablation_localized": (("dose", "task"), localized),
            "ablation_random": (("dose", "seed", "task"), rand),
            "ablation_deficit_z": (("dose", "task"), z),
            "ablation_percentile": (("dose", "task"), pct),
            "ablation_k": ("dose", np.array([int(m.sum()) for m, _ in sets])),
        },
        coords={
            "dose": list(doses),
            "task": names,
            "seed": settings.random_seed + np.arange(settings.n_seeds),
            "task_metric": ("task", [task.metric for task in tasks]),
            "task_higher_is_better": ("task", [int(task.higher_is_better) for task in tasks]),
        },
    )
    ds.attrs.update(
        {
            "ablation_mode": settings.ablation_mode,
            "ablation_scheme": settings.ablation_scheme,
            "ablation_space": settings.units,
        }
    )
    return ds


def alignment_study(
    acts: np.ndarray,
    brain: np.ndarray,
    mask: np.ndarray,
    random: np.ndarray,
    *,
    n_splits: int = 5,
    groups: np.ndarray | None = None,
    target_names: Sequence[str] | None = None,
) -> xr.Dataset:
    """Brain scores of the localized units and of each random set, as a Dataset.

    Returns
    -------
    ds : Dataset
        ``alignment_localized (target)``, ``alignment_random (seed, target)`` and the scalars
        ``alignment_difference``, ``alignment_difference_sd``, ``alignment_percentile``.
    """
    brain = np.asarray(brain, dtype=np.float64)
    brain = brain[:, None] if brain.ndim == 1 else brain
    res = compare_alignment(acts, brain, mask, random, n_splits=n_splits, groups=groups)
    names = (
        list(target_names) if target_names is not None else [f"t{i}" for i in range(brain.shape[1])]
    )
    return xr.Dataset(
        {
            "alignment_localized": ("target", res.localized),
            "alignment_random": (("seed", "target"), res.random),
            "alignment_difference": res.difference,
            "alignment_difference_sd": res.difference_sd,
            "alignment_percentile": res.percentile,
        },
        coords={"target": names},
    )


def write_result(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the result Dataset to netCDF atomically (`neuroalign.results.write_netcdf`)."""
    return write_netcdf(ds, path)


def read_result(path: str | Path) -> xr.Dataset:
    """Read a result written by :func:`write_result` into memory; masks come back as bool."""
    ds = load_netcdf(path, "localizer result")
    for name in ("mask", "bottom_mask", "random_mask", "split_mask"):
        if name in ds:
            ds[name] = ds[name].astype(bool)
    return ds
