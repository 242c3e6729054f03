"""Reading eye-tracking with planted word effects (``sim_eyetracking``).

Each simulated reader reads every paragraph of the chosen chapters (one trial per paragraph).
Per word, with predictors centered on their mean over the text (length in letters,
frequency and surprisal in bits)::

    P(skip)                   = logistic(a0 + a . z)
    log first fixation (ms)   = b0 + b . z + reader offset + N(0, noise_sd^2)

A fixated word may be refixated in its first run (probability ``refixation`` per letter) and
read again later (probability ``regression``). The table has the columns of an EyeLink Data
Viewer interest-area report as in the OneStop corpus, with ``.`` for durations of skipped
words.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._io import atomic_path, provenance
from neuroalign.data.simulate import bids
from neuroalign.data.simulate.features import FeatureTable, story_features
from neuroalign.data.simulate.settings import SimEyetrackingSettings
from neuroalign.data.simulate.story import chapter_words, load_story

logger = logging.getLogger(__name__)

DATASET_ID = "sim_eyetracking"
REPORT = "ia_report.csv"
TERMS = ("intercept", "length", "frequency", "surprisal")
PREDICTOR_COLUMNS = {
    "length": "word_length_no_punctuation",
    "frequency": "wordfreq_frequency",
    "surprisal": "surprisal",
}
MISSING = "."


def text_table(stories: list[str], table: FeatureTable | None = None) -> pd.DataFrame:
    """Return one row per word of ``stories`` with its trial layout and predictors.

    Returns
    -------
    words : DataFrame
        Columns ``article_id`` (1-based chapter number), ``article_title``, ``paragraph_id``
        (1-based within the chapter), ``IA_ID`` (0-based within the paragraph), ``IA_LABEL``,
        ``word_length``, ``word_length_no_punctuation``, ``wordfreq_frequency`` and
        ``surprisal``.
    """
    chapters = load_story()
    words = chapter_words()
    features = story_features(words, dim=1, table=table)
    names = list(chapters)
    frames = []
    for name in stories:
        w, f = words[name], features[name]
        frames.append(
            pd.DataFrame(
                {
                    "article_id": names.index(name) + 1,
                    "article_title": chapters[name].title,
                    "paragraph_id": w["paragraph"] + 1,
                    "IA_ID": w.groupby("paragraph").cumcount(),
                    "IA_LABEL": w["word"],
                    "word_length": w["word"].str.len(),
                    "word_length_no_punctuation": f["length"],
                    "wordfreq_frequency": f["frequency"].round(6),
                    "surprisal": f["surprisal"].round(6),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def predictor_matrix(frame: pd.DataFrame, means: np.ndarray | None = None) -> np.ndarray:
    """Return ``[1, length, frequency, surprisal]`` per row, predictors centered on ``means``.

    ``means`` (length, frequency, surprisal) default to the column means of ``frame``.
    """
    x = frame[list(PREDICTOR_COLUMNS.values())].to_numpy(float)
    means = x.mean(axis=0) if means is None else means
    return np.column_stack([np.ones(len(x)), x - means])


def simulate_readers(
    words: pd.DataFrame, rng: np.random.Generator, cfg: SimEyetrackingSettings
) -> tuple[pd.DataFrame, np.ndarray]:
    """Simulate every reader on every word.

    Parameters
    ----------
    words : DataFrame
        From :func:`text_table`.
    rng : numpy.random.Generator
    cfg : mapping
        Resolved ``simulate.eyetracking`` settings.

    Returns
    -------
    report : DataFrame
        The interest-area report (durations as strings, ``.`` when missing).
    reader_offsets : ndarray, shape (n_readers,)
        Planted per-reader log-duration offsets.
    """
    x = predictor_matrix(words)
    skip_coef = np.array([getattr(cfg.skip, t) for t in TERMS])
    dur_coef = np.array([getattr(cfg.duration, t) for t in TERMS])
    letters = words["word_length_no_punctuation"].to_numpy(float)
    n = len(words)
    trial = words.groupby(["article_id", "paragraph_id"], sort=False).ngroup().to_numpy() + 1
    offsets = rng.normal(0.0, cfg.duration.reader_sd, cfg.n_readers)
    frames = []
    for r, offset in enumerate(offsets):
        skip = rng.random(n) < 1 / (1 + np.exp(-(x @ skip_coef)))
        log_ffd = x @ dur_coef + offset + rng.normal(0.0, cfg.duration.noise_sd, n)
        ffd = np.round(np.exp(log_ffd))
        refix = rng.random(n) < np.clip(cfg.refixation * letters, 0, 1)
        refix_dur = np.round(np.exp(rng.normal(np.log(180.0), 0.3, n))) * refix
        regress = rng.random(n) < cfg.regression
        second = np.round(np.exp(rng.normal(np.log(200.0), 0.3, n))) * regress
        first_run = ffd + refix_dur
        frame = words.copy()
        frame.insert(0, "participant_id", f"sim{r + 1:02d}")
        frame.insert(1, "TRIAL_INDEX", trial)
        frame["IA_SKIP"] = skip.astype(int)
        frame["IA_FIXATION_COUNT"] = np.where(skip, 0, 1 + refix + regress)
        frame["IA_FIRST_FIXATION_DURATION"] = _durations(ffd, skip)
        frame["IA_FIRST_RUN_DWELL_TIME"] = _durations(first_run, skip)
        frame["IA_DWELL_TIME"] = _durations(first_run + second, skip)
        # No regressions out of a word are simulated: its regression path is its first run.
        frame["IA_REGRESSION_PATH_DURATION"] = _durations(first_run, skip)
        frame["IA_SECOND_RUN_DWELL_TIME"] = _durations(second, skip | ~regress)
        frame["IA_LAST_RUN_DWELL_TIME"] = _durations(np.where(regress, second, first_run), skip)
        frame["IA_REGRESSION_IN"] = np.where(skip, 0, regress.astype(int))
        frames.append(frame)
    report = pd.concat(frames, ignore_index=True)
    report["unique_paragraph_id"] = (
        report["article_id"].astype(str) + "_" + report["paragraph_id"].astype(str)
    )
    return report, offsets


def _durations(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    return np.where(missing, MISSING, values.astype(int).astype(str))


def simulate_eyetracking(
    output: str | Path,
    settings: SimEyetrackingSettings | None = None,
    *,
    features: FeatureTable | None = None,
) -> Path:
    """Simulate the reading eye-tracking dataset and write it to ``output``.

    Writes ``<output>/ia_report.csv`` (one row per reader and word), a README and
    ``dataset_description.json``, and the planted truth in ``derivatives/neuroalign-truth``.

    Parameters
    ----------
    output : str or Path
        The dataset directory, written atomically (replaced if it exists).
    settings : SimEyetrackingSettings, optional
        The config's ``simulate.eyetracking`` section (default: the schema's defaults). Its ``seed``
        (None: 0) and the other settings fix the table bitwise.
    features : FeatureTable, optional
        External word features; only a ``surprisal`` column is used (else the bigram model).

    Returns
    -------
    output : Path
    """
    cfg = settings or SimEyetrackingSettings()
    seed = cfg.seed or 0
    output = Path(output)
    words = text_table(list(cfg.stories), features)
    means = words[list(PREDICTOR_COLUMNS.values())].to_numpy(float).mean(axis=0)
    report, offsets = simulate_readers(words, np.random.default_rng([seed, 1]), cfg)
    logger.info("simulating %s: %d readers x %d words", DATASET_ID, cfg.n_readers, len(words))
    with atomic_path(output) as tmp:
        tmp.mkdir()
        report.to_csv(tmp / REPORT, index=False)
        bids.write_dataset_description(
            tmp, "neuroalign simulated reading eye-tracking", description=_DESCRIPTION
        )
        (tmp / "README").write_text(_README)
        truth = xr.Dataset(
            {
                "skip_coef": ("term", [float(getattr(cfg.skip, t)) for t in TERMS]),
                "duration_coef": ("term", [float(getattr(cfg.duration, t)) for t in TERMS]),
                "predictor_mean": ("term", [0.0, *means]),
                "reader_offset": ("participant", offsets),
            },
            coords={
                "term": list(TERMS),
                "participant": [f"sim{r + 1:02d}" for r in range(cfg.n_readers)],
                "column": ("term", ["", *PREDICTOR_COLUMNS.values()]),
            },
        )
        truth["skip_coef"].attrs["description"] = (
            "log-odds of IA_SKIP per unit of centered predictor"
        )
        truth["duration_coef"].attrs["description"] = (
            "log IA_FIRST_FIXATION_DURATION (ms) per unit of centered predictor"
        )
        truth.attrs.update(
            provenance(stage="simulate", config=cfg.to_dict(), seed=seed, dataset=DATASET_ID)
        )
        if features is not None:
            truth.attrs["features_source"] = features.source
        summary = {
            "dataset": DATASET_ID,
            "seed": seed,
            "settings": cfg.to_dict(),
            "report": REPORT,
            "n_readers": cfg.n_readers,
            "n_words": len(words),
            "planted": "skip_coef and duration_coef over terms " + ", ".join(TERMS),
        }
        bids.write_truth(tmp, truth, summary)
    return output


_DESCRIPTION = "Simulated reading eye-tracking with planted word effects."
_README = """Simulated reading eye-tracking (neuroalign).

ia_report.csv is a word-level interest-area report in the columns of an EyeLink Data Viewer
report as in the OneStop corpus: one row per reader and word of neuroalign's bundled story,
one trial per paragraph; `.` marks durations of words that were not fixated. Skipping and
first fixation durations carry planted effects of word length, frequency (-log2 unigram
probability in the story) and surprisal (bigram model of the story unless external features
were given). The planted truth is in derivatives/neuroalign-truth/. These are not real data.
"""
