"""Recover planted quantities from simulated datasets with simple standard methods.

Each ``recover_<kind>(dataset_dir)`` reads the data through generic readers (nibabel and
nilearn, MNE and mne-bids, pandas), estimates the planted quantities, and returns an
xarray Dataset in which every quantity is a pair ``planted_<name>`` / ``recovered_<name>``
with identical dims, plus ``attrs["summary"]`` (JSON {metric: value}) and ``attrs["dataset"]``.
These checks exist so the report can show recovered vs planted before encoding models exist.
Scores and ceilings are the encoding engine's: `neuroalign.encoding.scores.pearson_r` and
`neuroalign.encoding.ceilings.explainable_variance`.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr

from neuroalign._check import NeuroalignError, check_file, check_option
from neuroalign._io import provenance
from neuroalign.data.simulate.bids import TRUTH_DIR, read_truth
from neuroalign.data.simulate.eyetracking import REPORT, predictor_matrix
from neuroalign.data.simulate.hrf import convolve_events
from neuroalign.data.simulate.meg import lagged_design
from neuroalign.data.simulate.story import word_key
from neuroalign.encoding import ceilings
from neuroalign.encoding.scores import pearson_r
from neuroalign.results import write_netcdf

_RUN = re.compile(r"sub-(?P<sub>[^_]+)_task-(?P<task>[^_]+)_run-(?P<run>\d+)_bold\.nii\.gz$")


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Pearson correlation of two arrays, flattened."""
    return float(pearson_r(np.ravel(a)[:, None], np.ravel(b)[:, None])[0])


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Dice coefficient of two boolean masks (1 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def top_mask(values: np.ndarray, n: int) -> np.ndarray:
    """Return a boolean mask of the ``n`` largest values (ties broken by position)."""
    mask = np.zeros(values.shape, bool)
    if n > 0:
        mask[np.argsort(-values, kind="stable")[:n]] = True
    return mask


def explainable_variance(repeats: np.ndarray) -> np.ndarray:
    """Return the bias-corrected explainable variance of responses to repeated stimuli.

    Each repeat is z-scored over time, so that every repeat weighs the same, then passed to
    the engine's `neuroalign.encoding.ceilings.explainable_variance`: with unit-variance
    repeats that is ``var(mean over repeats) - (1 - ev) / (n_repeats - 1)``, an unbiased
    estimate of signal variance over the total variance of a single repeat.

    Parameters
    ----------
    repeats : ndarray, shape (n_repeats, n_times, n_targets)

    Returns
    -------
    ev : ndarray, shape (n_targets,)
    """
    sd = repeats.std(axis=1, keepdims=True)
    z = np.divide(
        repeats - repeats.mean(axis=1, keepdims=True), sd, where=sd > 0, out=np.zeros_like(repeats)
    )
    return ceilings.explainable_variance(z)


def percent_signal(data: np.ndarray) -> np.ndarray:
    """Return (n_times, n_voxels) data as percent signal change around each voxel's mean."""
    mean = data.mean(axis=0)
    return np.divide(data, mean, out=np.ones_like(data), where=mean != 0) * 100 - 100


def _runs(root: Path, subject: str) -> list[dict]:
    runs = []
    for path in sorted((root / f"sub-{subject}" / "func").glob("*_bold.nii.gz")):
        match = _RUN.search(path.name)
        if match:
            events = path.with_name(path.name.replace("_bold.nii.gz", "_events.tsv"))
            runs.append(
                {"task": match["task"], "run": int(match["run"]), "bold": path, "events": events}
            )
    if not runs:
        raise NeuroalignError(
            f"{root}: no BOLD runs for sub-{subject}; is this a simulated fMRI dataset?"
        )
    return runs


def _voxel_series(path: Path, truth: xr.Dataset) -> np.ndarray:
    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float64)
    i, j, k = (truth[c].to_numpy() for c in ("voxel_i", "voxel_j", "voxel_k"))
    return data[i, j, k, :].T


def recover_fmri(dataset: str | Path) -> xr.Dataset:
    """Recover the planted voxel weights, noise ceiling and language voxels of ``sim_fmri``.

    Per subject: BOLD in percent signal change; word features from the planted truth placed at
    the events' onsets and convolved with the canonical HRF; OLS on the training runs;
    prediction of the mean test response (held-out r); explainable variance from the repeats;
    the language mask recovered as the voxels with the highest held-out r.

    Parameters
    ----------
    dataset : str or Path
        A ``sim_fmri`` directory.

    Returns
    -------
    recovered : xarray.Dataset
        Pairs ``planted_/recovered_`` of ``weights`` (subject, feature, voxel),
        ``explainable_variance``, ``test_r`` (planted = the ideal r of the true model) and
        ``language_mask`` (subject, voxel).
    """
    root = Path(dataset)
    truth = read_truth(root)
    tr = float(truth.attrs["tr"])
    test = truth.attrs["test_story"]
    language = truth["language_mask"].to_numpy().astype(bool)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("w", "ev", "r", "mask")}
    for subject in truth["subject"].to_numpy():
        train_x, train_y, repeats = [], [], []
        test_x = None
        for run in _runs(root, str(subject)):
            y = percent_signal(_voxel_series(run["bold"], truth))
            x = _word_regressors(run["events"], run["task"], truth, len(y), tr)
            if run["task"] == test:
                repeats.append(y - y.mean(axis=0))
                test_x = x
            else:
                train_x.append(x - x.mean(axis=0))
                train_y.append(y - y.mean(axis=0))
        if test_x is None or len(repeats) < 2:
            raise NeuroalignError(f"{root}: sub-{subject} needs at least 2 runs of task {test!r}.")
        weights, *_ = np.linalg.lstsq(np.concatenate(train_x), np.concatenate(train_y), rcond=None)
        prediction = (test_x - test_x.mean(axis=0)) @ weights
        r = pearson_r(np.mean(repeats, axis=0), prediction)
        out["w"].append(weights)
        out["ev"].append(explainable_variance(np.stack(repeats)))
        out["r"].append(r)
        out["mask"].append(top_mask(r, int(language.sum())).astype(np.int8))
    n_sub = truth.sizes["subject"]
    planted_mask = np.broadcast_to(language.astype(np.int8), (n_sub, language.size))
    ds = xr.Dataset(
        {
            "planted_weights": truth["weights"],
            "recovered_weights": (("subject", "feature", "voxel"), np.stack(out["w"])),
            "planted_explainable_variance": truth["explainable_variance"],
            "recovered_explainable_variance": (("subject", "voxel"), np.stack(out["ev"])),
            "planted_test_r": truth["ideal_test_r"],
            "recovered_test_r": (("subject", "voxel"), np.stack(out["r"])),
            "planted_language_mask": (("subject", "voxel"), planted_mask.copy()),
            "recovered_language_mask": (("subject", "voxel"), np.stack(out["mask"])),
        }
    )
    r = ds["recovered_test_r"].to_numpy()
    summary = {
        "test_r_language_mean": float(r[:, language].mean()),
        "test_r_other_mean": float(r[:, ~language].mean()),
        "weights_corr_language": correlation(
            ds["planted_weights"].to_numpy()[..., language],
            ds["recovered_weights"].to_numpy()[..., language],
        ),
        "explainable_variance_corr": correlation(
            ds["planted_explainable_variance"], ds["recovered_explainable_variance"]
        ),
        "language_mask_dice": float(
            np.mean([dice(m, language) for m in ds["recovered_language_mask"].to_numpy()])
        ),
    }
    return _finish(ds, truth, "sim_fmri", summary)


def _word_regressors(
    events_path: Path, task: str, truth: xr.Dataset, n_scans: int, tr: float
) -> np.ndarray:
    events = pd.read_csv(events_path, sep="\t", keep_default_na=False)
    events = events[events["trial_type"] == "word"]
    tokens = truth["story"].to_numpy() == task
    texts = truth["text"].to_numpy()[tokens]
    keys = np.array([word_key(w) for w in events["word"]])
    if len(keys) != len(texts) or not np.array_equal(keys, texts):
        raise NeuroalignError(
            f"{events_path}: the words do not match story {task!r} of the planted truth."
        )
    features = truth["word_features"].to_numpy()[tokens]
    return convolve_events(events["onset"].to_numpy(float), features, n_scans, tr)


def recover_localizer(dataset: str | Path) -> xr.Dataset:
    """Recover the planted localizer contrast and language mask of ``sim_localizer``.

    Per subject: nilearn's ``FirstLevelModel`` (SPM HRF, cosine drifts, AR(1) noise, percent
    signal scaling) on all runs; contrast ``sentence - nonword``; the language mask is
    recovered as the voxels with the largest t values (as many as planted).

    Returns
    -------
    recovered : xarray.Dataset
        Pairs of ``contrast`` (effect size, percent) and ``language_mask`` (subject, voxel).
    """
    from nilearn.glm.first_level import FirstLevelModel

    root = Path(dataset)
    truth = read_truth(root)
    tr = float(truth.attrs["tr"])
    language = truth["language_mask"].to_numpy().astype(bool)
    mask_img = nib.load(root / TRUTH_DIR / "brain_mask.nii.gz")
    effects, tmaps = [], []
    ijk = tuple(truth[c].to_numpy() for c in ("voxel_i", "voxel_j", "voxel_k"))
    for subject in truth["subject"].to_numpy():
        runs = _runs(root, str(subject))
        events = []
        for run in runs:
            table = pd.read_csv(run["events"], sep="\t", keep_default_na=False)
            events.append(
                table[table["trial_type"].isin(["sentence", "nonword"])][
                    ["onset", "duration", "trial_type"]
                ]
            )
        glm = FirstLevelModel(
            t_r=tr,
            hrf_model="spm",
            drift_model="cosine",
            high_pass=0.008,
            mask_img=mask_img,
            signal_scaling=0,
            minimize_memory=True,
        )
        with warnings.catch_warnings():
            # Both notes are expected here: the brain mask is given, and every run has the
            # same two conditions, so one contrast fits all runs.
            warnings.filterwarnings("ignore", message=".*mask was given at masker creation")
            warnings.filterwarnings("ignore", message="The same contrast will be used")
            glm.fit([str(r["bold"]) for r in runs], events=events)
            maps = glm.compute_contrast("sentence - nonword", output_type="all")
        effects.append(np.asarray(maps["effect_size"].get_fdata())[ijk])
        tmaps.append(np.asarray(maps["stat"].get_fdata())[ijk])
    n_sub = truth.sizes["subject"]
    recovered_mask = np.stack([top_mask(t, int(language.sum())) for t in tmaps]).astype(np.int8)
    ds = xr.Dataset(
        {
            "planted_contrast": truth["contrast"],
            "recovered_contrast": (("subject", "voxel"), np.stack(effects)),
            "planted_language_mask": (
                ("subject", "voxel"),
                np.tile(language.astype(np.int8), (n_sub, 1)),
            ),
            "recovered_language_mask": (("subject", "voxel"), recovered_mask),
            "t_map": (("subject", "voxel"), np.stack(tmaps)),
        }
    )
    summary = {
        "language_mask_dice": float(np.mean([dice(m, language) for m in recovered_mask])),
        "contrast_corr": correlation(ds["planted_contrast"], ds["recovered_contrast"]),
        "contrast_slope": float(
            np.polyfit(
                ds["planted_contrast"].to_numpy().ravel(),
                ds["recovered_contrast"].to_numpy().ravel(),
                1,
            )[0]
        ),
    }
    return _finish(ds, truth, "sim_localizer", summary)


def recover_meg(dataset: str | Path) -> xr.Dataset:
    """Recover the planted TRFs of ``sim_meg`` by least squares on a time-lagged design.

    Per subject: the recording through ``mne_bids.read_raw_bids``; word onsets from its
    annotations; impulse predictors (onset, z-scored surprisal from the planted truth);
    ordinary least squares of every sensor on the lagged predictors.

    Returns
    -------
    recovered : xarray.Dataset
        Pair of ``trf`` (subject, sensor, lag, predictor), in tesla per unit.
    """
    import mne_bids

    root = Path(dataset)
    truth = read_truth(root)
    sfreq = float(truth.attrs["sfreq"])
    lags = truth["lag"].to_numpy()
    first_lag = round(float(lags[0]) * sfreq)
    values = truth["predictor_values"].to_numpy()
    recovered = []
    for subject in truth["subject"].to_numpy():
        path = mne_bids.BIDSPath(
            subject=str(subject), task=truth.attrs["task"], datatype="meg", root=root
        )
        raw = mne_bids.read_raw_bids(path, verbose=False)
        raw.pick(list(truth["sensor"].to_numpy()))
        words = [i for i, d in enumerate(raw.annotations.description) if d == "word"]
        if len(words) != len(values):
            raise NeuroalignError(
                f"{path.fpath}: {len(words)} word annotations, the planted truth has "
                f"{len(values)}; is this the simulated dataset?"
            )
        onsets = raw.annotations.onset[words] - raw.first_time
        x = np.zeros((raw.n_times, values.shape[1]))
        np.add.at(x, np.round(onsets * sfreq).astype(int), values)
        design = lagged_design(x, len(lags), first_lag)
        design -= design.mean(axis=0)
        y = raw.get_data().T
        y = y - y.mean(axis=0)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        n_pred = values.shape[1]
        recovered.append(coef.reshape(n_pred, len(lags), -1).transpose(2, 1, 0))
    ds = xr.Dataset(
        {
            "planted_trf": truth["trf"],
            "recovered_trf": (("subject", "sensor", "lag", "predictor"), np.stack(recovered)),
        }
    )
    summary = {}
    for p in truth["predictor"].to_numpy():
        planted = ds["planted_trf"].sel(predictor=p).to_numpy()
        estimate = ds["recovered_trf"].sel(predictor=p).to_numpy()
        summary[f"trf_corr_{p}"] = correlation(planted, estimate)
        power = (estimate**2).sum(axis=1).mean(axis=0)
        summary[f"peak_lag_error_{p}"] = float(
            abs(lags[power.argmax()] - lags[(planted**2).sum(axis=1).mean(axis=0).argmax()])
        )
    return _finish(ds, truth, "sim_meg", summary)


def logistic_fit(x: np.ndarray, y: np.ndarray, n_iter: int = 50, tol: float = 1e-10) -> np.ndarray:
    """Return maximum-likelihood logistic regression coefficients (Newton's method).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_terms)
        Design, including an intercept column if wanted.
    y : ndarray of {0, 1}, shape (n_samples,)

    Returns
    -------
    coef : ndarray, shape (n_terms,)
    """
    coef = np.zeros(x.shape[1])
    for _ in range(n_iter):
        p = 1 / (1 + np.exp(-(x @ coef)))
        hessian = (x * (p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hessian, x.T @ (y - p))
        coef += step
        if np.abs(step).max() < tol:
            break
    return coef


def recover_eyetracking(dataset: str | Path) -> xr.Dataset:
    """Recover the planted skipping and duration effects of ``sim_eyetracking``.

    Reads the interest-area report with pandas (``.`` as missing); logistic regression of
    ``IA_SKIP`` and OLS of log ``IA_FIRST_FIXATION_DURATION`` (fixated words) on word length,
    frequency and surprisal, centered as in the planted model.

    Returns
    -------
    recovered : xarray.Dataset
        Pairs of ``skip_coef`` and ``duration_coef`` (term).
    """
    root = Path(dataset)
    truth = read_truth(root)
    report = pd.read_csv(check_file(root / REPORT, "interest-area report"), na_values=["."])
    x = predictor_matrix(report, truth["predictor_mean"].to_numpy()[1:])
    skip_coef = logistic_fit(x, report["IA_SKIP"].to_numpy(float))
    fixated = report["IA_FIRST_FIXATION_DURATION"].notna().to_numpy()
    log_ffd = np.log(report["IA_FIRST_FIXATION_DURATION"].to_numpy(float)[fixated])
    duration_coef, *_ = np.linalg.lstsq(x[fixated], log_ffd, rcond=None)
    ds = xr.Dataset(
        {
            "planted_skip_coef": truth["skip_coef"],
            "recovered_skip_coef": ("term", skip_coef),
            "planted_duration_coef": truth["duration_coef"],
            "recovered_duration_coef": ("term", duration_coef),
        }
    )
    summary = {}
    for name in ("skip_coef", "duration_coef"):
        planted = ds[f"planted_{name}"].to_numpy()[1:]
        estimate = ds[f"recovered_{name}"].to_numpy()[1:]
        summary[f"{name}_max_relative_error"] = float(np.max(np.abs(estimate / planted - 1)))
    return _finish(ds, truth, "sim_eyetracking", summary)


def recover_reading_goals(dataset: str | Path) -> xr.Dataset:
    """Recover the planted goal and comprehension effects of ``sim_reading_goals``.

    Reads the interest-area report with pandas. Logistic regressions of first-pass skipping
    (``IA_SKIP``, first words of a trial left out) on [1, letters centered within the
    paragraph, goal], separately for words outside and inside the critical span, give the
    goal's added log-odds (``skip_outside``, ``skip_inside``; slightly attenuated by the
    readers' random skipping bias); a logistic regression of ``is_correct`` on
    [1, span coverage - 0.75] (share of the span's words fixated) gives ``span_coverage``.

    Returns
    -------
    recovered : xarray.Dataset
        Pairs of ``goal_skip`` (effect: skip_outside, skip_inside) and
        ``comprehension_coef`` (term: span_coverage).
    """
    from neuroalign.data.simulate.reading_goals import IA

    root = Path(dataset)
    truth = read_truth(root)
    cfg = json.loads(truth.attrs["config"])
    ia = pd.read_csv(check_file(root / IA, "interest-area report"), na_values=["."])
    letters = ia["word_length_no_punctuation"].astype(float)
    trial = [ia["participant_id"], ia["TRIAL_INDEX"]]
    centered = letters - letters.groupby(trial).transform("mean")
    span = ia["critical_span_indices"].str.extract(r"\((\d+),\s*(\d+)\)").astype(int)
    inside = (ia["IA_ID"] >= span[0]) & (ia["IA_ID"] < span[1])
    goal = ia["question_preview"].astype(bool).astype(float)
    keep = ia["IA_ID"] > 0
    effects = []
    for where in (~inside, inside):
        rows = (keep & where).to_numpy()
        x = np.column_stack([np.ones(rows.sum()), centered[rows], goal[rows]])
        effects.append(logistic_fit(x, ia["IA_SKIP"].to_numpy(float)[rows])[2])
    ia["_fixated"] = (ia["IA_FIXATION_COUNT"] > 0) & inside
    ia["_inside"] = inside
    per_trial = ia.groupby(trial).agg(
        fixated=("_fixated", "sum"), n=("_inside", "sum"), correct=("is_correct", "first")
    )
    coverage = per_trial["fixated"] / per_trial["n"]
    x = np.column_stack([np.ones(len(coverage)), coverage - 0.75])
    coef = logistic_fit(x, per_trial["correct"].astype(float).to_numpy())
    ds = xr.Dataset(
        {
            "planted_goal_skip": (
                "effect",
                [cfg["goal"]["skip_outside"], cfg["goal"]["skip_inside"]],
            ),
            "recovered_goal_skip": ("effect", effects),
            "planted_comprehension_coef": ("term", [cfg["comprehension"]["span_coverage"]]),
            "recovered_comprehension_coef": ("term", [coef[1]]),
        },
        coords={"effect": ["skip_outside", "skip_inside"], "term": ["span_coverage"]},
    )
    planted = ds["planted_goal_skip"].to_numpy()
    summary = {
        "goal_skip_max_abs_error": float(np.max(np.abs(np.asarray(effects) - planted))),
        "comprehension_coef_relative_error": float(
            abs(coef[1] / cfg["comprehension"]["span_coverage"] - 1)
        ),
    }
    return _finish(ds, truth, "sim_reading_goals", summary)


def _finish(ds: xr.Dataset, truth: xr.Dataset, dataset: str, summary: dict) -> xr.Dataset:
    keep = [c for c in truth.coords if any(c in v.coords for v in ds.data_vars.values())]
    ds = ds.assign_coords({c: truth.coords[c] for c in keep})
    ds.attrs = {}
    ds.attrs["dataset"] = dataset
    ds.attrs["summary"] = json.dumps(summary, sort_keys=True)
    return ds


RECOVERERS: dict[str, Callable[[str | Path], xr.Dataset]] = {
    "fmri": recover_fmri,
    "localizer": recover_localizer,
    "meg": recover_meg,
    "eyetracking": recover_eyetracking,
    "reading_goals": recover_reading_goals,
}


def recover(kind: str, dataset: str | Path, output: str | Path) -> xr.Dataset:
    """Recover the planted quantities of a simulated dataset and write them to ``output``.

    Parameters
    ----------
    kind : str
        ``"fmri"``, ``"localizer"``, ``"meg"`` or ``"eyetracking"``.
    dataset : str or Path
        The simulated dataset directory.
    output : str or Path
        A netCDF file, written atomically.

    Returns
    -------
    recovered : xarray.Dataset
    """
    check_option("kind", kind, list(RECOVERERS))
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise NeuroalignError(
            f"dataset not found: {dataset}. Run `neuroalign simulate {kind}` first."
        )
    ds = RECOVERERS[kind](dataset)
    truth_file = dataset / TRUTH_DIR / "truth.nc"
    ds.attrs.update(provenance(stage="simulate-recover", inputs={"truth": truth_file}, kind=kind))
    write_netcdf(ds, output)
    return ds
