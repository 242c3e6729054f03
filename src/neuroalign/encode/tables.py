"""Responses held in a stimulus table: one per sentence, or reading measures per word.

``sentences`` sweeps every layer against the standard baselines of sentence studies (length in
characters, word and token counts, mean log word frequency;
`neuroalign.encoding.gain_sweep.gain_sweep`); ``words`` scores, per reading measure, the gain of
each layer and of each surprisal column over the corpus' length, frequency and position
baselines, with folds and permutations that keep sentences or texts whole
(`neuroalign.encoding.gain_sweep.grouped_gain_sweep`). By default the gain is over the
strongest standard baseline, chosen in each outer fold on its training items only
(`neuroalign.encoding.baselines`); the result names the candidates and the one chosen.
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
from neuroalign._io import provenance
from neuroalign.data import frequency
from neuroalign.data.reading_measures import (
    CONVENTIONS,
    EDGE_NOTE,
    conventions_for,
    sentence_edges,
)
from neuroalign.data.stimuli import read_table
from neuroalign.encode.activations import align_items, read_activations, store_info
from neuroalign.encode.coefficients import signed_coefficient
from neuroalign.encode.output import ALPHA_CONVENTION, fit_device, run_config
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encoding.baselines import STRONGEST
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.gain_sweep import gain_sweep, grouped_gain_sweep
from neuroalign.results import write_netcdf

__all__ = [
    "BASELINE_CHOICE",
    "SENTENCE_BASELINES",
    "count_words",
    "encode_sentences",
    "encode_words",
    "sentence_baselines",
]

logger = logging.getLogger(__name__)

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


#: The standard baselines of sentence studies, by name: their predictor columns.
SENTENCE_BASELINES = {
    "length": ("n_chars",),
    "counts": ("n_chars", "n_words", "n_tokens"),
    "frequency": ("log_frequency",),
    "all": ("n_chars", "n_words", "n_tokens", "log_frequency"),
}
#: How the default baseline is chosen, recorded in results.
BASELINE_CHOICE = (
    "strongest of the standard baselines: in each outer fold, the candidate (least squares) "
    "with the highest mean inner-CV R^2 (contiguous blocks) on that fold's training items "
    "only; ties go to the simpler candidate"
)


def sentence_baselines(texts, tokens=None) -> dict[str, np.ndarray]:
    """The standard sentence predictors: characters, words, tokens (if known), log frequency.

    Returns a mapping of predictor name to array of shape (n_sentences,); ``log_frequency`` is
    the mean Zipf frequency of the sentence's words (`neuroalign.data.frequency`).
    """
    texts = [str(t) for t in texts]
    out = {"n_chars": np.asarray([len(t.strip()) for t in texts], float)}
    out["n_words"] = count_words(texts).astype(float)
    if tokens is not None:
        out["n_tokens"] = np.asarray(tokens, float)
    out["log_frequency"] = frequency.mean_log_frequency(texts)
    return out


def _candidates(
    predictors: dict[str, np.ndarray], named: dict[str, tuple[str, ...]], choice: str
) -> dict[str, np.ndarray]:
    """The candidate baselines (columns that exist), or the one named by ``choice``."""
    cands = {}
    for name, cols in named.items():
        have = [c for c in cols if c in predictors]
        if have and (choice == STRONGEST or choice == name):
            cands[name] = np.column_stack([predictors[c] for c in have])
    if not cands:
        raise NeuroalignError(f"baseline {choice!r}: none of its predictors is available.")
    return cands


def _baseline_attrs(named: dict[str, tuple[str, ...]], cands, choice: str) -> dict[str, Any]:
    return {
        "baseline": {k: list(v) for k, v in named.items() if k in cands},
        "baseline_choice": BASELINE_CHOICE if choice == STRONGEST else f"{choice} (as configured)",
    }


def count_words(texts) -> np.ndarray:
    """Words per text: whitespace-separated pieces with at least one letter or digit.

    Examples
    --------
    >>> count_words(["A dog ,  barked .", "", "It's 3 o'clock"]).tolist()
    [3, 0, 3]
    """
    return np.array([sum(any(c.isalnum() for c in w) for w in str(t).split()) for t in texts])


def _numeric(table: pd.DataFrame, columns: Sequence[str], path: Path, field: str) -> np.ndarray:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise NeuroalignError(
            f"{path}: no column(s) {missing} for {field}; the table has "
            f"{list(table.columns)[:40]}. Name existing columns in {field}."
        )
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _layer_arrays(settings: EncodeSettings, path: str | Path, texts: list[str], where: str):
    """Every layer's (item, unit) array, its items checked against the table's texts."""
    layers = read_activations(path, settings.variable, settings.layers)
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


def _extraction(store_attrs: dict[str, Any], activations: Path) -> dict[str, str]:
    return {
        "model": str(store_attrs.get("model", activations.name)),
        "extraction": f"context {store_attrs.get('context', '?')}, pooling "
        f"{store_attrs.get('pooling', '?')}",
    }


def encode_sentences(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    stimuli: str | Path,
    output: str | Path,
) -> Path:
    """Layer sweep over sentences over the standard baselines; write a netCDF.

    Parameters
    ----------
    settings : EncodeSettings
        A ``sentences`` entry (`EncodeSettings.from_config`); its options are `SentenceOptions`.
    activations : str or Path
        The activation store of the stimulus table's sentences (same items, same order).
    stimuli : str or Path
        The stimulus table (.parquet) holding the response columns ``options.targets``.
    output : str or Path
        The netCDF file to write (r, R^2 and gains per layer and target, nulls, peak layer).

    Returns
    -------
    output : Path
    """
    settings.check_kind("sentences")
    opts = settings.options
    activations, stimuli, output = Path(activations), Path(stimuli), Path(output)
    device = fit_device(settings)
    alphas = settings.grid
    seed = settings.random_seed
    table, table_attrs = read_table(stimuli)
    targets = list(opts.targets)
    Y = _numeric(table, targets, stimuli, "options.targets")
    if np.isnan(Y).any():
        row = int(np.flatnonzero(np.isnan(Y).any(1))[0])
        raise NeuroalignError(f"{stimuli}: options.targets {targets} missing at row {row}.")
    texts = table["text"].astype(str).tolist()
    designs = _layer_arrays(settings, activations, texts, str(stimuli))
    store_attrs, tokens = store_info(activations)
    predictors = sentence_baselines(texts, tokens)
    bad = ~np.isfinite(predictors["log_frequency"])
    if bad.any():
        raise NeuroalignError(f"{stimuli}: row {int(np.flatnonzero(bad)[0])} has no word.")
    named = {k: tuple(c for c in v if c in predictors) for k, v in SENTENCE_BASELINES.items()}
    cands = _candidates(predictors, named, opts.baseline)
    n = len(table)
    if settings.folds > n:
        raise NeuroalignError(
            f"folds {settings.folds}: needs 2 to {n} (the number of sentences in {stimuli})."
        )
    # Sentences are independent items: each goes to a random fold (seeded), not to
    # alphabetical blocks, which group sentences that start alike.
    labels = np.random.default_rng(seed).permutation(np.arange(n) % settings.folds)
    sweep = gain_sweep(
        designs,
        Y,
        cands,
        group_folds(labels),
        alphas=alphas,
        n_perm=opts.n_perm,
        seed=seed,
        device=device,
        dtype=settings.dtype,
    )
    ds = xr.Dataset(
        {
            **_sweep_vars(sweep, "layer", "target"),
            "r_baseline": ("target", sweep.r_baseline),
            "r2_baseline": ("target", sweep.r2_baseline),
            "baseline_used": ("target", sweep.baseline.astype(str)),
            "baseline_share": ("target", sweep.baseline_share),
            "peak_depth": ("target", sweep.peak / max(len(sweep.labels) - 1, 1)),
            "n_items": ("target", sweep.n_items),
        },
        coords={"layer": sweep.labels, "target": targets},
    )
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(settings),
            seed=seed,
            inputs={"stimuli": stimuli},
            kind="sentences",
            dataset=str(table["stimset"].iloc[0]),
            reader=str(table_attrs.get("reader", "")),
            **_extraction(store_attrs, activations),
            **_baseline_attrs(named, cands, opts.baseline),
            frequency=frequency.source(),
            folds=f"{settings.folds} folds, sentences assigned at random (seed {seed})",
            score="held-out Pearson r and R^2 of out-of-fold predictions (nested CV: the "
            "penalty is chosen by inner 5-fold CV inside each training set)",
            gain=SENTENCE_GAIN,
            null=NULLS.format(blocks="sentences"),
            alpha_convention=ALPHA_CONVENTION,
        )
    )
    write_netcdf(ds, output)
    logger.info(
        "wrote %s (peak layer %s: r = %.3f, baseline %s r = %.3f)",
        output,
        sweep.labels[int(sweep.peak[0])],
        sweep.r.max(0)[0],
        sweep.baseline[0],
        sweep.r_baseline[0],
    )
    return output


def encode_words(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    stimuli: str | Path,
    output: str | Path,
) -> Path:
    """Gains over the strongest standard baseline per reading measure; write a netCDF.

    Parameters
    ----------
    settings : EncodeSettings
        A ``words`` entry (`EncodeSettings.from_config`); its options are `WordOptions` (the
        columns left null come from the corpus' conventions, known from the table's reader).
    activations : str or Path
        The activation store of the stimulus table's words (same items, same order).
    stimuli : str or Path
        The word-level stimulus table (.parquet) with the measure and baseline columns.
    output : str or Path
        The netCDF file to write (gains of each layer and surprisal column per measure, nulls).

    Returns
    -------
    output : Path
    """
    settings.check_kind("words")
    opts = settings.options
    activations, stimuli, output = Path(activations), Path(stimuli), Path(output)
    device = fit_device(settings)
    table, table_attrs = read_table(stimuli)
    reader = str(table_attrs.get("reader", ""))
    given = (opts.measures, opts.baseline, opts.surprisal, opts.group)
    conv = None
    if None in given:
        if reader not in CONVENTIONS:
            raise NeuroalignError(
                f"{stimuli}: no word-level measure conventions for tables of reader {reader!r} "
                f"(known: {sorted(CONVENTIONS)}); set options.measures, options.baseline, "
                "options.surprisal and options.group."
            )
        conv = conventions_for(reader)
    measures = list(opts.measures if opts.measures is not None else conv.measures)
    base_cols = list(opts.baseline if opts.baseline is not None else conv.baseline.values())
    surprisal = list(opts.surprisal if opts.surprisal is not None else conv.surprisal)
    group = opts.group or conv.group
    if group not in table.columns:
        raise NeuroalignError(f"{stimuli}: no column {group!r} for options.group.")
    Y = _numeric(table, measures, stimuli, "options.measures")
    base = _numeric(table, base_cols, stimuli, "options.baseline")
    corpus = _numeric(table, surprisal, stimuli, "options.surprisal")
    designs = _layer_arrays(settings, activations, table["text"].astype(str).tolist(), str(stimuli))
    store_attrs, tokens = store_info(activations)
    predictors = {c: base[:, i] for i, c in enumerate(base_cols)}
    if opts.baseline is None:
        roles = dict(conv.baseline)
        if tokens is not None and len(tokens) == len(table):
            predictors["n_tokens"] = np.asarray(tokens, float)
        named = {r: (roles[r],) for r in ("length", "frequency") if r in roles}
        named["all"] = (*roles.values(), *(["n_tokens"] if "n_tokens" in predictors else []))
        choice = STRONGEST
    else:
        named, choice = {"configured": tuple(base_cols)}, "configured"
    cands = _candidates(predictors, named, choice)
    # the union of the candidates: the exclusions and the signed coefficients' controls
    base = np.column_stack([predictors[c] for c in dict.fromkeys(sum(named.values(), ()))])
    keep = ~sentence_edges(table) if not opts.keep_edges else np.ones(len(table), bool)
    keep &= np.isfinite(base).all(1) & np.isfinite(corpus).all(1)
    for X in designs.values():
        keep &= np.isfinite(X).all(1)
    groups = table[group].astype(str).to_numpy()
    common = dict(
        valid=keep[:, None],
        n_folds=settings.folds,
        alphas=settings.grid,
        n_perm=opts.n_perm,
        seed=settings.random_seed,
        device=device,
        dtype=settings.dtype,
    )
    model = grouped_gain_sweep(designs, Y, cands, groups, **common)
    data = {
        **_sweep_vars(model, "layer", "measure"),
        "r_baseline": ("measure", model.r_baseline),
        "r2_baseline": ("measure", model.r2_baseline),
        "baseline_used": ("measure", model.baseline.astype(str)),
        "baseline_share": ("measure", model.baseline_share),
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
            {c: corpus[:, [i]] for i, c in enumerate(surprisal)}, Y, cands, groups, **common
        )
        data.update(_sweep_vars(sweep, "surprisal", "measure", prefix="surprisal_"))
        coords["surprisal"] = surprisal
        coef = np.array(
            [
                [
                    signed_coefficient(
                        Y[keep, j][ok], corpus[keep, i][ok], base[keep][ok], groups[keep][ok]
                    )
                    for j in range(Y.shape[1])
                    for ok in [np.isfinite(Y[keep, j])]
                ]
                for i in range(len(surprisal))
            ]
        )  # (surprisal, measure, 3)
        for k, name in enumerate(("beta", "beta_low", "beta_high")):
            data[f"surprisal_{name}"] = (("surprisal", "measure"), coef[..., k])
    exclusions = [EDGE_NOTE] if not opts.keep_edges else []
    exclusions.append("words with a missing measure, baseline, surprisal or feature value")
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(
                settings, measures=measures, baseline=base_cols, surprisal=surprisal, group=group
            ),
            seed=settings.random_seed,
            inputs={"stimuli": stimuli},
            kind="words",
            dataset=str(table["stimset"].iloc[0]),
            reader=reader,
            **_extraction(store_attrs, activations),
            **_baseline_attrs(named, cands, choice),
            baseline_roles=dict(conv.baseline) if conv and opts.baseline is None else {},
            exclusions=exclusions,
            conventions=list(conv.notes) if conv else [],
            n_groups=len(np.unique(groups[keep])),
            folds=f"{settings.folds} folds of whole {group} groups (in order)",
            score="held-out Pearson r and R^2 of out-of-fold predictions (nested CV)",
            gain=SENTENCE_GAIN.replace("layer features", "layer features (or one surprisal)"),
            null=NULLS.format(blocks=f"words within each {group} group"),
            alpha_convention=ALPHA_CONVENTION,
        )
    )
    write_netcdf(ds, output)
    best = model.r2_gain.max(0)
    logger.info(
        "wrote %s (%s)",
        output,
        ", ".join(f"{m}: gain {g:.3f}" for m, g in zip(measures, best, strict=True)),
    )
    return output
