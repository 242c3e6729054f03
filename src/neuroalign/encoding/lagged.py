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
from neuroalign.encoding._docs import fill_doc
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


def _shifted(X: torch.Tensor, lags: np.ndarray) -> list[torch.Tensor]:
    """Views ``X[t - lag]`` of one segment for every lag, zero outside it."""
    n = X.shape[0]
    pad = int(max(abs(lags[0]), abs(lags[-1])))
    Z = _padded(X, pad)
    return [Z[pad - int(lag) : pad - int(lag) + n] for lag in lags]


def _segment_stats(X: torch.Tensor, Y: torch.Tensor, lags: np.ndarray) -> _Stats:
    shifted = _shifted(X, lags)
    XtY = torch.cat([s.T @ Y for s in shifted])
    colsum = torch.cat([s.sum(0) for s in shifted])
    return _Stats(_gram(X, lags), XtY, colsum, Y.sum(0), (Y * Y).sum(0), X.shape[0])


@fill_doc
def lagged_gram(
    X, lags, *, device: str | torch.device | None = "cpu", dtype: str | torch.dtype = "float64"
) -> np.ndarray:
    """Return the Gram matrix of the zero-padded delayed design without building the design.

    Parameters
    ----------
    {X}
    {lags}
    {device}
    {dtype}

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


def _segments(segments, n_samples: int) -> np.ndarray:
    """Return the ``(start, stop)`` bounds of contiguous segment labels, or raise."""
    segments = np.asarray(segments)
    if segments.shape != (n_samples,):
        raise ValueError("X, Y and 'segments' must have the same number of samples.")
    edges = np.flatnonzero(segments[1:] != segments[:-1]) + 1
    bounds = np.concatenate([[0], edges, [segments.size]])
    if len(np.unique(segments)) != len(bounds) - 1:
        raise ValueError("Each segment label must cover one contiguous block of samples.")
    return bounds


def _check_alphas(alphas) -> np.ndarray:
    alphas = np.sort(np.atleast_1d(np.asarray(alphas, float)))
    if alphas.ndim != 1 or alphas.size == 0 or np.any(~np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"'alphas' must be a 1-D array of positive numbers, got {alphas!r}.")
    return alphas


def _prepare(X, Y, lags, alphas, segments, scoring, device, dtype):
    """Validate, move to the device, and sum each segment's sufficient statistics."""
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    check_option("scoring", scoring, SCORINGS)
    lags, alphas = check_lags(lags), _check_alphas(alphas)
    Xt, Yt = as_tensor(X, device, dtype), as_tensor(Y, device, dtype)
    if Xt.ndim != 2 or Yt.ndim != 2 or Yt.shape[0] != Xt.shape[0]:
        raise ValueError(
            f"X {tuple(Xt.shape)} and Y {tuple(Yt.shape)} must be 2-D with the same samples."
        )
    bounds = _segments(segments, Xt.shape[0])
    parts = [_segment_stats(Xt[a:b], Yt[a:b], lags) for a, b in pairwise(bounds)]
    return Xt, Yt, lags, alphas, bounds, parts


def _sum(parts: Sequence[_Stats]) -> _Stats:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _cv(parts: Sequence[_Stats], alphas: np.ndarray, fit_intercept: bool, scoring: str):
    """Leave-one-part-out scores ``(n_alphas, n_targets)`` and the mean predictor's scores."""
    total = _sum(parts)
    scores = total.XtY.new_zeros(len(alphas), total.XtY.shape[1])
    baseline = total.XtY.new_zeros(total.XtY.shape[1])
    for test in parts:
        train = total - test
        centered = _centered(train, fit_intercept)
        for i, alpha in enumerate(alphas):
            W, b = _solve(centered, float(alpha))
            scores[i] += _scores_from_stats(test, W, b, scoring)
        mean = train.ysum / train.n if fit_intercept else torch.zeros_like(train.ysum)
        baseline += _scores_from_stats(test, torch.zeros_like(total.XtY), mean, scoring)
    return to_numpy(scores / len(parts)), to_numpy(baseline / len(parts))


def _fit_best(stats: _Stats, alphas: np.ndarray, best: np.ndarray, fit_intercept: bool):
    """Weights ``(n_lags * n_features, n_targets)`` and intercepts, each target at its alpha."""
    coef = torch.empty_like(stats.XtY)
    intercept = torch.empty_like(stats.ysum)
    G, XtY, m, y_mean = _centered(stats, fit_intercept)
    for i in np.unique(best):
        cols = torch.as_tensor(np.flatnonzero(best == i), device=XtY.device)
        W, b = _solve((G, XtY[:, cols], m, y_mean[cols]), float(alphas[i]))
        coef[:, cols], intercept[cols] = W, b
    return coef, intercept


@fill_doc
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
    {X_undelayed}
    Y : array of shape (n_samples, n_targets)
        Sensors or other targets.
    {lags}
    {alphas}
    {segments}
    {fit_intercept}
    {scoring}
    {device}
    {dtype}

    Returns
    -------
    result : LagRidgeResult
    """
    Xt, Yt, lags, alphas, _, parts = _prepare(X, Y, lags, alphas, segments, scoring, device, dtype)
    n_targets = Yt.shape[1]
    if len(parts) > 1:
        scores, baseline = _cv(parts, alphas, fit_intercept, scoring)
        best = np.argmax(scores, axis=0)
        n_lower, n_upper = edge_counts(scores, baseline, best)
    else:
        if alphas.size > 1:
            raise ValueError("One segment gives no cross-validation: pass a single alpha.")
        scores = np.full((1, n_targets), np.nan)
        best = np.zeros(n_targets, int)
        n_lower = n_upper = 0
    coef, intercept = _fit_best(_sum(parts), alphas, best, fit_intercept)
    return LagRidgeResult(
        coef=to_numpy(coef).reshape(lags.size, Xt.shape[1], n_targets),
        intercept=to_numpy(intercept),
        best_alphas=alphas[best],
        cv_scores=scores,
        alphas=alphas,
        lags=lags,
        n_lower_edge=n_lower,
        n_upper_edge=n_upper,
    )


def _predict_segment(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, lags: np.ndarray):
    """``b + sum_i X[t - lags[i]] @ W[i]`` in one segment; W: (n_lags, n_features, n_targets)."""
    pred = b.expand(X.shape[0], -1).clone()
    for shifted, w in zip(_shifted(X, lags), W, strict=True):
        pred += shifted @ w
    return pred


@fill_doc
def lagged_predict(
    X,
    coef,
    intercept,
    lags,
    segments=None,
    *,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
) -> np.ndarray:
    """Predict targets from undelayed features and TRFs, without building the delayed design.

    Equals ``delay(X, lags, runs=segments) @ coef.reshape(-1, n_targets) + intercept``
    (:func:`~neuroalign.encoding.delays.delay`): no lag reaches across a segment edge.

    Parameters
    ----------
    {X_undelayed}
    {coef_lagged}
    intercept : array of shape (n_targets,)
    {lags}
    {segments_optional}
    {device}
    {dtype}

    Returns
    -------
    pred : ndarray of shape (n_samples, n_targets)
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    lags = check_lags(lags)
    Xt = as_tensor(X, device, dtype)
    W, b = as_tensor(coef, device, dtype), as_tensor(intercept, device, dtype)
    if Xt.ndim != 2 or W.shape[:2] != (lags.size, Xt.shape[1]) or b.shape != W.shape[2:]:
        raise ValueError(
            f"coef {tuple(W.shape)} must be (n_lags={lags.size}, n_features={Xt.shape[-1]}, "
            f"n_targets) and intercept {tuple(b.shape)} (n_targets,) for X {tuple(Xt.shape)}."
        )
    bounds = _segments(np.zeros(Xt.shape[0]) if segments is None else segments, Xt.shape[0])
    parts = [_predict_segment(Xt[a:c], W, b, lags) for a, c in pairwise(bounds)]
    return to_numpy(torch.cat(parts))


@fill_doc
def lag_resolved_r(
    X,
    Y,
    coef,
    lags,
    segments=None,
    *,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
) -> np.ndarray:
    """Time-resolved scores: r of each target with the part of its prediction carried by one lag.

    For lag ``i`` the partial prediction is ``X[t - lags[i]] @ coef[i]`` (zero across segment
    edges); its Pearson r with ``Y`` over all samples says when after the features the response
    is predicted. For impulse features (word onsets) it follows the TRF's reliable part.

    Parameters
    ----------
    {X_undelayed}
    {Y}
    {coef_lagged}
    {lags}
    {segments_optional}
    {device}
    {dtype}

    Returns
    -------
    r_by_lag : ndarray of shape (n_lags, n_targets)
        0 where a partial prediction or a target is constant.
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    lags = check_lags(lags)
    Xt, Yt = as_tensor(X, device, dtype), as_tensor(Y, device, dtype)
    W = as_tensor(coef, device, dtype)
    if W.shape[:2] != (lags.size, Xt.shape[1]) or Yt.shape != (Xt.shape[0], W.shape[2]):
        raise ValueError(
            f"coef {tuple(W.shape)} must be (n_lags={lags.size}, n_features={Xt.shape[1]}, "
            f"n_targets) and Y {tuple(Yt.shape)} (n_samples={Xt.shape[0]}, n_targets)."
        )
    bounds = _segments(np.zeros(Xt.shape[0]) if segments is None else segments, Xt.shape[0])
    Yc = Yt - Yt.mean(0)
    # per lag: sums of the partial prediction, of its square and of its product with Y
    s_p, s_pp, s_py = (Yt.new_zeros(lags.size, Yt.shape[1]) for _ in range(3))
    for a, c in pairwise(bounds):
        for i, shifted in enumerate(_shifted(Xt[a:c], lags)):
            partial = shifted @ W[i]
            s_p[i] += partial.sum(0)
            s_pp[i] += (partial * partial).sum(0)
            s_py[i] += (partial * Yc[a:c]).sum(0)
    var_p = (s_pp - s_p**2 / Xt.shape[0]).clamp_min(0)
    den = torch.sqrt(var_p * (Yc * Yc).sum(0))
    return to_numpy(torch.where(den > 0, s_py / den.clamp_min(1e-30), 0.0))
