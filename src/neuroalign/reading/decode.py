"""The reading-decoding stage: goal and comprehension decoded from eye movements, by regime.

For each task (``goal``: information seeking vs ordinary reading; ``correct``: the question
answered correctly), each generalization regime (new paragraph, new participant, both; see
:mod:`~neuroalign.reading.decode_cv`) and each decoder (:mod:`~neuroalign.reading.decoders`),
the out-of-fold predictions give a balanced accuracy with a bootstrap interval over
participants (whole readers resampled, since a reader's trials are not independent), an ROC
AUC, and per-paragraph and per-participant error rates. Online decoding refits and scores the
decoders on the trials cut to their first k fixations (one regime, a grid of k).

``goal_selection`` (:mod:`~neuroalign.reading.decode_select`) decodes which of its paragraph's
candidate questions an information-seeking reader was given, on those trials only, through the
selectors registered under the decoder names (``text``, ``eye``; a decoder with no selector,
such as ``fusion``, is NaN there). Its score is the balanced accuracy over the candidate
indices (chance 1/k, in ``chance``); data with one question per paragraph (the OneStop sample)
make it not decodable, with the reason logged and kept in ``attrs["status"]``.

A task whose labels have a single class (or none) is recorded as not decodable (NaN scores,
its reason in ``attrs["status"]``) rather than failing the run; a training fold with one
class predicts that class.

`decode_reading` is the stage (fixation + IA report -> ``decode.nc``); `decode_trials` runs
the same on a :class:`~neuroalign.reading.decode_data.ReadingTrials`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import provenance
from neuroalign.reading.decode_cv import (
    REGIMES,
    balanced_accuracy,
    bootstrap_ci,
    error_table,
    regime_folds,
)
from neuroalign.reading.decode_data import TASKS, ReadingTrials, read_reading_trials
from neuroalign.reading.decode_select import SELECTORS, choose, make_selector
from neuroalign.reading.decoders import DECODERS, WordFeatures, make_decoder
from neuroalign.results import load_netcdf, write_netcdf
from neuroalign.settings import StageSettings, seed_or_default

__all__ = [
    "DecodeFeatures",
    "DecodeReadingSettings",
    "FusionSettings",
    "OnlineSettings",
    "decode_reading",
    "decode_trials",
    "describe",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeFeatures(StageSettings):
    """Word features of the paragraphs (``reading_decode.<name>.features``)."""

    SECTION: ClassVar[str] = "#/$defs/reading_decode/properties/features"

    model: str | None = None
    stimset: str | None = None
    variable: str = "resid"
    layer: int = -1
    dim: int = 32


@dataclass(frozen=True)
class FusionSettings(StageSettings):
    """Size and training of the fusion transformer (``reading_decode.<name>.fusion``)."""

    SECTION: ClassVar[str] = "#/$defs/reading_decode/properties/fusion"

    d_model: int = 16
    word_dim: int = 16
    n_layers: int = 1
    n_heads: int = 2
    max_epochs: int = 30
    patience: int = 5
    lr: float = 3e-3
    validation: float = 0.2
    device: str = "cpu"


@dataclass(frozen=True)
class OnlineSettings(StageSettings):
    """Online decoding from the first k fixations (``reading_decode.<name>.online``)."""

    SECTION: ClassVar[str] = "#/$defs/reading_decode/properties/online"

    k: tuple[int, ...] = (10, 20, 40)
    regime: str = "item"
    decoders: tuple[str, ...] = ("eye", "fusion")


@dataclass(frozen=True, kw_only=True)
class DecodeReadingSettings(StageSettings):
    """One reading-decoding analysis (one ``reading_decode`` entry of the configuration).

    Build it with ``DecodeReadingSettings.from_config({"dataset": "sim_reading_goals"})``; the
    schema's defaults fill the rest.
    """

    SECTION: ClassVar[str] = "#/$defs/reading_decode"

    dataset: str
    fixations: str = "fixations.csv"
    ia: str = "ia.csv"
    questions: str = "questions.csv"
    tasks: tuple[str, ...] = ("goal", "correct")
    decoders: tuple[str, ...] = ("text", "eye", "fusion")
    regimes: tuple[str, ...] = ("item", "participant", "both")
    n_folds: int = 3
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    features: DecodeFeatures = field(default_factory=DecodeFeatures)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    online: OnlineSettings = field(default_factory=OnlineSettings)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in (*self.decoders, *self.online.decoders):
            if name not in DECODERS:
                raise NeuroalignError(
                    f"field 'decoders': unknown decoder {name!r}; registered: {list(DECODERS)}."
                )
        if self.online.regime not in REGIMES:
            raise NeuroalignError(f"field 'online.regime': {self.online.regime!r} unknown.")


def _fit_predict(name: str, task: str, features: WordFeatures, seed: int, params: dict):
    def run(train: ReadingTrials, test: ReadingTrials) -> np.ndarray:
        y = train.labels(task)
        if np.unique(y).size < 2:
            return np.full(len(test), float(y[0]))
        decoder = make_decoder(name, task, features, seed=seed, **params)
        return decoder.fit(train).predict_proba(test)

    return run


def _scores(y, proba, people, settings, seed) -> tuple[float, float, float, float]:
    from sklearn.metrics import roc_auc_score

    pred = (proba >= 0.5).astype(int)
    ba = balanced_accuracy(y, pred)
    low, high = bootstrap_ci(
        y,
        pred,
        groups=people,
        n_bootstrap=settings.n_bootstrap,
        level=settings.ci_level,
        seed=seed,
    )
    auc = float(roc_auc_score(y, proba)) if np.unique(y).size == 2 else float("nan")
    return ba, low, high, auc


def decode_trials(
    trials: ReadingTrials,
    settings: DecodeReadingSettings,
    features: WordFeatures | None = None,
) -> xr.Dataset:
    """Decode every task of ``settings`` from ``trials``, by regime and decoder.

    Returns
    -------
    result : xarray.Dataset
        ``balanced_accuracy``, ``ci_low``, ``ci_high``, ``auc`` (task, regime, decoder);
        ``online_balanced_accuracy``, ``online_ci_low``, ``online_ci_high`` (task, decoder, k);
        ``item_error`` (task, regime, decoder, item), ``participant_error`` (task, regime,
        decoder, participant); ``proba`` (task, regime, decoder, trial) out-of-fold;
        ``label`` (task, trial); ``n_folds`` (regime); ``chance`` (task). For
        ``goal_selection`` ``label`` is the given question's index among the paragraph's
        candidates (NaN for ordinary reading) and ``proba`` the chosen candidate's probability.
        ``attrs["status"]`` (JSON) says per task whether it was decodable and why not.
    """
    seed = seed_or_default(settings.seed)
    features = features or WordFeatures.hashed(trials.words, settings.features.dim)
    tasks, regimes, decoders = list(settings.tasks), list(settings.regimes), list(settings.decoders)
    online_decoders = [d for d in settings.online.decoders]
    ks = list(settings.online.k)
    items = sorted(set(trials.trials["item_group"]))
    people = sorted(set(trials.trials["participant"]))
    shape = (len(tasks), len(regimes), len(decoders))
    out = {
        name: np.full(shape, np.nan) for name in ("balanced_accuracy", "ci_low", "ci_high", "auc")
    }
    online = {
        name: np.full((len(tasks), len(online_decoders), len(ks)), np.nan)
        for name in ("online_balanced_accuracy", "online_ci_low", "online_ci_high")
    }
    item_error = np.full((*shape, len(items)), np.nan)
    person_error = np.full((*shape, len(people)), np.nan)
    proba_all = np.full((*shape, len(trials)), np.nan)
    labels = np.stack([trials.labels(t) for t in tasks])
    folds = {r: regime_folds(trials.trials, r, settings.n_folds, seed) for r in regimes}
    params = {"fusion": settings.fusion.to_dict()}
    status = {}
    chance = np.full(len(tasks), 0.5)
    groups = trials.trials["participant"].to_numpy()
    for t, task in enumerate(tasks):
        if task == "goal_selection":
            status[task], chance[t] = _select(
                trials,
                settings,
                features,
                seed,
                arrays=(t, out, online, item_error, person_error, proba_all),
                coords=(regimes, decoders, online_decoders, ks, items, people),
            )
            continue
        y = labels[t]
        known = np.unique(y[~np.isnan(y)])
        if np.isnan(y).any() or known.size < 2:
            counts = {str(int(v)): int((y == v).sum()) for v in known}
            status[task] = (
                f"not decodable: labels {counts or 'missing'}"
                f"{' with some missing' if np.isnan(y).any() else ''}; needs both classes"
            )
            logger.warning("%s: task %r %s", trials.source, task, status[task])
            continue
        status[task] = "decoded"
        y = y.astype(int)
        for r, regime in enumerate(regimes):
            for d, name in enumerate(decoders):
                run = _fit_predict(name, task, features, seed, params.get(name, {}))
                proba = np.full(len(trials), np.nan)
                for train, test in folds[regime]:
                    proba[test] = run(trials.subset(train), trials.subset(test))
                proba_all[t, r, d] = proba
                ba, low, high, auc = _scores(y, proba, groups, settings, seed)
                for key, value in zip(out, (ba, low, high, auc), strict=True):
                    out[key][t, r, d] = value
                pred = (proba >= 0.5).astype(int)
                table = error_table(y, pred, trials.trials["item_group"].to_numpy())
                item_error[t, r, d] = table["error_rate"].reindex(items).to_numpy()
                table = error_table(y, pred, groups)
                person_error[t, r, d] = table["error_rate"].reindex(people).to_numpy()
                logger.info("%s %s %s: balanced accuracy %.3f", task, regime, name, ba)
        online_folds = folds.get(settings.online.regime) or regime_folds(
            trials.trials, settings.online.regime, settings.n_folds, seed
        )
        for j, k in enumerate(ks):
            cut = trials.first(k)
            for d, name in enumerate(online_decoders):
                run = _fit_predict(name, task, features, seed, params.get(name, {}))
                proba = np.full(len(trials), np.nan)
                for train, test in online_folds:
                    proba[test] = run(cut.subset(train), cut.subset(test))
                ba, low, high, _ = _scores(y, proba, groups, settings, seed)
                for key, value in zip(online, (ba, low, high), strict=True):
                    online[key][t, d, j] = value
    dims = ("task", "regime", "decoder")
    ds = xr.Dataset(
        {
            **{k: (dims, v) for k, v in out.items()},
            **{k: (("task", "online_decoder", "k"), v) for k, v in online.items()},
            "item_error": ((*dims, "item"), item_error),
            "participant_error": ((*dims, "participant"), person_error),
            "proba": ((*dims, "trial"), proba_all),
            "label": (("task", "trial"), labels),
            "n_folds": ("regime", [len(folds[r]) for r in regimes]),
            "chance": ("task", chance),
        },
        coords={
            "task": tasks,
            "regime": regimes,
            "decoder": decoders,
            "online_decoder": online_decoders,
            "k": ks,
            "item": items,
            "participant": people,
            "trial": trials.trials["trial"].to_numpy().astype(str),
            "trial_item": ("trial", trials.trials["item_group"].to_numpy().astype(str)),
            "trial_participant": ("trial", groups.astype(str)),
        },
    )
    ds["balanced_accuracy"].attrs["description"] = (
        "mean per-class recall of out-of-fold predictions (P >= 0.5; goal_selection: the "
        "chosen candidate); chance in 'chance'"
    )
    ds["chance"].attrs["description"] = (
        "chance balanced accuracy: 0.5 for the binary tasks, the mean 1/k over trials for "
        "goal_selection among k candidate questions"
    )
    ds["ci_low"].attrs["description"] = (
        f"{settings.ci_level:.0%} percentile bootstrap interval (participants resampled)"
    )
    ds.attrs.update(
        {
            "status": json.dumps(status),
            "chance": "0.5",
            "online_regime": settings.online.regime,
            "features": features.source,
            "n_trials": str(len(trials)),
            "regimes": json.dumps({r: REGIMES[r] for r in regimes}),
            "tasks": json.dumps({t: TASKS[t] for t in tasks}),
        }
    )
    return ds


def _select(trials, settings, features, seed, *, arrays, coords) -> tuple[str, float]:
    """Run goal selection into ``arrays`` (in place); return its status and chance level."""
    t, out, online, item_error, person_error, proba_all = arrays
    regimes, decoders, online_decoders, ks, items, people = coords
    y_all = trials.labels("goal_selection")
    keep = np.flatnonzero(~np.isnan(y_all))
    n_k = trials.n_candidates()
    if keep.size == 0 or np.unique(y_all[keep]).size < 2:
        reason = (
            "not decodable: no paragraph has two or more candidate questions with their "
            f"critical spans (most candidates per paragraph: {int(n_k.max(initial=0))}); the "
            "task needs each paragraph's question bank"
        )
        if (n_k >= 2).any():
            reason = "not decodable: fewer than two candidates were given to information seekers"
        logger.warning("%s: task 'goal_selection' %s", trials.source, reason)
        return reason, float("nan")
    sub = trials.subset(keep)
    y = y_all[keep].astype(int)
    chance = float(np.mean(1.0 / n_k[keep]))
    groups = sub.trials["participant"].to_numpy()
    skipped = [d for d in (*decoders, *online_decoders) if d not in SELECTORS]
    if skipped:
        logger.info("goal_selection: no selector for %s (NaN)", sorted(set(skipped)))

    def run(cut: ReadingTrials, name: str, folds) -> tuple[np.ndarray, np.ndarray]:
        pred = np.full(len(cut), -1)
        proba = np.full(len(cut), np.nan)
        for train, test in folds:
            selector = make_selector(name, features, seed=seed).fit(cut.subset(train))
            p = selector.predict_proba(cut.subset(test))
            pred[test] = choose(p)
            proba[test] = p[np.arange(len(test)), pred[test]]
        return pred, proba

    def score(pred: np.ndarray) -> tuple[float, float, float]:
        low, high = bootstrap_ci(
            y,
            pred,
            groups=groups,
            n_bootstrap=settings.n_bootstrap,
            level=settings.ci_level,
            seed=seed,
        )
        return balanced_accuracy(y, pred), low, high

    folds = {r: regime_folds(sub.trials, r, settings.n_folds, seed) for r in regimes}
    for r, regime in enumerate(regimes):
        for d, name in enumerate(decoders):
            if name not in SELECTORS:
                continue
            pred, proba = run(sub, name, folds[regime])
            ba, low, high = score(pred)
            out["balanced_accuracy"][t, r, d] = ba
            out["ci_low"][t, r, d], out["ci_high"][t, r, d] = low, high
            proba_all[t, r, d, keep] = proba
            table = error_table(y, pred, sub.trials["item_group"].to_numpy())
            item_error[t, r, d] = table["error_rate"].reindex(items).to_numpy()
            table = error_table(y, pred, groups)
            person_error[t, r, d] = table["error_rate"].reindex(people).to_numpy()
            logger.info("goal_selection %s %s: balanced accuracy %.3f", regime, name, ba)
    online_folds = folds.get(settings.online.regime) or regime_folds(
        sub.trials, settings.online.regime, settings.n_folds, seed
    )
    for j, k in enumerate(ks):
        cut = sub.first(k)
        for d, name in enumerate(online_decoders):
            if name in SELECTORS:
                values = score(run(cut, name, online_folds)[0])
                for key, value in zip(online, values, strict=True):
                    online[key][t, d, j] = value
    k_text = "/".join(str(v) for v in sorted(set(n_k[keep])))
    logger.info("goal_selection: %d trials among %s candidate questions", keep.size, k_text)
    return "decoded", chance


def decode_reading(
    settings: DecodeReadingSettings,
    *,
    dataset: str | Path,
    output: str | Path,
    activations: str | Path | None = None,
) -> Path:
    """Decode reading goal and comprehension from a dataset's reports and write a netCDF.

    Parameters
    ----------
    settings : DecodeReadingSettings
        One ``reading_decode`` entry.
    dataset : str or Path
        The dataset folder; its ``settings.fixations`` and ``settings.ia`` reports are read.
    output : str or Path
        The result file (``.nc``), written atomically.
    activations : str or Path, optional
        An activation store of the paragraphs' words (``settings.features.model`` on the
        dataset's stimulus table); None: hashed bag-of-words vectors.

    Returns
    -------
    output : Path
    """
    root = Path(dataset)
    fixations, ia = root / settings.fixations, root / settings.ia
    questions = root / settings.questions
    trials = read_reading_trials(fixations, ia, questions if questions.is_file() else None)
    features = None
    if activations is not None:
        spec = settings.features
        features = WordFeatures.from_store(
            activations, trials.words, variable=spec.variable, layer=spec.layer
        )
    elif settings.features.model is not None:
        raise NeuroalignError(
            f"features.model is {settings.features.model!r}: pass its activation store of the "
            "paragraphs (--activations results/activations/<model>/<stimset>.zarr), or set "
            "features.model to null for hashed word vectors."
        )
    logger.info("decoding %s: %d trials", root.name, len(trials))
    ds = decode_trials(trials, settings, features)
    inputs = {"fixations": fixations, "ia": ia}
    if questions.is_file():
        inputs["questions"] = questions
    ds.attrs.update(
        provenance(
            stage="decode-reading",
            config=settings.to_dict(),
            inputs=inputs,
            seed=seed_or_default(settings.seed),
            dataset=settings.dataset,
            simulated=str(settings.dataset.startswith("sim_")).lower(),
        )
    )
    return write_netcdf(ds, output)


def describe(path: str | Path) -> str:
    """One line per task and regime: the best decoder's balanced accuracy and interval."""
    ds = load_netcdf(path, "reading decoding result")
    lines = []
    for task in ds["task"].values:
        for regime in ds["regime"].values:
            ba = ds["balanced_accuracy"].sel(task=task, regime=regime)
            if np.isnan(ba.values).all():
                lines.append(f"{task} / {regime}: not decodable")
                continue
            best = str(ba.idxmax("decoder").values)
            lo = float(ds["ci_low"].sel(task=task, regime=regime, decoder=best))
            hi = float(ds["ci_high"].sel(task=task, regime=regime, decoder=best))
            lines.append(
                f"{task} / {regime}: {best} {float(ba.sel(decoder=best)):.3f} [{lo:.3f}, {hi:.3f}]"
            )
    return "\n".join(lines)
