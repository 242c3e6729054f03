"""Head ablation (through :mod:`neuroalign.models.lesion`), head sets and ablation metrics.

A head is removed by zeroing its slice of the attention output projection's input: the input is
the concatenation of the query heads' outputs, so this removes exactly one query head, also under
grouped-query attention (where zeroing a value projection would remove a whole group).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models.discover import Architecture
from neuroalign.models.lesion import lesioned


@contextlib.contextmanager
def ablate_heads(
    model: torch.nn.Module, arch: Architecture, heads: Iterable[tuple[int, int]]
) -> Iterator[None]:
    """Zero the given (layer, head) outputs inside the block; hooks are removed on exit.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    arch : Architecture
        Its discovered architecture.
    heads : iterable of (int, int)
        (layer, query head) pairs to remove.
    """
    with lesioned(model, heads=heads, arch=arch):
        yield


def top_k_heads(score: np.ndarray, k: int, *, largest: bool = True) -> list[tuple[int, int]]:
    """The k (layer, head) pairs with the largest (or smallest) finite score."""
    flat = np.where(np.isfinite(score), score, -np.inf if largest else np.inf).ravel()
    order = np.argsort(-flat if largest else flat, kind="stable")[:k]
    return [tuple(int(v) for v in np.unravel_index(i, score.shape)) for i in order]


def matched_random_sets(
    target: list[tuple[int, int]],
    shape: tuple[int, int],
    n_sets: int,
    rng: np.random.Generator,
    *,
    exclude: Iterable[tuple[int, int]] = (),
) -> list[list[tuple[int, int]]]:
    """Random head sets with the same number of heads per layer as ``target``.

    Heads in ``exclude`` (by default none) are not drawn; where a layer has too few other
    heads, the remaining ones are drawn from the full layer.
    """
    excluded = set(map(tuple, exclude))
    per_layer = np.bincount([layer for layer, _ in target], minlength=shape[0])
    sets = []
    for _ in range(n_sets):
        chosen = []
        for layer, count in enumerate(per_layer):
            if count == 0:
                continue
            pool = [h for h in range(shape[1]) if (layer, h) not in excluded]
            if len(pool) < count:
                pool = list(range(shape[1]))
            chosen += [(layer, int(h)) for h in rng.choice(pool, size=count, replace=False)]
        sets.append(chosen)
    return sets


def icl_score(loss: np.ndarray, *, early: int = 50, late: int = 500) -> float:
    """In-context-learning score: mean loss at token ``late`` minus at token ``early``.

    Parameters
    ----------
    loss : ndarray of shape (n_docs, n_positions)
        Per-token loss of documents (``loss[:, t]`` predicts token t + 1).
    """
    if loss.shape[1] <= late:
        raise NeuroalignError(
            f"ICL score needs documents of more than {late + 1} tokens; got {loss.shape[1] + 1}"
        )
    return float(loss[:, late].mean() - loss[:, early].mean())


def output_lag_crp(logits: np.ndarray, probe, *, max_lag: int = 8) -> np.ndarray:
    """The model's own recall lag-CRP: next-token probability of list items by lag.

    For each second-half query whose whole window lies in the first half, the probability the
    model gives to the token at ``j0 + lag`` (j0 = first occurrence of the query's token).

    Returns
    -------
    crp : ndarray of shape (n_lags,)
        Mean probability per lag, lags ``-max_lag .. max_lag``.
    """
    from neuroalign.episodic.heads import lag_values, valid_queries

    b = len(logits)
    probs = torch.softmax(torch.as_tensor(logits[:, probe.queries]), dim=-1).numpy()
    lags = lag_values(max_lag)
    keys = np.clip(probe.source[:b, :, None] + lags, 0, probe.tokens.shape[1] - 1)
    items = np.take_along_axis(probe.tokens[:b, None, :].repeat(keys.shape[1], 1), keys, axis=-1)
    picked = np.take_along_axis(probs, items, axis=-1)  # (b, half, lag)
    mask = valid_queries(probe, max_lag)[:b]
    return picked[mask].mean(axis=0)
