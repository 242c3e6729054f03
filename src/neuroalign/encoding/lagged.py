"""Lag-structured ridge for long time series (MEG, EEG, eye movements): a TRF solver.

The delayed design ``D[t, (i, f)] = x_f(t - lags[i])`` (zero outside a segment, so no delayed
row reaches into another run or block) is never built. Its Gram matrix comes from ``len(lags)``
shifted products ``X[a:a+n]^T X[a-k:a-k+n]`` plus rank-one edge corrections along each block
diagonal, and ``D^T Y`` from ``len(lags)`` shifted products. Cross-validation leaves one segment
out and downdates the sufficient statistics: ``G_train = G_total - G_segment``; test scores come
from the same statistics, so no prediction is materialized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from neuroalign._check import check_option
from neuroalign.encoding.backend import as_tensor, resolve_device, resolve_dtype, to_numpy
from neuroalign.encoding.ridge import SCORINGS, edge_counts


@dataclass(frozen=True)
class LagRidgeResult:
    """What :func:`lag_ridge_cv` returns.

    Attributes
    ----------
    coef : ndarray, shape (n_lags, n_features, n_targets)
        The temporal response function of each target.
    intercept : ndarray, shape (n_targets,)
    best_alphas : ndarray, shape (n_targets,)
    cv_scores : ndarray, shape (n_alphas, n_targets)
        Mean over held-out segments.
    alphas : ndarray, shape (n_alphas,)
    lags : ndarray, shape (n_lags,)
        In samples; positive lags are past input (the response follows the feature).
    n_lower_edge, n_upper_edge : int
    """

    coef: np.ndarray
    intercept: np.ndarray
    best_alphas: np.ndarray
    cv_scores: np.ndarray
    alphas: np.ndarray
    lags: np.ndarray
    n_lower_edge: int
    n_upper_edge: int


@dataclass
class _Stats:
    G: torch.Tensor  # (q, q), q = n_lags * n_features, lag-major
    XtY: torch.Tensor  # (q, n_targets)
    colsum: torch.Tensor  # (q,)
    ysum: torch.Tensor  # (n_targets,)
    yy: torch.Tensor  # (n_targets,)
    n: int

    def __sub__(self, other: _Stats) -> _Stats:
        return _Stats(
            self.G - other.G,
            self.XtY - other.XtY,
            self.colsum - other.colsum,
            self.ysum - other.ysum,
            self.yy - other.yy,
            self.n - other.n,
        )

    def __add__(self, other: _Stats) -> _Stats:
        return _Stats(
            self.G + other.G,
            self.XtY + other.XtY,
            self.colsum + other.colsum,
            self.ysum + other.ysum,
            self.yy + other.yy,
            self.n + other.n,
        )


def check_lags(lags) -> np.ndarray:
    """Return ``lags`` as sorted contiguous integers, or raise."""
    lags = np.asarray(lags)
    if lags.ndim != 1 or lags.size == 0 or not np.array_equal(lags, np.round(lags)):
        raise ValueError(f"'lags' must be a 1-D array of integer samples, got {lags!r}.")
    lags = lags.astype(int)
    if not np.array_equal(lags, np.arange(lags[0], lags[0] + lags.size)):
        raise ValueError("'lags' must be contiguous and increasing, e.g. np.arange(-10, 61).")
    return lags


def _padded(X: torch.Tensor, pad: int) -> torch.Tensor:
    zeros = X.new_zeros(pad, X.shape[1])
    return torch.cat([zeros, X, zeros])


def _gram(X: torch.Tensor, lags: np.ndarray) -> torch.Tensor:
    n, p = X.shape
    L = lags.size
    pad = int(max(abs(lags[0]), abs(lags[-1])))
    Z = _padded(X, pad)
    a0 = pad - int(lags[0])
    G = X.new_empty(L, p, L, p)
    for k in range(L):
        base = Z[a0 : a0 + n].T @ Z[a0 - k : a0 - k + n]
        m = L - k
        blocks = base[None].expand(m, p, p).clone()
        if m > 1:
            # block (i+1, i+1+k) = block (i, i+k) + row entering at the top - row leaving at the end
            idx = torch.as_tensor(a0 - 1 - np.arange(m - 1), device=X.device)
            enter = torch.einsum("mi,mj->mij", Z[idx], Z[idx - k])
            leave = torch.einsum("mi,mj->mij", Z[idx + n], Z[idx - k + n])
            blocks[1:] += torch.cumsum(enter - leave, 0)
        rows = torch.arange(m, device=X.device)
        G[rows, :, rows + k, :] = blocks
        if k:
            G[rows + k, :, rows, :] = blocks.transpose(1, 2)
    return G.reshape(L * p, L * p)


def _segment_stats(X: torch.Tensor, Y: torch.Tensor, lags: np.ndarray) -> _Stats:
    n = X.shape[0]
    pad = int(max(abs(lags[0]), abs(lags[-1])))
    Z = _padded(X, pad)
    shifted = [Z[pad - int(lag) : pad - int(lag) + n] for lag in lags]
    XtY = torch.cat([s.T @ Y for s in shifted])
    colsum = torch.cat([s.sum(0) for s in shifted])
    return _Stats(_gram(X, lags), XtY, colsum, Y.sum(0), (Y * Y).sum(0), n)


def lagged_gram(
    X, lags, *, device: str | torch.device | None = "cpu", dtype: str | torch.dtype = "float64"
) -> np.ndarray:
    """Return the Gram matrix of the zero-padded delayed design without building the design.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    lags : array of int, shape (n_lags,)
        Contiguous, increasing; positive lags are past input.
    device, dtype
        Where and in what precision to compute.

    Returns
    -------
    gram : ndarray of shape (n_lags * n_features, n_lags * n_features)
        Lag-major order: column ``i * n_features + f`` is feature ``f`` at ``lags[i]``, as in
        :func:`~neuroalign.encoding.delays.delay`.
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    return to_numpy(_gram(as_tensor(X, device, dtype), check_lags(lags)))


def _centered(stats: _Stats, fit_intercept: bool):
    """Return ``(G, XtY, x_mean, y_mean)`` of the design centred with its own means."""
    if not fit_intercept:
        zeros = torch.zeros_like(stats.ysum)
        return stats.G, stats.XtY, torch.zeros_like(stats.colsum), zeros
    m = stats.colsum / stats.n
    y_mean = stats.ysum / stats.n
    G = stats.G - stats.n * torch.outer(m, m)
    XtY = stats.XtY - stats.n * torch.outer(m, y_mean)
    return G, XtY, m, y_mean


def _solve(centered, alpha: float):
    G, XtY, m, y_mean = centered
    shifted = G.clone()
    shifted.diagonal().add_(alpha)
    chol, info = torch.linalg.cholesky_ex(shifted)
    del shifted
    if int(info) != 0:
        raise ValueError(
            f"The lagged Gram plus alpha={alpha:g} is not positive definite in this precision; "
            "use dtype='float64' or larger alphas."
        )
    W = torch.cholesky_solve(XtY, chol)
    return W, y_mean - m @ W


def _scores_from_stats(test: _Stats, W: torch.Tensor, b: torch.Tensor, scoring: str):
    cw = test.colsum @ W
    s_pred = test.n * b + cw
    s_pred2 = test.n * b * b + 2 * b * cw + (W * (test.G @ W)).sum(0)
    s_ypred = b * test.ysum + (W * test.XtY).sum(0)
    sse = test.yy - 2 * s_ypred + s_pred2
    sst = test.yy - test.ysum**2 / test.n
    if scoring == "neg_mse":
        return -sse / test.n
    if scoring == "r2":
        return 1 - sse / sst.clamp_min(1e-30)
    cov = s_ypred - test.ysum * s_pred / test.n
    var_pred = s_pred2 - s_pred**2 / test.n
    den = torch.sqrt((var_pred * sst).clamp_min(0))
    return torch.where(den > 0, cov / den.clamp_min(1e-30), 0.0)


def lag_ridge_cv(
    X,
    Y,
    lags,
    alphas,
    segments: Sequence[int] | np.ndarray,
    *,
    fit_intercept: bool = True,
    scoring: str = "neg_mse",
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
) -> LagRidgeResult:
    """Fit a TRF per target with its alpha chosen by leave-one-segment-out cross-validation.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Undelayed features (e.g. word impulses at onsets).
    Y : array of shape (n_samples, n_targets)
        Sensors or other targets.
    lags : array of int, shape (n_lags,)
        Contiguous and increasing, in samples; positive lags are past input.
    alphas : array of shape (n_alphas,)
    segments : array of int, shape (n_samples,)
        Contiguous block label of each sample (runs, or the blocks of
        :func:`~neuroalign.encoding.cv.block_labels`); delays never cross a segment edge, and each
        segment is held out once. One segment fits without cross-validation (a single alpha).
    fit_intercept : bool
    scoring : {"neg_mse", "r2", "r"}
    device, dtype
        Where and in what precision to compute.

    Returns
    -------
    result : LagRidgeResult
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    check_option("scoring", scoring, SCORINGS)
    lags = check_lags(lags)
    alphas = np.sort(np.atleast_1d(np.asarray(alphas, float)))
    if np.any(alphas <= 0):
        raise ValueError("'alphas' must be positive.")
    Xt, Yt = as_tensor(X, device, dtype), as_tensor(Y, device, dtype)
    segments = np.asarray(segments)
    if segments.shape != (Xt.shape[0],) or Yt.shape[0] != Xt.shape[0]:
        raise ValueError("X, Y and 'segments' must have the same number of samples.")
    edges = np.flatnonzero(np.diff(segments)) + 1
    bounds = np.concatenate([[0], edges, [segments.size]])
    if len(np.unique(segments)) != len(bounds) - 1:
        raise ValueError("Each segment label must cover one contiguous block of samples.")
    parts = [_segment_stats(Xt[a:b], Yt[a:b], lags) for a, b in pairwise(bounds)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    n_targets = Yt.shape[1]
    if len(parts) > 1:
        scores = torch.zeros(len(alphas), n_targets, dtype=dtype, device=device)
        baseline = torch.zeros(n_targets, dtype=dtype, device=device)
        for test in parts:
            train = total - test
            centered = _centered(train, fit_intercept)
            for i, alpha in enumerate(alphas):
                W, b = _solve(centered, float(alpha))
                scores[i] += _scores_from_stats(test, W, b, scoring)
            zero = torch.zeros_like(W)
            mean = train.ysum / train.n if fit_intercept else torch.zeros_like(b)
            baseline += _scores_from_stats(test, zero, mean, scoring)
        scores_np = to_numpy(scores / len(parts))
        best = np.argmax(scores_np, axis=0)
        n_lower, n_upper = edge_counts(scores_np, to_numpy(baseline / len(parts)), best)
    else:
        if alphas.size > 1:
            raise ValueError("One segment gives no cross-validation: pass a single alpha.")
        scores_np = np.full((1, n_targets), np.nan)
        best = np.zeros(n_targets, int)
        n_lower = n_upper = 0
    coef = torch.empty(lags.size * Xt.shape[1], n_targets, dtype=dtype, device=device)
    intercept = torch.empty(n_targets, dtype=dtype, device=device)
    G_all, XtY_all, m_all, y_mean_all = _centered(total, fit_intercept)
    for i in np.unique(best):
        cols = torch.as_tensor(np.flatnonzero(best == i), device=device)
        W, b = _solve((G_all, XtY_all[:, cols], m_all, y_mean_all[cols]), float(alphas[i]))
        coef[:, cols], intercept[cols] = W, b
    return LagRidgeResult(
        coef=to_numpy(coef).reshape(lags.size, Xt.shape[1], n_targets),
        intercept=to_numpy(intercept),
        best_alphas=alphas[best],
        cv_scores=scores_np,
        alphas=alphas,
        lags=lags,
        n_lower_edge=n_lower,
        n_upper_edge=n_upper,
    )
