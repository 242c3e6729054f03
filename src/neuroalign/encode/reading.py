"""Eye-tracking reading measures: the gain of a model's features over a reading baseline.

An interest-area report (OneStop format, one row per reader and word) is averaged over readers;
each measure is predicted from the field's standard baselines, by least squares, and from the
baseline plus a layer's features (ridge on the features only), with folds by paragraph. The
candidates (:data:`READING_BASELINES`) are the word's length, its frequency, length + frequency +
position, and all of these with the previous word's length and frequency (spillover; 0 for a
paragraph's first word) and the word's token count where the store has it; the gain is over
the strongest, chosen in each outer fold on its training words only
(`neuroalign.encoding.baselines.gain_over_baselines`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, check_file
from neuroalign._io import provenance
from neuroalign.data.readers._tables import read_delimited
from neuroalign.encode.activations import align_items, read_activations, store_info
from neuroalign.encode.output import ALPHA_CONVENTION, fit_device, run_config
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encoding.baselines import choose_per_fold, gain_over_baselines, most_chosen
from neuroalign.encoding.cv import group_folds
from neuroalign.results import write_netcdf

__all__ = [
    "READING_BASELINE",
    "READING_BASELINES",
    "READING_COLUMNS",
    "READING_MEASURES",
    "encode_eyetracking",
    "read_reading_report",
]

logger = logging.getLogger(__name__)

#: How the baseline is chosen, recorded in results.
BASELINE_CHOICE = (
    "strongest of the standard baselines: in each outer fold, the candidate (least squares) "
    "with the highest mean inner-CV R^2 over the measures on that fold's training words only; "
    "ties go to the simpler candidate"
)
#: The measures fitted, and their column in the interest-area report.
READING_MEASURES = {
    "first_fixation": "IA_FIRST_FIXATION_DURATION",
    "gaze_duration": "IA_FIRST_RUN_DWELL_TIME",
    "total_time": "IA_DWELL_TIME",
    "skipping": "IA_SKIP",
}
#: The report's columns the baseline is built from: length, frequency and position of the word.
READING_COLUMNS = ("word_length_no_punctuation", "wordfreq_frequency", "IA_ID")
#: The baseline predictors: the word's length, frequency and position, and the previous word's
#: length and frequency (spillover), the standard baseline of reading-time studies.
READING_BASELINE = (*READING_COLUMNS, "previous_word_length", "previous_word_frequency")
#: The standard baselines the gain may be over, by name (``n_tokens`` where the store has it).
READING_BASELINES = {
    "length": (READING_COLUMNS[0],),
    "frequency": (READING_COLUMNS[1],),
    "word": READING_COLUMNS,
    "all": (*READING_BASELINE, "n_tokens"),
}


def read_reading_report(path: str | Path) -> pd.DataFrame:
    """Average an interest-area report over readers: one row per word, measures + baseline.

    Raises
    ------
    NeuroalignError
        If the file is missing or lacks a column of the OneStop IA report format.
    """
    path = check_file(Path(path), "interest-area report")
    # IA_LABEL holds words ("NA", "null" and "None" stay words); "." marks a missing measure.
    report = read_delimited(
        path, "interest-area report", words=("IA_LABEL",), na_values=["."], low_memory=False
    )
    need = {"unique_paragraph_id", "IA_LABEL", *READING_MEASURES.values(), *READING_COLUMNS}
    missing = sorted(need - set(report.columns))
    if missing:
        raise NeuroalignError(f"{path}: missing columns {missing} (OneStop IA report format).")
    keys = ["unique_paragraph_id", "IA_ID"]
    agg = {v: "mean" for v in READING_MEASURES.values()}
    agg.update({c: "first" for c in ("IA_LABEL", *READING_COLUMNS[:2])})
    words = report.groupby(keys, sort=False).agg(agg).reset_index()
    by_paragraph = words.groupby("unique_paragraph_id", sort=False)
    for new, col in (
        ("previous_word_length", READING_COLUMNS[0]),
        ("previous_word_frequency", READING_COLUMNS[1]),
    ):
        words[new] = by_paragraph[col].shift(1).fillna(0.0).to_numpy(float)
    return words


def encode_eyetracking(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    report: str | Path,
    output: str | Path,
) -> Path:
    """Score the gain of model features over the reading baseline, per measure and layer.

    Parameters
    ----------
    settings : EncodeSettings
        An ``eyetracking`` entry (`EncodeSettings.from_config`).
    activations : str or Path
        The activation store of the report's paragraphs (story = paragraph id).
    report : str or Path
        The interest-area report (CSV).
    output : str or Path
        The netCDF file to write (held-out r and R^2 of baseline, full model and gain, per
        layer and measure).

    Returns
    -------
    output : Path
    """
    settings.check_kind("eyetracking")
    report, output = Path(report), Path(output)
    device = fit_device(settings)
    alphas = settings.grid
    layers = read_activations(activations, settings.variable, settings.layers)
    words = read_reading_report(report)
    measures = list(READING_MEASURES)
    Y = words[[READING_MEASURES[m] for m in measures]].to_numpy(float)
    ok = ~np.isnan(Y).any(1)
    predictors = {c: words[c].to_numpy(float) for c in READING_BASELINE}
    _, tokens = store_info(activations)
    folds = group_folds(words["unique_paragraph_id"].to_numpy()[ok], n_folds=settings.folds)
    gains, chosen = {}, None
    for k, da in layers.items():
        idx = np.concatenate(
            [
                align_items(da, block["IA_LABEL"].astype(str).tolist(), str(story), str(report))
                for story, block in words.groupby("unique_paragraph_id", sort=False)
            ]
        )
        if chosen is None:
            if tokens is not None and len(tokens) == da.sizes["item"]:
                predictors["n_tokens"] = np.asarray(tokens, float)[idx]
            named = {
                name: tuple(c for c in cols if c in predictors)
                for name, cols in READING_BASELINES.items()
            }
            cands = {
                name: np.column_stack([predictors[c] for c in cols])[ok]
                for name, cols in named.items()
            }
            chosen = choose_per_fold(cands, Y[ok], folds)
        gains[k], _ = gain_over_baselines(
            da.values[idx][ok],
            cands,
            Y[ok],
            alphas,
            folds,
            chosen=chosen,
            device=device,
            dtype=settings.dtype,
        )
    keys = list(gains)
    ds = xr.Dataset(
        {
            name: (("layer", "measure"), np.stack([gains[k][name] for k in keys]))
            for name in gains[keys[0]]
        },
        coords={"layer": [str(k) for k in keys], "measure": measures},
    )
    used, share = most_chosen(chosen)
    ds["baseline_used"] = ("measure", [used] * len(measures))
    ds["baseline_share"] = ("measure", np.full(len(measures), share))
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(settings),
            seed=settings.random_seed,
            inputs={"report": report},
            dataset=str(report.parent.name),
            n_words=int(ok.sum()),
            baseline={k: list(v) for k, v in named.items()},
            baseline_choice=BASELINE_CHOICE,
            measures=READING_MEASURES,
            score="held-out r and R^2 (nested CV by paragraph); gain = full minus baseline",
            baseline_fit="least squares (unpenalized); ridge penalizes only the model features",
            alpha_convention=ALPHA_CONVENTION,
        )
    )
    write_netcdf(ds, output)
    logger.info("wrote %s", output)
    return output
