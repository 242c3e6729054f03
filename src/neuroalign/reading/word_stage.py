"""The word-level effects stage: what each predictor does to each reading measure, with intervals.

For one word-level stimulus table (per-word measures: means over readers, or ERP amplitudes):

1. The measures are moved by ``shift`` words if the user asks (recorded), then each measure's
   lag profile against the word's length (or frequency) is computed per text and pooled
   (`neuroalign.reading.lags`); a table whose pooled profile peaks off zero is refused or
   warned about (``on_misalignment``).
2. The predictors of each word (`neuroalign.reading.words`): length, log frequency, position in
   the text; surprisal and entropy from each causal LM of ``models``; the table's own surprisal
   columns; spillover copies of the previous ``spillover`` words' predictors.
3. Per measure, on the words that have every predictor (sentence edges out unless
   ``keep_edges``): the baseline (length, frequency, position and their spillover) and, one at a
   time, the baseline plus each predictor set (an LM's surprisal, entropy and surprisal
   spillover; a corpus column and its spillover) by OLS with intervals cluster-robust over texts
   (`neuroalign.reading.regress`), and the delta log-likelihood of each set over the baseline
   (in sample with its likelihood-ratio test, and held out over folds of whole texts).
4. Where participant-level measures are given (an interest-area report of the OneStop format),
   the same models as mixed models with by-participant random intercepts and a by-item (text)
   variance component; otherwise, the word means' OLS stands, with the reason logged and
   recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.data.reading_measures import CONVENTIONS, EDGE_NOTE, sentence_edges
from neuroalign.data.stimuli import read_table
from neuroalign.reading.features import layer_gains, read_layers
from neuroalign.reading.lags import check_alignment, lag_profiles, shift_measures
from neuroalign.reading.regress import (
    EFFECT_COLUMNS,
    delta_loglik,
    finite_rows,
    mixed_effects,
    ols_effects,
)
from neuroalign.reading.word_settings import WordEffectsSettings
from neuroalign.reading.words import lm_word_surprisal, word_predictors
from neuroalign.results import write_netcdf

__all__ = ["PARTICIPANT_MEASURES", "READER_MEASURES", "word_effects"]

logger = logging.getLogger(__name__)

#: Measures of the readers without corpus conventions (`neuroalign.data.reading_measures`).
READER_MEASURES = {
    "wordlevel_gaze": {
        "first_fix_dur": "first-fixation duration (ms), unconditional mean over readers",
        "first_pass_dur": "first-pass (gaze) duration (ms), unconditional mean over readers",
        "total_fix_dur": "total reading time (ms), unconditional mean over readers",
        "fix_prob": "share of readers who fixated the word",
    },
    "natural_stories": {"meanItemRT": "mean self-paced reading time (ms) over readers"},
}
#: Word-mean column -> participant-level column, per reader whose participants can be read.
PARTICIPANT_MEASURES = {
    "onestop": {
        "mean_FFD": "FFD",
        "mean_GD": "GD",
        "mean_TRT": "TRT",
        "mean_RPD": "RPD",
        "skip_rate": "skip",
    }
}
#: Participant-level measures that are binary (no linear mixed model).
BINARY = {"skip"}
BASELINE = ("length", "frequency", "position")
COEFFICIENTS = (
    "held-out and in-sample fits of each measure on the baseline plus one predictor set; beta in "
    "measure units (log measure for log_measures) per predictor unit, beta_std in SD of measure "
    "per SD of predictor; 95% intervals cluster-robust over texts (OLS) or Wald (mixed models)"
)
DELTA_LL = (
    "Gaussian log-likelihood (nats) of baseline + set minus baseline: in sample (lr_p: "
    "likelihood-ratio test) and held out per word (folds of whole texts)"
)


def _measures(settings: WordEffectsSettings, reader: str, table: pd.DataFrame, where: str):
    conv = CONVENTIONS.get(reader)
    known = conv.measures if conv else READER_MEASURES.get(reader, {})
    if settings.measures is not None:
        names = list(settings.measures)
    elif known:
        names = [m for m in known if m in table.columns]
    else:
        raise NeuroalignError(
            f"{where}: no known reading measures for tables of reader {reader!r}; set measures "
            f"(known readers: {sorted({*CONVENTIONS, *READER_MEASURES})})"
        )
    missing = [m for m in names if m not in table.columns]
    if missing:
        raise NeuroalignError(f"{where}: no measure column(s) {missing} in the table")
    if not names:
        raise NeuroalignError(f"{where}: none of the reader's measures is in the table")
    return names, {m: known.get(m, m) for m in names}


def _column(table: pd.DataFrame, name: str, where: str, field: str) -> np.ndarray:
    if name not in table.columns:
        raise NeuroalignError(f"{where}: no column {name!r} for {field}")
    return pd.to_numeric(table[name], errors="coerce").to_numpy(float)


def _transform(values: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log(values), np.nan)


def _lm_predictors(
    settings: WordEffectsSettings, models: Mapping[str, str], table: pd.DataFrame
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from neuroalign.models.sources import load_model

    out, sources = {}, {}
    stories = table["story"].astype(str).to_numpy()
    order = pd.unique(stories)
    rows = [np.flatnonzero(stories == s) for s in order]
    words = table["text"].astype(str).to_numpy()
    for name in settings.models:
        if name not in models:
            raise NeuroalignError(f"model {name!r} of reading.words has no source; pass one")
        model, tokenizer, source = load_model(
            models[name], head="causal", dtype=settings.dtype, device=settings.device
        )
        scored = lm_word_surprisal(
            model,
            tokenizer,
            [words[r].tolist() for r in rows],
            window=settings.window,
            batch_size=settings.batch_size,
            names=[f"text {s!r}" for s in order],
        )
        surprisal, entropy = np.full(len(table), np.nan), np.full(len(table), np.nan)
        for r, s in zip(rows, scored, strict=True):
            surprisal[r], entropy[r] = s.surprisal, s.entropy
        out[f"surprisal_{name}"], out[f"entropy_{name}"] = surprisal, entropy
        sources[name] = source.spec
        del model
    return out, sources


def _participant_table(
    path: Path, reader: str, table: pd.DataFrame, preds: pd.DataFrame
) -> pd.DataFrame:
    """Participant-level measures joined with the word predictors on (text, position)."""
    from neuroalign.data.readers.onestop import read_onestop_measures

    per = read_onestop_measures(path)
    words = preds.assign(
        story=table["story"].astype(str).to_numpy(), position=table["position"].to_numpy()
    )
    per = per.assign(story=per["story"].astype(str))
    return per.merge(words, on=["story", "position"], how="inner", validate="m:1")


def word_effects(
    settings: WordEffectsSettings,
    *,
    stimuli: str | Path,
    output: str | Path,
    models: Mapping[str, str] | None = None,
    participants: str | Path | None = None,
    activations: Mapping[str, str | Path] | None = None,
) -> Path:
    """Regress each reading measure of a word table on word predictors; write a netCDF.

    Parameters
    ----------
    settings : WordEffectsSettings
        A ``reading.words`` entry.
    stimuli : str or Path
        The word-level stimulus table (.parquet) with the measure columns.
    output : str or Path
        The netCDF file to write.
    models : mapping of str to str, optional
        Model name -> source (``hf:``, ``path:``) of each name in ``settings.models``.
    participants : str or Path, optional
        The participant-level measures (an interest-area report of the OneStop format) of the
        table's words, for the mixed models.
    activations : mapping of str to str or Path, optional
        Model name -> activation store of the table's words, for each name in
        ``settings.features``: every layer against the baseline through the ridge engine
        (`neuroalign.reading.features`).

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        A missing column, a tokenizer that does not reproduce a word (naming it), or, with
        ``on_misalignment: error``, a table whose lag profile peaks off zero.
    """
    stimuli, output = Path(stimuli), Path(output)
    table, table_attrs = read_table(stimuli)
    reader = str(table_attrs.get("reader", ""))
    where = str(stimuli)
    conv = CONVENTIONS.get(reader)
    measures, descriptions = _measures(settings, reader, table, where)
    table = shift_measures(table, measures, "story", settings.shift)
    texts = table["story"].astype(str).to_numpy()
    roles = dict(conv.baseline) if conv else {}
    length_col = settings.length or roles.get("length")
    freq_col = settings.frequency or roles.get("frequency")
    length = _column(table, length_col, where, "length") if length_col else None
    frequency = _column(table, freq_col, where, "frequency") if freq_col else None
    corpus_cols = (
        list(settings.corpus_predictors)
        if settings.corpus_predictors is not None
        else [c for c in (conv.surprisal if conv else ()) if c in table.columns]
    )
    corpus = {c: _column(table, c, where, "corpus_predictors") for c in corpus_cols}
    lm, sources = _lm_predictors(settings, models or {}, table) if settings.models else ({}, {})
    spill = ("length", "frequency", *[k for k in lm if k.startswith("surprisal_")], *corpus)
    preds = word_predictors(
        table["text"].astype(str).tolist(),
        texts,
        sentences=table["sentence"].to_numpy() if "sentence" in table else None,
        surprisal={**lm, **corpus},
        frequency=frequency,
        length=length,
        n_spill=settings.spillover,
        spill_terms=spill,
    )
    prev = [f"_prev{k}" for k in range(1, settings.spillover + 1)]
    base_cols = [*BASELINE, *[f"{t}{p}" for t in ("length", "frequency") for p in prev]]
    sets: dict[str, list[str]] = {}
    for name in settings.models:
        s = f"surprisal_{name}"
        sets[name] = [s, f"entropy_{name}", *[f"{s}{p}" for p in prev]]
    for c in corpus:
        sets[c] = [c, *[f"{c}{p}" for p in prev]]
    predictors = list(dict.fromkeys([*base_cols, *(c for cols in sets.values() for c in cols)]))

    # 1. alignment: lag profiles on every word of the table, before any exclusion
    Y = {
        m: _transform(_column(table, m, where, "measures"), m in settings.log_measures)
        for m in measures
    }
    profiles = {}
    for m in measures:
        profiles[m] = lag_profiles(
            Y[m],
            preds[settings.lag_property].to_numpy(),
            texts,
            max_lag=settings.max_lag,
            margin=settings.lag_margin,
            min_words=settings.lag_min_words,
            expected=settings.lag_expected,
        )
    for m in measures:
        check_alignment(
            profiles[m],
            settings.on_misalignment,
            what=where,
            prop=settings.lag_property,
            measure=m,
        )

    # 2-3. OLS on word means
    keep = np.ones(len(table), bool) if settings.keep_edges else ~sentence_edges(table)
    set_names = ["baseline", *sets]
    shape = (len(measures), len(set_names), len(predictors))
    ols = {c: np.full(shape, np.nan) for c in EFFECT_COLUMNS}
    ll_keys = ("delta_loglik", "lr_p", "delta_loglik_heldout")
    ll = {k: np.full((len(measures), len(set_names)), np.nan) for k in ll_keys}
    loglik = np.full((len(measures), len(set_names)), np.nan)
    n_words = np.zeros(len(measures), np.int64)
    X_all = preds[predictors]
    for i, m in enumerate(measures):
        rows = keep & finite_rows(Y[m], X_all)
        n_words[i] = rows.sum()
        if rows.sum() <= len(predictors) + 2:
            logger.warning("%s: %s has %d usable words; skipped", where, m, rows.sum())
            continue
        y, g = Y[m][rows], texts[rows]
        for j, s in enumerate(set_names):
            cols = base_cols + sets.get(s, [])
            eff, loglik[i, j] = ols_effects(y, X_all.loc[rows, cols], groups=g)
            idx = [predictors.index(c) for c in cols]
            for c in EFFECT_COLUMNS:
                ols[c][i, j, idx] = eff[c].to_numpy()
            if s != "baseline":
                d = delta_loglik(
                    y,
                    X_all.loc[rows, base_cols],
                    X_all.loc[rows, sets[s]],
                    g,
                    n_folds=settings.folds,
                )
                for k in ll_keys:
                    ll[k][i, j] = d[k]

    data: dict[str, Any] = {
        f"ols_{c}": (("measure", "set", "predictor"), v) for c, v in ols.items()
    }
    data["ols_loglik"] = (("measure", "set"), loglik)
    data.update({k: (("measure", "set"), v) for k, v in ll.items()})
    data["n_words"] = ("measure", n_words)

    # 4. mixed models on participant-level measures
    mixed_note = _mixed(
        settings,
        reader,
        participants,
        table,
        preds,
        measures,
        set_names,
        sets,
        base_cols,
        predictors,
        keep,
        data,
    )

    # 5. high-dimensional features: each layer over the baseline, through the ridge engine
    feature_note = _features(
        settings, activations or {}, table, Y, measures, X_all, base_cols, keep, texts, data
    )

    # lag profiles
    text_names = profiles[measures[0]].texts
    data["lag_r"] = (("measure", "text", "lag"), np.stack([profiles[m].r for m in measures]))
    data["lag_flagged"] = (("measure", "text"), np.stack([profiles[m].flagged for m in measures]))
    data["lag_pooled"] = (("measure", "lag"), np.stack([profiles[m].pooled for m in measures]))
    data["lag_peak"] = ("measure", np.array([profiles[m].peak for m in measures]))
    data["lag_misaligned"] = ("measure", np.array([profiles[m].misaligned for m in measures]))
    ds = xr.Dataset(
        data,
        coords={
            "measure": measures,
            "measure_description": ("measure", [descriptions[m] for m in measures]),
            "set": set_names,
            "predictor": predictors,
            "lag": profiles[measures[0]].lags,
            "text": [str(t) for t in text_names],
            "log_scale": ("measure", [m in settings.log_measures for m in measures]),
        },
    )
    exclusions = [] if settings.keep_edges else [EDGE_NOTE]
    exclusions.append("words missing the measure or any predictor (spillover at a text's start)")
    ds.attrs.update(
        provenance(
            stage="reading_words",
            config=settings.to_dict(),
            inputs={"stimuli": stimuli, **({"participants": participants} if participants else {})},
            dataset=str(table_attrs.get("dataset") or table["stimset"].iloc[0]),
            stimset=str(table["stimset"].iloc[0]),
            simulated=str(
                str(table_attrs.get("dataset") or table["stimset"].iloc[0]).startswith("sim_")
            ).lower(),
            reader=reader,
            models=sources,
            baseline=base_cols,
            sets={k: v for k, v in sets.items()},
            length_source=length_col or "letters and digits of the word",
            frequency_source=freq_col or "wordfreq Zipf frequency of the word",
            shift_applied=int(settings.shift),
            shift_note=(
                f"measures moved {settings.shift} word(s) later within each text before the "
                "analysis"
                if settings.shift
                else "none"
            ),
            on_misalignment=settings.on_misalignment,
            lag_property=settings.lag_property,
            lag_expected=int(settings.lag_expected),
            misaligned=[m for m in measures if profiles[m].misaligned],
            exclusions=exclusions,
            coefficients=COEFFICIENTS,
            delta_loglik=DELTA_LL,
            mixed=mixed_note,
            features=feature_note,
            conventions=list(conv.notes) if conv else [],
        )
    )
    write_netcdf(ds, output)
    logger.info("wrote %s (%d measures, %d predictor sets)", output, len(measures), len(set_names))
    return output


def _mixed(
    settings,
    reader,
    participants,
    table,
    preds,
    measures,
    set_names,
    sets,
    base_cols,
    predictors,
    keep,
    data,
) -> str:
    """Fill ``data`` with the mixed models' effects; return what was fitted, or why not."""
    if settings.mixed == "off":
        reason = "mixed: off; OLS on word means only"
    elif participants is None:
        reason = "no participant-level measures given; OLS on word means only"
    elif reader not in PARTICIPANT_MEASURES:
        reason = (
            f"participant-level measures of reader {reader!r} cannot be read (known: "
            f"{sorted(PARTICIPANT_MEASURES)}); OLS on word means only"
        )
    else:
        reason = ""
    if reason:
        logger.info("%s", reason)
        return reason
    mapping = PARTICIPANT_MEASURES[reader]
    wanted = list(settings.mixed_measures) if settings.mixed_measures is not None else measures
    fit_measures = [m for m in wanted if m in mapping and mapping[m] not in BINARY]
    skipped = [m for m in wanted if m not in fit_measures]
    if not fit_measures:
        reason = f"no continuous participant-level measure among {wanted}; OLS on word means only"
        logger.info("%s", reason)
        return reason
    per = _participant_table(Path(participants), reader, table, preds.assign(_keep=keep))
    per = per[per["_keep"].to_numpy(bool)]
    shape = (len(measures), len(set_names), len(predictors))
    out = {c: np.full(shape, np.nan) for c in EFFECT_COLUMNS}
    loglik = np.full((len(measures), len(set_names)), np.nan)
    n_rows = np.zeros(len(measures), np.int64)
    structures = set()
    for m in fit_measures:
        i = measures.index(m)
        y = _transform(
            pd.to_numeric(per[mapping[m]], errors="coerce").to_numpy(float),
            m in settings.log_measures,
        )
        rows = finite_rows(y, per[predictors])
        n_rows[i] = rows.sum()
        for j, s in enumerate(set_names):
            cols = base_cols + sets.get(s, [])
            res = mixed_effects(
                y[rows],
                per.loc[rows, cols],
                per.loc[rows, "participant"].to_numpy(),
                per.loc[rows, "story"].to_numpy(),
                crossed_max_rows=settings.crossed_max_rows,
            )
            structures.add(res.structure)
            idx = [predictors.index(c) for c in cols]
            for c in EFFECT_COLUMNS:
                out[c][i, j, idx] = res.effects[c].to_numpy()
            loglik[i, j] = res.loglik
    for c, v in out.items():
        data[f"mixed_{c}"] = (("measure", "set", "predictor"), v)
    data["mixed_loglik"] = (("measure", "set"), loglik)
    data["mixed_delta_loglik"] = (("measure", "set"), loglik - loglik[:, :1])
    data["n_rows_mixed"] = ("measure", n_rows)
    note = (
        f"mixed models (statsmodels MixedLM, ML) of {fit_measures} on participant-level "
        f"measures: {'; '.join(sorted(structures))}"
    )
    if skipped:
        note += f"; not fitted (binary or no participant-level values): {skipped}"
    logger.info("%s", note)
    return note


def _features(settings, activations, table, Y, measures, X_all, base_cols, keep, texts, data):
    """Fill ``data`` with each layer's held-out gain over the baseline; return what was done."""
    if not settings.features:
        return "none"
    from neuroalign.devices import resolve_device
    from neuroalign.settings import alpha_grid

    words = table["text"].astype(str).tolist()
    layers = {}
    for name in settings.features:
        if name not in activations:
            raise NeuroalignError(f"features model {name!r} has no activation store; pass one")
        for layer, X in read_layers(
            activations[name], words, settings.variable, settings.layers, "the stimulus table"
        ).items():
            layers[f"{name}:{layer}"] = X
    keys = ("r_gain", "r2_gain", "delta_loglik_heldout", "r_baseline", "r_full")
    out = {k: np.full((len(measures), len(layers)), np.nan) for k in keys}
    alphas = alpha_grid(settings.alphas)
    device = resolve_device(settings.device)
    for i, m in enumerate(measures):
        for j, X in enumerate(layers.values()):
            rows = keep & finite_rows(Y[m], X_all[base_cols], X)
            if rows.sum() <= len(base_cols) + 2 or len(np.unique(texts[rows])) < 2:
                continue
            scores = layer_gains(
                X[rows],
                X_all.loc[rows, base_cols].to_numpy(float),
                Y[m][rows],
                texts[rows],
                alphas,
                n_folds=settings.folds,
                device=device,
            )
            for k in keys:
                out[k][i, j] = scores[k]
    for k, v in out.items():
        data[f"feature_{k}"] = (("measure", "feature"), v)
    data["feature_model"] = ("feature", [f.split(":")[0] for f in layers])
    data["feature_layer"] = ("feature", [f.split(":", 1)[1] for f in layers])
    data["feature_id"] = ("feature", list(layers))
    return (
        f"{len(layers)} layer(s) of {list(settings.features)} ({settings.variable}): ridge on "
        "the units over the least-squares baseline, folds of whole texts, penalty by inner CV; "
        "held-out r, R^2 and delta log-likelihood per word 0.5 log(mse_base / mse_full)"
    )
