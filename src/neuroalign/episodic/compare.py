"""Head lag profiles against human lag-CRPs on the same lags (lag 0 excluded, normalized)."""

from __future__ import annotations

import numpy as np

from neuroalign.episodic.cmr import cmr_distance


def normalized(curves: np.ndarray, lags: np.ndarray, max_lag: int) -> np.ndarray:
    """Curves on lags ``-max_lag..max_lag`` without lag 0, each rescaled to sum 1."""
    mask = (np.abs(lags) <= max_lag) & (lags != 0)
    sub = np.asarray(curves, dtype=float)[..., mask]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sub / sub.sum(axis=-1, keepdims=True)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log, in [0, ln 2]) along the last axis."""
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    m = (p + q) / 2

    def kl(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(a > 0, a * np.log(a / b), 0.0).sum(axis=-1)

    return (kl(p, m) + kl(q, m)) / 2


def compare_heads(
    head_prob: np.ndarray,
    head_lags: np.ndarray,
    human: np.ndarray,
    human_lags: np.ndarray,
    *,
    max_lag: int = 5,
) -> dict[str, np.ndarray]:
    """Compare each head's attention mass per lag with a human group lag-CRP.

    Parameters
    ----------
    head_prob : ndarray of shape (..., n_head_lags)
        Attention probability per lag.
    head_lags, human_lags : ndarray
        Lags of the two curves.
    human : ndarray of shape (n_human_lags,)
        Group lag-CRP.
    max_lag : int
        Compare lags ``-max_lag..max_lag`` without 0.

    Returns
    -------
    metrics : dict of str to ndarray of shape head_prob.shape[:-1]
        ``jsd`` (Jensen-Shannon divergence), ``cmr_distance`` (the CMR distance with the
        human curve in place of the model curve) and ``asym_diff`` (head minus human asymmetry
        index, (p(+1) - p(-1)) / (p(+1) + p(-1))).
    """
    h = normalized(head_prob, head_lags, max_lag)
    g = normalized(human, human_lags, max_lag)
    shape = h.shape[:-1]
    flat = h.reshape(-1, h.shape[-1])
    dist, _ = cmr_distance(flat, g[None])
    lags = np.array([lag for lag in range(-max_lag, max_lag + 1) if lag != 0])
    plus, minus = lags == 1, lags == -1
    with np.errstate(invalid="ignore", divide="ignore"):
        asym_h = (h[..., plus] - h[..., minus]) / (h[..., plus] + h[..., minus])
        asym_g = (g[plus] - g[minus]) / (g[plus] + g[minus])
    return {
        "jsd": jensen_shannon(h, g),
        "cmr_distance": dist[:, 0].reshape(shape),
        "asym_diff": (asym_h - asym_g)[..., 0],
    }
