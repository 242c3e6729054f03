"""``neuroalign encode sentences`` and ``neuroalign encode words``: responses held in a stimulus
table (one per sentence, or reading measures per word), fitted from every layer's activations.

This module does the file work (the stimulus table, the activation store, netCDF); the
computation is :func:`neuroalign.encoding.gain_sweep.gain_sweep` and
:func:`~neuroalign.encoding.gain_sweep.grouped_gain_sweep`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.cli.encode import _alphas, _common, _write_netcdf, align_items, read_activations

SENTENCE_GAIN = (
    "held-out R^2 of baseline (least squares) + layer features (ridge, penalty chosen by "
    "inner CV) minus that of the baseline alone"
)
NULLS = (
    "refit permutation nulls: r against the response permuted across {blocks}; the gain "
    "against Freedman-Lane responses (baseline fit + permuted residuals); every permuted "
    "response refitted through the whole nested CV; empirical p = (1 + k) / (1 + n_perm); "
    "p_peak against the maximum over feature sets"
)


def _table_kind(
    kinds: argparse._SubParsersAction, name: str, **texts: str
) -> argparse.ArgumentParser:
    """A kind that reads its responses from a stimulus table: the shared options and
    ``--stimuli``; ``texts`` are the parser's help, description and epilog."""
    sub = kinds.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    _common(sub)
    sub.add_argument("--stimuli", required=True, type=Path, help="stimulus table (.parquet)")
    return sub


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    """Register ``encode sentences`` and ``encode words`` under ``neuroalign encode``."""
    sent = _table_kind(
        kinds,
        "sentences",
        help="one response per sentence in a stimulus table (Pereira 2018): layer sweep, "
        "sentence-length baseline, permutation nulls",
        description="Cross-validated ridge from each layer's sentence activations to the "
        "responses of a stimulus table (e.g. the Pereira 2018 language-network means): held-out "
        "r per layer with a refit permutation null, the gain over a sentence-length baseline "
        "(words, and tokens when the store has them), and the peak layer.",
        epilog="Example:\n  neuroalign encode sentences --activations "
        "results/activations/minilm/pereira2018.zarr --stimuli results/stimuli/pereira2018."
        "parquet --output results/encoding/pereira2018/minilm/sentences.nc --folds 10",
    )
    sent.add_argument(
        "--targets", default="effect_size", help="comma-separated response columns of the table"
    )
    sent.add_argument("--n-perm", type=int, default=1000, help="permutations in the nulls")
    sent.set_defaults(func=run_sentences)
    words = _table_kind(
        kinds,
        "words",
        help="per-word reading measures in a stimulus table (UCL, OneStop): gain of model "
        "features and of the corpus' surprisals over length, frequency and position",
        description="For every reading measure of a word-level stimulus table: the held-out "
        "gain of each layer's features, and of each surprisal column the corpus ships, over a "
        "length + frequency + position baseline, with folds and permutations that keep "
        "sentences (or paragraphs) whole and the corpus' exclusion conventions.",
        epilog="Example:\n  neuroalign encode words --activations "
        "results/activations/minilm/ucl_frank2013.zarr --stimuli results/stimuli/"
        "ucl_frank2013.parquet --output results/encoding/ucl_frank2013/minilm/words.nc",
    )
    words.add_argument(
        "--measures", default=None, help="comma-separated measure columns (default: the corpus')"
    )
    words.add_argument(
        "--baseline",
        default=None,
        help="comma-separated baseline columns (default: the corpus' length, frequency, position)",
    )
    words.add_argument(
        "--surprisal",
        default=None,
        help="comma-separated surprisal columns, or 'none' (default: those the corpus ships)",
    )
    words.add_argument(
        "--group", default=None, help="column grouping words into sentences or texts"
    )
    words.add_argument(
        "--keep-edges",
        action="store_true",
        help="keep sentence-initial and sentence-final words (excluded by default)",
    )
    words.add_argument("--n-perm", type=int, default=200, help="permutations in the nulls")
    words.set_defaults(func=run_words)


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [] if text.strip() == "none" else [c.strip() for c in text.split(",") if c.strip()]


def _numeric(table: pd.DataFrame, columns: list[str], path: Path, flag: str) -> np.ndarray:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise NeuroalignError(
            f"{path}: no column(s) {missing} for {flag}; the table has "
            f"{[c for c in table.columns][:40]}. Name existing columns with {flag}."
        )
    values = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _store(path: Path) -> tuple[dict[str, Any], np.ndarray | None]:
    """The activation store's attrs and its tokens per item (None if it has none)."""
    ds = xr.open_zarr(path, consolidated=False) if path.is_dir() else xr.open_dataset(path)
    with ds:
        tokens = ds["n_tokens"].values if "n_tokens" in ds else None
        return dict(ds.attrs), tokens


def _layer_arrays(path: Path, args: argparse.Namespace, texts: list[str], where: str):
    layers = read_activations(path, args.variable, args.layers)
    align_items(next(iter(layers.values())), texts, None, where)
    return {str(k): da.transpose("item", ...).values for k, da in layers.items()}


def _sweep_vars(sweep, set_dim: str, target_dim: str, prefix: str = "") -> dict[str, Any]:
    """The variables of a GainSweep, named ``<prefix><field>``."""
    pair = (set_dim, target_dim)
    labels = np.asarray(sweep.labels, dtype=object)
    out = {
        f"{prefix}{name}": (pair, getattr(sweep, name))
        for name in ("r", "r2", "p", "q", "r_full", "r2_full", "r_gain", "r2_gain", "p_gain")
    }
    out[f"{prefix}q_gain"] = (pair, sweep.q_gain)
    out[f"{prefix}null_r"] = ((set_dim, "perm", target_dim), sweep.null_r)
    out[f"{prefix}null_gain"] = ((set_dim, "perm", target_dim), sweep.null_gain)
    out[f"{prefix}peak_{set_dim}"] = (target_dim, labels[sweep.peak].astype(str))
    out[f"{prefix}p_peak"] = (target_dim, sweep.p_peak)
    out[f"{prefix}peak_gain_{set_dim}"] = (target_dim, labels[sweep.peak_gain].astype(str))
    out[f"{prefix}p_peak_gain"] = (target_dim, sweep.p_peak_gain)
    return out


def _common_config(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "alphas": args.alphas,
        "folds": args.folds,
        "n_perm": args.n_perm,
        "dtype": args.dtype,
        "variable": args.variable,
        "layers": args.layers,
    }


def count_words(texts) -> np.ndarray:
    """Words per text: whitespace-separated pieces with at least one letter or digit."""
    return np.array([sum(any(c.isalnum() for c in w) for w in str(t).split()) for t in texts])


def run_sentences(args: argparse.Namespace) -> None:
    """Layer sweep over sentences with a length baseline; write a netCDF."""
    from neuroalign.data.stimuli import read_table
    from neuroalign.encoding.cv import group_folds
    from neuroalign.encoding.gain_sweep import gain_sweep

    table, table_attrs = read_table(args.stimuli)
    targets = _names(args.targets)
    Y = _numeric(table, targets, args.stimuli, "--targets")
    if np.isnan(Y).any():
        row = int(np.flatnonzero(np.isnan(Y).any(1))[0])
        raise NeuroalignError(f"{args.stimuli}: --targets {targets} missing at row {row}.")
    texts = table["text"].astype(str).tolist()
    designs = _layer_arrays(args.activations, args, texts, str(args.stimuli))
    store_attrs, tokens = _store(args.activations)
    baseline = {"n_words": count_words(texts)}
    if tokens is not None:
        baseline["n_tokens"] = np.asarray(tokens, float)
    n = len(table)
    if not 2 <= args.folds <= n:
        raise NeuroalignError(f"--folds {args.folds}: needs 2 to {n} (the number of sentences).")
    # Sentences are independent items: each goes to a random fold (seeded), not to
    # alphabetical blocks, which group sentences that start alike.
    labels = np.random.default_rng(args.seed).permutation(np.arange(n) % args.folds)
    folds = group_folds(labels)
    sweep = gain_sweep(
        designs,
        Y,
        np.column_stack(list(baseline.values())),
        folds,
        alphas=_alphas(args.alphas),
        n_perm=args.n_perm,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
    )
    ds = xr.Dataset(
        {
            **_sweep_vars(sweep, "layer", "target"),
            "r_baseline": ("target", sweep.r_baseline),
            "r2_baseline": ("target", sweep.r2_baseline),
            "peak_depth": ("target", sweep.peak / max(len(sweep.labels) - 1, 1)),
            "n_items": ("target", sweep.n_items),
        },
        coords={"layer": sweep.labels, "target": targets},
    )
    ds.attrs.update(
        provenance(
            stage="encode",
            config=_common_config(args, "sentences"),
            seed=args.seed,
            inputs={"stimuli": args.stimuli},
            kind="sentences",
            dataset=str(table["stimset"].iloc[0]),
            reader=str(table_attrs.get("reader", "")),
            model=str(store_attrs.get("model", args.activations.name)),
            extraction=f"context {store_attrs.get('context', '?')}, pooling "
            f"{store_attrs.get('pooling', '?')}",
            baseline=list(baseline),
            folds=f"{args.folds} folds, sentences assigned at random (seed {args.seed})",
            score="held-out Pearson r and R^2 of out-of-fold predictions (nested CV: the "
            "penalty is chosen by inner 5-fold CV inside each training set)",
            gain=SENTENCE_GAIN,
            null=NULLS.format(blocks="sentences"),
            alpha_convention="alpha * ||w||^2",
        )
    )
    _write_netcdf(ds, args.output)
    peak = sweep.labels[int(sweep.peak[0])]
    print(
        f"wrote {args.output} (peak layer {peak}: r = {sweep.r.max(0)[0]:.3f}, "
        f"baseline r = {sweep.r_baseline[0]:.3f})"
    )


def run_words(args: argparse.Namespace) -> None:
    """Gains over a length/frequency/position baseline per reading measure; write a netCDF."""
    from neuroalign.data.reading_measures import EDGE_NOTE, conventions_for, sentence_edges
    from neuroalign.data.stimuli import read_table
    from neuroalign.encoding.gain_sweep import grouped_gain_sweep

    table, table_attrs = read_table(args.stimuli)
    reader = str(table_attrs.get("reader", ""))
    given = (_names(args.measures), _names(args.baseline), _names(args.surprisal))
    conv = conventions_for(reader) if None in given or args.group is None else None
    measures = given[0] if given[0] is not None else list(conv.measures)
    base_cols = given[1] if given[1] is not None else list(conv.baseline.values())
    surprisal = given[2] if given[2] is not None else list(conv.surprisal)
    group = args.group or conv.group
    if group not in table.columns:
        raise NeuroalignError(f"{args.stimuli}: no column {group!r} for --group.")
    Y = _numeric(table, measures, args.stimuli, "--measures")
    base = _numeric(table, base_cols, args.stimuli, "--baseline")
    corpus = _numeric(table, surprisal, args.stimuli, "--surprisal")
    designs = _layer_arrays(
        args.activations, args, table["text"].astype(str).tolist(), str(args.stimuli)
    )
    store_attrs, _ = _store(args.activations)
    edges = sentence_edges(table)
    keep = ~edges if not args.keep_edges else np.ones(len(table), bool)
    keep &= np.isfinite(base).all(1) & np.isfinite(corpus).all(1)
    for X in designs.values():
        keep &= np.isfinite(X).all(1)
    groups = table[group].astype(str).to_numpy()
    common = dict(
        valid=keep[:, None],
        n_folds=args.folds,
        alphas=_alphas(args.alphas),
        n_perm=args.n_perm,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
    )
    model = grouped_gain_sweep(designs, Y, base, groups, **common)
    data = {
        **_sweep_vars(model, "layer", "measure"),
        "r_baseline": ("measure", model.r_baseline),
        "r2_baseline": ("measure", model.r2_baseline),
        "peak_depth": ("measure", model.peak / max(len(model.labels) - 1, 1)),
        "n_words": ("measure", model.n_items),
    }
    coords: dict[str, Any] = {
        "layer": model.labels,
        "measure": measures,
        "measure_description": (
            "measure",
            [conv.measures.get(m, m) if conv else m for m in measures],
        ),
    }
    if surprisal:
        sweep = grouped_gain_sweep(
            {c: corpus[:, [i]] for i, c in enumerate(surprisal)}, Y, base, groups, **common
        )
        data.update(_sweep_vars(sweep, "surprisal", "measure", prefix="surprisal_"))
        coords["surprisal"] = surprisal
    exclusions = [EDGE_NOTE] if not args.keep_edges else []
    exclusions.append("words with a missing measure, baseline, surprisal or feature value")
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        provenance(
            stage="encode",
            config={
                **_common_config(args, "words"),
                "measures": measures,
                "baseline": base_cols,
                "surprisal": surprisal,
                "group": group,
                "keep_edges": args.keep_edges,
            },
            seed=args.seed,
            inputs={"stimuli": args.stimuli},
            kind="words",
            dataset=str(table["stimset"].iloc[0]),
            reader=reader,
            model=str(store_attrs.get("model", args.activations.name)),
            extraction=f"context {store_attrs.get('context', '?')}, pooling "
            f"{store_attrs.get('pooling', '?')}",
            baseline=dict(conv.baseline) if conv and given[1] is None else base_cols,
            exclusions=exclusions,
            conventions=list(conv.notes) if conv else [],
            n_groups=len(np.unique(groups[keep])),
            folds=f"{args.folds} folds of whole {group} groups (in order)",
            score="held-out Pearson r and R^2 of out-of-fold predictions (nested CV)",
            gain=SENTENCE_GAIN.replace("layer features", "layer features (or one surprisal)"),
            null=NULLS.format(blocks=f"words within each {group} group"),
            alpha_convention="alpha * ||w||^2",
        )
    )
    _write_netcdf(ds, args.output)
    best = model.r2_gain.max(0)
    print(
        f"wrote {args.output} ("
        + ", ".join(f"{m}: gain {g:.3f}" for m, g in zip(measures, best, strict=True))
        + ")"
    )
