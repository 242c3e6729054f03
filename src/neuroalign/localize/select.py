"""Choose localized units from a t map, and draw the random control sets.

Rules (:data:`RULES`):

- ``global_topk``: the ``k = int(fraction * n_units_total)`` highest t over all layers (the
  LLM-language-network protocol, 1 %).
- ``per_layer_topk``: the ``int(fraction * n_units)`` highest t within each layer (the fMRI
  convention of a top fraction per parcel).
- ``fdr``: every unit with positive t and BH q below ``alpha``.

Ties are broken stably (lower layer, then lower unit index first), so a top-k mask always holds
exactly k units; units with a non-finite t (constant in both conditions) are never selected.
"""

from __future__ import annotations

import numpy as np

from neuroalign._check import NeuroalignError, check_option, check_range

RULES = ("global_topk", "per_layer_topk", "fdr")
SCHEMES = ("uniform", "layer_matched")


def n_select(n_units: int, fraction: float) -> int:
    """Number of units a top fraction keeps: ``int(fraction * n_units)`` (the paper's rounding).

    Examples
    --------
    >>> n_select(12 * 768, 0.01)
    92
    """
    check_range("fraction", fraction, 0.0, 1.0)
    # A tiny tolerance so that 0.07 * 100 counts as 7, not 6.999...
    return int(np.floor(fraction * n_units + 1e-9))


def _order(t: np.ndarray, descending: bool = True) -> np.ndarray:
    """Flat indices of finite entries of ``t``, best first, ties in index order."""
    flat = np.asarray(t, dtype=np.float64).ravel()
    ok = np.flatnonzero(np.isfinite(flat))
    key = -flat[ok] if descending else flat[ok]
    return ok[np.argsort(key, kind="stable")]


def top_k(t: np.ndarray, k: int, *, largest: bool = True) -> np.ndarray:
    """Boolean mask of the ``k`` units with the largest (or smallest) finite t.

    Parameters
    ----------
    t : array of any shape
        The t map, e.g. (n_layers, n_units).
    k : int
        Exactly this many units are selected.
    largest : bool, default=True
        False gives the bottom-k.

    Raises
    ------
    NeuroalignError
        If fewer than ``k`` units have a finite t.
    """
    order = _order(t, descending=largest)
    if k > order.size:
        raise NeuroalignError(
            f"cannot select {k} units: only {order.size} have a finite t (the others are "
            "constant in both conditions); lower the fraction"
        )
    mask = np.zeros(np.size(t), dtype=bool)
    mask[order[:k]] = True
    return mask.reshape(np.shape(t))


def per_layer_top(t: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the top ``int(fraction * n_units)`` units of each layer of a (layer, unit) map."""
    t = np.asarray(t)
    k = n_select(t.shape[-1], fraction)
    return np.stack([top_k(row, k) for row in t])


def select_units(
    t: np.ndarray,
    *,
    rule: str = "global_topk",
    fraction: float = 0.01,
    q: np.ndarray | None = None,
    alpha: float = 0.05,
) -> np.ndarray:
    """Select localized units from a (layer, unit) t map by one of :data:`RULES`.

    Parameters
    ----------
    t : array of shape (n_layers, n_units)
        Welch t of each unit.
    rule : {"global_topk", "per_layer_topk", "fdr"}, default="global_topk"
        How to threshold (see the module docstring).
    fraction : float, default=0.01
        Fraction of units for the top-k rules.
    q : array of shape (n_layers, n_units), optional
        BH q values; required by ``fdr``.
    alpha : float, default=0.05
        FDR level of ``fdr``.

    Returns
    -------
    mask : bool array of shape (n_layers, n_units)
    """
    check_option("rule", rule, RULES)
    t = np.asarray(t)
    if rule == "global_topk":
        return top_k(t, n_select(t.size, fraction))
    if rule == "per_layer_topk":
        return per_layer_top(t, fraction)
    if q is None:
        raise NeuroalignError("rule 'fdr' needs the q values of the t map")
    with np.errstate(invalid="ignore"):
        return np.isfinite(t) & (t > 0) & (np.asarray(q) < alpha)


def random_masks(
    mask: np.ndarray, *, n_seeds: int = 10, scheme: str = "layer_matched", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random unit sets of the same size as ``mask``, drawn from its complement.

    Parameters
    ----------
    mask : bool array of shape (n_layers, n_units)
        The localized set.
    n_seeds : int, default=10
        Number of random sets.
    scheme : {"layer_matched", "uniform"}, default="layer_matched"
        ``layer_matched`` draws, in each layer, as many units as the localized set has there
        (the comparison controls for depth); ``uniform`` draws the same total count anywhere
        in the complement (it mixes depth with selectivity).
    seed : int, default=0
        Set ``i`` uses ``np.random.default_rng(seed + i)``, so each set is reproducible alone.

    Returns
    -------
    masks : bool array of shape (n_seeds, n_layers, n_units)
    seeds : int array of shape (n_seeds,)
    """
    check_option("scheme", scheme, SCHEMES)
    check_range("n_seeds", n_seeds, 1)
    mask = np.asarray(mask, dtype=bool)
    seeds = seed + np.arange(n_seeds, dtype=np.int64)
    out = np.zeros((n_seeds, *mask.shape), dtype=bool)
    if scheme == "uniform":
        groups = [(np.flatnonzero(~mask.ravel()), int(mask.sum()))]
    else:
        width = mask.shape[-1]
        groups = [
            (layer * width + np.flatnonzero(~row), int(row.sum())) for layer, row in enumerate(mask)
        ]
    for i, s in enumerate(seeds):
        rng = np.random.default_rng(int(s))
        flat = out[i].reshape(-1)
        for pool, k in groups:
            if k > pool.size:
                raise NeuroalignError(
                    f"cannot draw {k} random units from a complement of {pool.size}: the "
                    "localized set covers more than half of a layer; use the uniform scheme or "
                    "a smaller fraction"
                )
            flat[rng.choice(pool, size=k, replace=False)] = True
    return out, seeds
