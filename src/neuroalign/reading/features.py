"""High-dimensional word features (every layer of a model) against the reading baseline, through
the ridge engine.

For each layer of an activation store of the table's words, each measure is predicted out of
fold (folds of whole texts) by the baseline alone (least squares) and by the baseline plus the
layer's units (ridge on the units only, penalty chosen by inner cross-validation;
`neuroalign.encoding.evaluate.cross_val_predict_over_baseline`, the engine the ``encode`` stage's
reading gains run on). The gain is the held-out r and R^2 of the full model minus the
baseline's, and the held-out delta log-likelihood per word of Gaussian predictions,
``0.5 * log(mse_baseline / mse_full)`` (each model's variance its held-out mean squared error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.evaluate import cross_val_predict_over_baseline
from neuroalign.encoding.scores import pearson_r, r2_score
from neuroalign.results import open_activations
from neuroalign.settings import select_layers

__all__ = ["layer_gains", "read_layers"]


def read_layers(
    path: str | Path, words: Sequence[str], variable: str, layers, where: str
) -> dict[str, np.ndarray]:
    """``{layer label: array (n_words, n_units)}`` of a store whose items are the table's words.

    Raises
    ------
    NeuroalignError
        If the store lacks the unit space, holds another number of items, or its item words
        differ from the table's (naming the first).
    """
    with open_activations(path) as ds:
        if variable not in ds:
            units = [v for v in ds.data_vars if "item" in ds[v].dims]
            raise NeuroalignError(f"{path}: no unit space {variable!r} (it has {units})")
        da = ds[variable]
        if da.sizes["item"] != len(words):
            raise NeuroalignError(
                f"{path}: {da.sizes['item']} items for the {len(words)} words of {where}; "
                "extract the activations of this stimulus table"
            )
        if "text" in da.coords:
            text = [str(t) for t in da["text"].values]
            bad = next(
                (i for i, (a, b) in enumerate(zip(text, words, strict=True)) if a != b), None
            )
            if bad is not None:
                raise NeuroalignError(
                    f"{path}: item {bad} is {text[bad]!r}, the table's word is {words[bad]!r}; "
                    "the store is not of this stimulus table"
                )
        if "layer" not in da.dims:
            return {"all": np.asarray(da.values, float)}
        labels = list(da["layer"].values)
        picked = select_layers(layers if isinstance(layers, str) else list(layers), len(labels))
        return {str(labels[i]): np.asarray(da.isel(layer=i).values, float) for i in picked}


def layer_gains(
    X: np.ndarray,
    baseline: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    alphas: np.ndarray,
    *,
    n_folds: int = 5,
    **options,
) -> dict[str, float]:
    """Held-out gain of one layer over the baseline for one measure (module notes).

    Parameters
    ----------
    X : array of shape (n_words, n_units)
        The layer's features (finite).
    baseline : array of shape (n_words, n_baseline)
        Baseline predictors.
    y : array of shape (n_words,)
        The measure.
    groups : array of shape (n_words,)
        Text of each word (folds keep texts whole).
    alphas : array
        Ridge penalties.
    n_folds : int, default=5
        Outer folds.
    **options
        Passed to the ridge engine (``device``, ``dtype``).

    Returns
    -------
    scores : dict
        ``r_baseline``, ``r_full``, ``r_gain``, ``r2_gain``, ``delta_loglik_heldout``.
    """
    Y = np.asarray(y, float)[:, None]
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise NeuroalignError("layer gains need at least 2 texts for folds of whole texts")
    folds = group_folds(np.asarray(groups), n_folds=min(n_folds, n_groups))
    base, full, _ = cross_val_predict_over_baseline(X, baseline, Y, alphas, folds, **options)
    ok = np.isfinite(full[:, 0]) & np.isfinite(base[:, 0])
    rb = float(pearson_r(Y[ok], base[ok])[0])
    rf = float(pearson_r(Y[ok], full[ok])[0])
    mse_b = float(((Y[ok] - base[ok]) ** 2).mean())
    mse_f = float(((Y[ok] - full[ok]) ** 2).mean())
    return {
        "r_baseline": rb,
        "r_full": rf,
        "r_gain": rf - rb,
        "r2_gain": float(r2_score(Y[ok], full[ok])[0] - r2_score(Y[ok], base[ok])[0]),
        "delta_loglik_heldout": 0.5 * float(np.log(mse_b / mse_f)),
    }


def feature_labels(stores: Mapping[str, dict[str, np.ndarray]]) -> list[tuple[str, str]]:
    """(model, layer) of every feature set, in order."""
    return [(m, layer) for m, layers in stores.items() for layer in layers]
