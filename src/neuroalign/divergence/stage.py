"""The divergence stages: `divergence`, `finetune` and `compare_finetuned`.

Each takes one settings object and paths, writes one result atomically (netCDF through
`neuroalign.results`, or a model folder) and returns its path, printing nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance, write_json_atomic
from neuroalign.data.lexicons import category_masks, lexicon, normalize_word, read_lexicon
from neuroalign.divergence import analysis
from neuroalign.divergence.responses import heldout_predictions, read_meg, word_epochs
from neuroalign.divergence.settings import DivergenceSettings, FinetuneSettings
from neuroalign.results import load_netcdf, open_activations, write_netcdf

__all__ = ["compare_finetuned", "describe", "divergence", "finetune", "word_features"]

logger = logging.getLogger(__name__)

#: Packaged toy texts a ``finetune`` entry can name as ``path: package:<file>``.
PACKAGE_TEXTS = ("social_toy.txt", "physical_toy.txt")


def _masks(settings: DivergenceSettings, words) -> dict[str, np.ndarray]:
    lists = {name: lexicon(name) for name in settings.categories}
    lists.update({name: read_lexicon(path) for name, path in settings.lexicons.items()})
    return category_masks(words, lists)


def word_features(store: str | Path, variable: str, layer: int, words) -> np.ndarray:
    """One layer's features of each word, from an activation store of the same words in order.

    Raises
    ------
    NeuroalignError
        If the store lacks the unit space or layer, or its items are not the words.
    """
    ds = open_activations(store)
    if variable not in ds:
        raise NeuroalignError(f"{store}: no unit space {variable!r}; it has {list(ds.data_vars)}.")
    da = ds[variable]
    if "layer" in da.dims:
        labels = [int(v) for v in da["layer"].values]
        pick = labels[layer] if -len(labels) <= layer < 0 else layer
        if pick not in labels:
            raise NeuroalignError(f"{store}: layer {layer} is not in the store ({labels}).")
        da = da.sel(layer=pick)
    words = [normalize_word(w) for w in words]
    if da.sizes["item"] != len(words):
        raise NeuroalignError(
            f"{store}: {da.sizes['item']} items for {len(words)} word events; extract the "
            "recording's stimulus set."
        )
    if "text" in da.coords:
        text = [normalize_word(t) for t in da["text"].values]
        bad = [i for i, (a, b) in enumerate(zip(text, words, strict=True)) if a != b]
        if bad:
            i = bad[0]
            raise NeuroalignError(
                f"{store}: item {i} is {text[i]!r} but word event {i} is {words[i]!r}; extract "
                "the recording's stimulus set."
            )
    return np.asarray(da.values, float)


def _responses(settings: DivergenceSettings, dataset, subject, encoding):
    """Observed word responses and the dataset's planted truth (if simulated)."""
    if encoding is not None:
        ds = load_netcdf(encoding)
        if not {"prediction", "observed"} <= set(ds.data_vars):
            raise NeuroalignError(
                f"{encoding}: needs prediction and observed (word, sensor, window)."
            )
        if "word" in ds.coords and "text" not in ds.coords:  # the words as the word coordinate
            ds = ds.assign_coords(text=("word", ds["word"].values.astype(str))).drop_vars("word")
        pair = ds[["observed", "prediction"]].astype(float)
        return pair["observed"], pair["prediction"], None
    data, sfreq, sensors, words = read_meg(dataset, subject, settings.task)
    observed = word_epochs(
        data, sfreq, words["onset"].to_numpy(float), settings.windows, sensors=sensors, words=words
    )
    truth_file = Path(dataset) / "derivatives" / "neuroalign-truth" / "truth.nc"
    truth = load_netcdf(truth_file) if truth_file.is_file() else None
    return observed, None, truth


def _load_lm(source: str, device: str, head: str):
    from neuroalign.devices import resolve_device
    from neuroalign.models.sources import load_model

    model, tokenizer, _ = load_model(source, head=head, device=resolve_device(device))
    return model, tokenizer


def divergence(
    settings: DivergenceSettings,
    *,
    activations: str | Path,
    dataset: str | Path | None = None,
    subject: str = "01",
    output: str | Path,
    encoding: str | Path | None = None,
) -> Path:
    """Rank a subject's words by held-out MEG prediction error and contrast word categories.

    Parameters
    ----------
    settings : DivergenceSettings
    activations : str or Path
        The model's activation store of the recording's words.
    dataset : str or Path, optional
        The BIDS MEG dataset (needed unless ``encoding`` is given).
    subject : str
    output : str or Path
        The netCDF to write: per-word ``error`` (and ``lm_loss``), per-window errors, the
        category tests of both, the ends' category shares, proposals and their scores, and,
        for a simulated dataset with a planted divergence, the same tests after adding the
        missing feature (``oracle_*``).
    encoding : str or Path, optional
        An encoding result with ``prediction`` and ``observed`` (word, sensor, window) to
        analyse instead of fitting the model's features here.

    Returns
    -------
    output : Path
    """
    output = Path(output)
    rng = np.random.default_rng(settings.random_seed)
    if encoding is None and dataset is None:
        raise NeuroalignError("divergence needs a dataset or an encoding result.")
    observed, prediction, truth = _responses(settings, dataset, subject, encoding)
    text = observed["text"].values if "text" in observed.coords else observed["word"].values
    masks = _masks(settings, text)
    features = None
    if prediction is None:
        features = word_features(activations, settings.variable, settings.layer, text)
        prediction = heldout_predictions(
            features, observed, n_folds=settings.n_folds, alphas=settings.grid
        )
    errors = analysis.word_errors(prediction, observed, interval=tuple(settings.interval))
    window_err = xr.concat(
        [
            analysis.word_errors(prediction.isel(window=[j]), observed.isel(window=[j]))
            for j in range(observed.sizes["window"])
        ],
        dim="window",
    ).assign_coords(window=observed["window"].values)
    tests = analysis.category_tests(
        errors, masks, n_perm=settings.n_perm, n_boot=settings.n_boot, rng=rng
    )
    shares = analysis.extreme_shares(errors, masks, settings.fraction)
    out = xr.Dataset(
        {
            "error": ("word", errors.values),
            "window_error": (("window", "word"), window_err.values),
            "r": ("window", analysis.window_r(prediction, observed).mean("sensor").values),
            **{f"test_{k}": v for k, v in tests.data_vars.items()},
            **{f"share_{k}": v for k, v in shares.data_vars.items()},
            "member": (
                ("category", "word"),
                np.stack([masks[c] for c in tests["category"].values]),
            ),
        },
        coords={
            "word": np.arange(errors.sizes["word"]),
            "text": ("word", np.asarray(text, dtype=object).astype(str)),
            "window": observed["window"].values,
            "category": tests["category"].values,
        },
    )
    for coord in ("onset", "story"):
        if coord in observed.coords:
            out = out.assign_coords({coord: ("word", observed[coord].values)})
    planted = None if truth is None else truth.attrs.get("divergent_category")
    if planted and features is not None and "divergent_word" in truth:
        given = np.c_[features, truth["divergent_word"].values.astype(float)]
        oracle_pred = heldout_predictions(
            given, observed, n_folds=settings.n_folds, alphas=settings.grid
        )
        oracle = analysis.word_errors(oracle_pred, observed, interval=tuple(settings.interval))
        after = analysis.category_tests(
            oracle, masks, n_perm=settings.n_perm, n_boot=settings.n_boot, rng=rng
        )
        out["oracle_error"] = ("word", oracle.values)
        for k, v in after.data_vars.items():
            out[f"oracle_{k}"] = v
    if settings.lm:
        model, tokenizer = _load_lm(settings.lm, settings.device, "causal")
        from neuroalign.divergence.lm import word_loss

        groups = observed["story"].values if "story" in observed.coords else None
        loss = word_loss(
            model, tokenizer, list(map(str, text)), groups=groups,
            context=settings.lm_context, batch_size=settings.batch_size,
        )  # fmt: skip
        ok = ~np.isnan(loss)
        lm_tests = analysis.category_tests(
            np.where(ok, loss, np.nanmean(loss)), masks, n_perm=settings.n_perm,
            n_boot=settings.n_boot, rng=rng,
        )  # fmt: skip
        out["lm_loss"] = ("word", loss)
        for k, v in lm_tests.data_vars.items():
            out[f"lm_{k}"] = v
    proposals: list[str] = []
    if settings.proposer:
        proposals, scores = _proposals(settings, text, errors.values, rng)
        out = out.assign_coords(proposal=np.arange(len(proposals)))
        out["proposal_text"] = ("proposal", np.asarray(proposals, dtype=object).astype(str))
        out["proposal_auc"] = ("proposal", scores)
    top = tests.sortby("rank")
    summary = {
        "n_words": int(errors.sizes["word"]),
        "top_category": str(top["category"].values[0]),
        "top_difference": float(top["difference"].values[0]),
        "top_q": float(top["q"].values[0]),
        "n_significant": int(tests["significant"].sum()),
        "planted_category": planted or None,
        "median_error": float(np.nanmedian(errors.values)),
    }
    if summary["median_error"] > 1:
        summary["warning"] = (
            f"the median word's error is {summary['median_error']:.2f}, worse than predicting "
            "each sensor-window's mean (1): the predictions overfit, and the category contrasts "
            "then reflect words with outlying predictions more than the brain"
        )
        logger.warning("%s: %s", output, summary["warning"])
    if "oracle_q" in out and planted in list(out["category"].values):
        summary["oracle_q"] = float(out["oracle_q"].sel(category=planted))
    out.attrs.update(
        provenance(
            stage="divergence",
            config=settings.to_dict(),
            seed=settings.random_seed,
            inputs={"activations": str(activations), "dataset": str(dataset or encoding)},
            subject=subject,
            dataset=Path(dataset).name if dataset is not None else "",
            simulated=bool(truth is not None),
            error="squared held-out error per sensor-window scaled by the observed variance "
            "across words, averaged over sensors and the windows in the language interval",
            null=tests.attrs["null"],
            summary=summary,
        )
    )
    write_netcdf(out, output)
    logger.info("wrote %s (top category %s)", output, summary["top_category"])
    return output


def _proposals(settings, text, errors, rng) -> tuple[list[str], np.ndarray]:
    """Propose descriptions from half the high- and low-error words; score on the other half."""
    from neuroalign.divergence.proposer import embed_texts, propose, score_descriptions

    order = np.argsort(-errors, kind="stable")
    k = max(4, round(settings.fraction * len(order)))
    high, low = order[:k].copy(), order[-k:].copy()
    rng.shuffle(high)
    rng.shuffle(low)
    half = k // 2
    words = np.asarray(text).astype(str)
    model, tokenizer = _load_lm(settings.proposer, settings.device, "causal")
    shown = settings.proposer_words
    descriptions = propose(
        model, tokenizer, list(words[high[:half][:shown]]), list(words[low[:half][:shown]]),
        n=settings.n_proposals, max_new_tokens=settings.max_new_tokens,
        seed=settings.random_seed,
    )  # fmt: skip
    scores = score_descriptions(
        descriptions, list(words[high[half:]]), list(words[low[half:]]),
        lambda t: embed_texts(model, tokenizer, t, settings.batch_size),
    )  # fmt: skip
    return descriptions, scores


def _texts(settings: FinetuneSettings, data_root: str | Path | None) -> list[str]:
    from importlib import resources

    from neuroalign.divergence.lm import dataset_texts

    path: Any = settings.path
    if path and str(path).startswith("package:"):
        name = str(path).removeprefix("package:")
        if name not in PACKAGE_TEXTS:
            raise NeuroalignError(
                f"path {path!r}: the packaged texts are {', '.join(PACKAGE_TEXTS)}."
            )
        with resources.as_file(resources.files("neuroalign.divergence") / "texts" / name) as p:
            return dataset_texts(settings.dataset, path=p, limit=settings.limit)
    if settings.data is not None:
        path = _fetched_path(settings, data_root)
    elif path and data_root is not None and not Path(path).is_absolute():
        path = Path(data_root) / path
    return dataset_texts(settings.dataset, path=path, limit=settings.limit)


def _fetched_path(settings: FinetuneSettings, data_root: str | Path | None) -> Path:
    """The file of a fine-tune's ``data`` (``{dataset, file}``) inside the raw data folder.

    Without ``file`` it is the training split of the named format (``train.jsonl`` of Social
    IQa and PIQA, ``train_xl.csv`` of Fig-QA).

    Raises
    ------
    NeuroalignError
        Without a data root, or without ``file`` for a format that has no default split.
    """
    from neuroalign.data.readers.qa import QA_FORMATS

    data = settings.data or {}
    dataset, file = data["dataset"], data.get("file")
    if data_root is None:
        raise NeuroalignError(
            f"data: {{dataset: {dataset}}} needs the raw data folder (--data-root, the "
            "workflow's <data.root>/raw) where the dataset was fetched."
        )
    if not file:
        if settings.dataset not in QA_FORMATS:
            raise NeuroalignError(
                f"data.file: dataset {settings.dataset!r} has no default split; name the file "
                f"inside {dataset} (e.g. input.txt)."
            )
        file = QA_FORMATS[settings.dataset].train_file
    folder = Path(data_root) / dataset
    if not folder.is_dir():
        raise NeuroalignError(
            f"data.dataset: {folder} does not exist; fetch it first (neuroalign fetch {dataset})."
        )
    return folder / file


def finetune(
    settings: FinetuneSettings,
    *,
    base: str,
    output: str | Path,
    data_root: str | Path | None = None,
) -> Path:
    """Fine-tune a causal or masked LM on a dataset; save it (``save_pretrained``) with provenance.

    Parameters
    ----------
    settings : FinetuneSettings
    base : str
        The base model's source (``hf:``, ``path:``, ``pypi:``). A checkpoint without trained
        LM-head weights (a sentence encoder) gets a fresh masked-LM head on its encoder.
    output : str or Path
        The model folder to write (weights, config, tokenizer, ``neuroalign_finetune.json``
        with the per-step losses and the settings).
    data_root : str or Path, optional
        Folder a relative ``path`` is inside (the workflow's raw data folder).

    Returns
    -------
    output : Path
    """
    from neuroalign.divergence.lm import finetune_lm, is_causal

    output = Path(output)
    texts = _texts(settings, data_root)
    model, tokenizer = _load_lm(base, settings.device, "lm")
    if not _has_lm_head(model):
        model = _with_masked_head(model)
    losses = finetune_lm(
        model, tokenizer, texts, steps=settings.steps, batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, max_length=settings.max_length,
        mlm_probability=settings.mlm_probability, seed=settings.random_seed,
    )  # fmt: skip
    record = provenance(
        stage="finetune",
        config=settings.to_dict(),
        seed=settings.random_seed,
        base=base,
        objective="causal" if is_causal(model) else "masked",
        dataset=settings.dataset,
    )
    tenth = max(1, len(losses) // 10)
    record.update(
        n_texts=len(texts),
        losses=losses,
        first_loss=float(np.mean(losses[:tenth])),
        last_loss=float(np.mean(losses[-tenth:])),
    )
    with atomic_path(output) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(Path(tmp) / "neuroalign_finetune.json", record)
    logger.info("fine-tuned %s: loss %.3f -> %.3f", base, record["first_loss"], record["last_loss"])
    return output


def _has_lm_head(model) -> bool:
    name = type(model).__name__
    return name.endswith(("ForCausalLM", "ForMaskedLM", "LMHeadModel"))


def _with_masked_head(model):
    """The encoder under a freshly initialized masked-LM head (for sentence encoders)."""
    import transformers

    lm = transformers.AutoModelForMaskedLM.from_config(model.config)
    # the masked-LM encoder has no pooler (the sentence embedding head): leave it out
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("pooler.")}
    fit = lm.base_model.load_state_dict(state, strict=False)
    if fit.unexpected_keys or fit.missing_keys:
        raise NeuroalignError(
            f"cannot put a masked-LM head on {type(model).__name__}: weights "
            f"{(fit.unexpected_keys or fit.missing_keys)[:3]} do not fit."
        )
    return lm.to(next(model.parameters()).device)


def compare_finetuned(
    settings: DivergenceSettings,
    *,
    base: str | Path,
    finetuned: str | Path,
    control: str | Path | None = None,
    dataset: str | Path,
    subject: str = "01",
    output: str | Path,
) -> Path:
    """Brain alignment of a fine-tuned model against its base (and a control fine-tune).

    The three models' features of the recording's words each predict the held-out word
    responses (`heldout_predictions`); `analysis.compare_models` gives encoding r per window
    and per category and paired sign-flip tests across words of the fine-tuned model's
    improvement over the base, and over the control.

    Parameters
    ----------
    settings : DivergenceSettings
    base, finetuned, control : str or Path
        Activation stores of the three models for the recording's words.
    dataset : str or Path
        The BIDS MEG dataset.
    subject : str
    output : str or Path
        The netCDF: ``r`` (model, window), ``category_r`` (model, category, window), and
        ``improvement``, ``p``, ``q`` (versus, window), ``category_improvement``,
        ``category_p``, ``category_q`` (versus, category) for versus ``base`` and ``control``.

    Returns
    -------
    output : Path
    """
    output = Path(output)
    rng = np.random.default_rng(settings.random_seed)
    observed, _, truth = _responses(settings, dataset, subject, None)
    text = observed["text"].values
    masks = _masks(settings, text)
    stores = {"base": base, "finetuned": finetuned}
    if control is not None:
        stores["control"] = control
    preds = {
        name: heldout_predictions(
            word_features(path, settings.variable, settings.layer, text),
            observed,
            n_folds=settings.n_folds,
            alphas=settings.grid,
        )
        for name, path in stores.items()
    }
    versus = [v for v in ("base", "control") if v in preds]
    comps = {
        v: analysis.compare_models(
            preds[v],
            preds["finetuned"],
            observed,
            masks,
            n_perm=settings.n_perm,
            rng=rng,
            labels=(v, "finetuned"),
        )
        for v in versus
    }
    first = comps["base"]
    r = {name: analysis.window_r(p, observed).mean("sensor").values for name, p in preds.items()}
    cat_r = {
        name: np.stack(
            [analysis.window_r(p, observed, masks[c]).mean("sensor").values for c in masks]
        )
        for name, p in preds.items()
    }
    keys = ("improvement", "p", "q", "category_improvement", "category_p", "category_q")
    ds = xr.Dataset(
        {
            "r": (("model", "window"), np.stack([r[m] for m in preds])),
            "category_r": (("model", "category", "window"), np.stack([cat_r[m] for m in preds])),
            **{k: xr.concat([comps[v][k] for v in versus], dim="versus") for k in keys},
            "n_words": ("category", np.array([int(masks[c].sum()) for c in masks])),
        },
        coords={
            "model": list(preds),
            "versus": versus,
            "window": first["window"].values,
            "category": list(masks),
        },
    )
    best = int(np.nanargmin(ds["q"].sel(versus="base").values))
    ds.attrs.update(
        provenance(
            stage="divergence",
            config=settings.to_dict(),
            seed=settings.random_seed,
            inputs={k: str(v) for k, v in stores.items()} | {"dataset": str(dataset)},
            subject=subject,
            dataset=Path(dataset).name,
            simulated=bool(truth is not None),
            null=first.attrs["null"],
            summary={
                "mean_r_base": float(np.nanmean(r["base"])),
                "mean_r_finetuned": float(np.nanmean(r["finetuned"])),
                "best_window": float(ds["window"].values[best]),
                "best_window_q": float(ds["q"].sel(versus="base").values[best]),
            },
        )
    )
    write_netcdf(ds, output)
    logger.info("wrote %s", output)
    return output


def describe(path: str | Path) -> str:
    """One line about a divergence result: the top category, its difference and q."""
    s = json.loads(load_netcdf(path).attrs.get("summary", "{}"))
    return (
        f"top category {s.get('top_category')} (error difference "
        f"{s.get('top_difference', float('nan')):.3f}, q {s.get('top_q', float('nan')):.3g}); "
        f"{s.get('n_significant')} significant"
    )
