"""Null distributions for held-out scores, p-values and Benjamini-Hochberg q-values.

Nulls shift or permute the *prediction* in time against the measured response (the same shift
for every target, so spatial correlation is kept): circular shifts keep the whole
autocorrelation; block permutations keep it within blocks. Computed on the engine's device in
batches of shifts.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special
from scipy import stats as sps

from neuroalign._check import check_option, check_range
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.backend import as_tensor, resolve_device, resolve_dtype, to_numpy


def _zscore(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(0)
    sd = torch.sqrt((x * x).mean(0))
    return x / torch.where(sd > 0, sd, torch.ones_like(sd))


def _null_r(Y, pred, index_sets, device, dtype, batch: int) -> np.ndarray:
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    yz = _zscore(as_tensor(Y, device, dtype))
    pz = _zscore(as_tensor(pred, device, dtype))
    n = yz.shape[0]
    out = []
    for start in range(0, len(index_sets), batch):
        idx = torch.as_tensor(np.stack(index_sets[start : start + batch]), device=device)
        out.append(to_numpy(torch.einsum("bnt,nt->bt", pz[idx], yz) / n))
    return np.concatenate(out)


@fill_doc
def circular_shift_null(
    Y,
    pred,
    *,
    n_perm: int = 1000,
    rng: np.random.Generator,
    min_shift: int = 1,
    batch: int = 64,
    device="cpu",
    dtype="float64",
) -> np.ndarray:
    """Pearson r of circularly shifted predictions with the response, per shift and target.

    Parameters
    ----------
    Y, pred : array of shape (n_samples, n_targets)
    n_perm : int
    rng : numpy.random.Generator
    min_shift : int
        Shifts are drawn uniformly from ``[min_shift, n_samples - min_shift]``; set it beyond
        the autocorrelation length.
    {batch}
    {device}
    {dtype}

    Returns
    -------
    null : ndarray of shape (n_perm, n_targets)
    """
    n = np.shape(Y)[0]
    check_range("min_shift", min_shift, 1, n // 2)
    shifts = rng.integers(min_shift, n - min_shift + 1, size=n_perm)
    base = np.arange(n)
    return _null_r(Y, pred, [(base - s) % n for s in shifts], device, dtype, batch)


@fill_doc
def block_permutation_null(
    Y,
    pred,
    *,
    block: int,
    n_perm: int = 1000,
    rng: np.random.Generator,
    batch: int = 64,
    device="cpu",
    dtype="float64",
) -> np.ndarray:
    """Pearson r after permuting contiguous blocks of the prediction (the last may be shorter).

    Parameters
    ----------
    Y, pred : array of shape (n_samples, n_targets)
    block : int
        Block length in samples (longer than the autocorrelation).
    n_perm : int
    rng : numpy.random.Generator
    {batch}
    {device}
    {dtype}

    Returns
    -------
    null : ndarray of shape (n_perm, n_targets)
    """
    n = np.shape(Y)[0]
    check_range("block", block, 1, n)
    blocks = np.array_split(np.arange(n), int(np.ceil(n / block)))
    sets = [
        np.concatenate([blocks[i] for i in rng.permutation(len(blocks))]) for _ in range(n_perm)
    ]
    return _null_r(Y, pred, sets, device, dtype, batch)


def p_values(observed, null, method: str = "empirical") -> np.ndarray:
    """One-sided p-values of observed scores against their null distributions.

    Parameters
    ----------
    observed : array of shape (n_targets,)
    null : array of shape (n_perm, n_targets)
    method : {"empirical", "gaussian"}
        ``"empirical"``: ``(1 + #(null >= observed)) / (1 + n_perm)``, exact but never below
        ``1 / (1 + n_perm)``. ``"gaussian"``: the upper tail of a normal fitted to each target's
        null (mean and SD), which resolves the small p-values that FDR control over many
        targets needs without thousands of shifts.

    Returns
    -------
    p : ndarray of shape (n_targets,)
    """
    check_option("method", method, ("empirical", "gaussian"))
    observed, null = np.asarray(observed, float), np.asarray(null, float)
    if method == "gaussian":
        sd = null.std(0, ddof=1)
        z = (observed - null.mean(0)) / np.where(sd > 0, sd, np.inf)
        return special.ndtr(-z)
    return (1 + (null >= observed[None]).sum(0)) / (1 + null.shape[0])


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same shape as ``p`` (any shape).

    The adjustment is :func:`scipy.stats.false_discovery_control` (``method="bh"``) over all
    entries of ``p`` together: ``q_(i) = min_{j >= i} p_(j) m / j`` over the sorted p-values,
    clipped to 1. NaNs (untested targets, constant units) stay NaN and do not count in ``m``.

    Parameters
    ----------
    p : array
        p-values in [0, 1], or NaN.

    Returns
    -------
    q : ndarray of the shape of ``p``
    """
    p = np.asarray(p, float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = sps.false_discovery_control(p[ok], method="bh")
    return q
