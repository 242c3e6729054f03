"""Ridge with one alpha per target, chosen by cross-validation in the spectral domain.

The penalty convention is ``alpha * ||w||^2`` (not ``alpha**2``): the weights minimize
``||y - X w - b||^2 + alpha ||w||^2``. Every solver takes numpy arrays (or tensors), an explicit
``device`` and ``dtype``, and returns numpy arrays on the CPU.

Cross-validation works in the spectral domain. Per fold, one eigendecomposition (of ``X^T X`` when
the training set has at least as many samples as features, the *primal* route, else of the kernel
``X X^T``, the *dual* route) gives test predictions for every alpha as
``A diag(1 / (s + alpha)) (P Y_train)``, so scoring an alpha costs one reweighting and one product.
The final refit forms weights only for the alpha each target chose:
``W = Q ((P Y) / (s + alpha_t))``.

Targets are scored and refit in blocks of ``n_targets_batch``. When a block runs out of device
memory it is split in halves and tried again (the smaller blocks are kept for the rest of the
loop); each target depends on its own column only, so the alphas, scores and weights equal
those of the unconstrained fit. For the same reason :func:`ridge_cv` can split the targets
between several devices (``devices``): each device decomposes the features itself and scores and
refits its own contiguous share of the targets, on a thread of its own, and the grid is widened
on the scores of all targets together, so the alphas are those of a single-device fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from neuroalign._check import NeuroalignError, check_option, check_range
from neuroalign.devices import free_cache, is_oom
from neuroalign.encoding._docs import fill_doc
from neuroalign.encoding.backend import (
    as_tensor,
    matmul_precision,
    resolve_device,
    resolve_dtype,
    to_numpy,
)

logger = logging.getLogger(__name__)

SCORINGS = ("neg_mse", "r2", "r")
ROUTES = ("auto", "primal", "dual")
Fold = tuple[np.ndarray, np.ndarray]
#: Predictions formed at once when scoring alphas (a bound on the scoring's working memory).
_PRED_ELEMENTS = 2**27


@dataclass(frozen=True)
class RidgeCVResult:
    """What :func:`ridge_cv` returns.

    Attributes
    ----------
    coef : ndarray, shape (n_features, n_targets)
        A torch tensor on the device with ``keep_on_device``.
    intercept : ndarray, shape (n_targets,)
    best_alphas : ndarray, shape (n_targets,)
    cv_scores : ndarray, shape (n_alphas, n_targets)
        Mean over folds of the score of each alpha.
    alphas : ndarray, shape (n_alphas,)
        The grid, after any widening.
    route : str
        ``"primal"`` or ``"dual"`` (of the final refit).
    n_lower_edge, n_upper_edge : int
        Targets whose best alpha is the smallest (largest) of the grid; at the upper edge only
        targets that still beat the mean predictor are counted (null targets go there by design).
    """

    coef: np.ndarray | torch.Tensor
    intercept: np.ndarray | torch.Tensor
    best_alphas: np.ndarray
    cv_scores: np.ndarray
    alphas: np.ndarray
    route: str
    n_lower_edge: int
    n_upper_edge: int


@dataclass(frozen=True)
class _Spectral:
    """One decomposition: predictions ``A @ ((P @ Y) / (s + alpha))``, weights ``Q @ (...)``."""

    A: torch.Tensor | None  # (n_test, r)
    P: torch.Tensor  # (r, n_train)
    Q: torch.Tensor | None  # (n_features, r)
    s: torch.Tensor  # (r,)
    x_mean: torch.Tensor  # (n_features,)
    centered: bool  # fit_intercept: Y is centered with the training mean too


def pick_route(n_samples: int, n_features: int, route: str = "auto") -> str:
    """Return ``"primal"`` when ``n_samples >= n_features`` (or as forced), else ``"dual"``."""
    check_option("route", route, ROUTES)
    if route != "auto":
        return route
    return "primal" if n_samples >= n_features else "dual"


def _spectral(
    X_train: torch.Tensor,
    X_test: torch.Tensor | None,
    *,
    route: str,
    fit_intercept: bool,
    decomp_dtype: torch.dtype,
    with_weights: bool,
) -> _Spectral:
    dtype = X_train.dtype
    x_mean = X_train.mean(0) if fit_intercept else torch.zeros_like(X_train[0])
    Xc = (X_train - x_mean).to(decomp_dtype)
    route = pick_route(*X_train.shape, route)
    if route == "primal":
        s, V = torch.linalg.eigh(Xc.T @ Xc)
        P = (Xc @ V).T
        Q = V if with_weights else None
        A = (X_test - x_mean).to(decomp_dtype) @ V if X_test is not None else None
    else:
        s, U = torch.linalg.eigh(Xc @ Xc.T)
        P = U.T
        Q = Xc.T @ U if with_weights else None
        A = ((X_test - x_mean).to(decomp_dtype) @ Xc.T) @ U if X_test is not None else None
    s = s.clamp_min(0)
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return _Spectral(
        A=cast(A), P=cast(P), Q=cast(Q), s=cast(s), x_mean=x_mean, centered=fit_intercept
    )


def _fold_scores(
    spec: _Spectral,
    Y_train: torch.Tensor,
    Y_test: torch.Tensor,
    alphas: torch.Tensor,
    scoring: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return scores (n_alphas, n_targets) and the mean-predictor score (n_targets,).

    With w = 1 / (s + alpha) and B = P Y_train, the test predictions are A diag(w) B. Every
    score needs only two sums over test samples: sum(pred * y) and sum(pred^2). The first is
    linear in w, so all alphas come from one small product W @ (B * A^T y), W the
    (n_alphas, r) matrix of the w; only sum(pred^2) needs the predictions, formed for all
    alphas in one product (A scaled by each alpha's w, stacked) @ B and reduced at once, in
    groups of alphas whose predictions hold at most ``_PRED_ELEMENTS`` numbers.
    """
    y_mean = Y_train.mean(0) if spec.centered else torch.zeros_like(Y_train[0])
    B = spec.P @ (Y_train - y_mean)
    Yc = Y_test - y_mean
    n_test = Y_test.shape[0]
    W = 1.0 / (spec.s[None, :] + alphas[:, None])  # (n_alphas, r)
    # Pearson r needs only centered predictions: centering A over the test samples gives them
    # directly, with no cancellation in sum(pred^2) - sum(pred)^2 / n.
    A = spec.A - spec.A.mean(0) if scoring == "r" else spec.A
    y_dev = Y_test - Y_test.mean(0) if scoring == "r" else Yc
    cross = W @ (B * (A.T @ y_dev))  # sum over samples of pred * y_dev
    squares = torch.empty_like(cross)  # sum of pred^2
    group = max(1, _PRED_ELEMENTS // max(1, n_test * B.shape[1]))
    for lo in range(0, len(alphas), group):
        w = W[lo : lo + group]
        scaled = (w[:, None, :] * A[None]).reshape(-1, A.shape[1])
        pred = (scaled @ B).view(len(w), n_test, -1)
        squares[lo : lo + group] = torch.linalg.vector_norm(pred, dim=1).square()
    if scoring == "r":
        den = torch.sqrt(squares * y_dev.square().sum(0))
        scores = torch.where(den > 0, cross / den.clamp_min(1e-30), 0.0)
        return scores, torch.zeros_like(scores[0])
    yy = Yc.square().sum(0)
    sse = (yy - 2 * cross + squares).clamp_min(0)
    if scoring == "neg_mse":
        return -sse / n_test, -yy / n_test
    sst = (Y_test - Y_test.mean(0)).square().sum(0).clamp_min(1e-30)
    return 1 - sse / sst, 1 - yy / sst


def _check_folds(folds: Sequence[Fold], n_samples: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for k, (train, test) in enumerate(folds):
        train, test = np.asarray(train, int), np.asarray(test, int)
        if len(train) < 2 or len(test) < 1:
            raise ValueError(f"Fold {k} needs at least 2 training and 1 test sample.")
        if np.intersect1d(train, test).size:
            raise ValueError(f"Fold {k}: training and test samples overlap.")
        if train.max() >= n_samples or test.max() >= n_samples:
            raise ValueError(f"Fold {k} indexes past the {n_samples} samples.")
        out.append((train, test))
    if not out:
        raise ValueError("'folds' is empty; give at least one (train, test) split.")
    return out


def _target_blocks(
    n: int, size: int | None, run: Callable[[slice], None], device: torch.device
) -> None:
    """Call ``run(block)`` on consecutive blocks of targets, halving one that runs out of memory.

    Each target's numbers depend on its own column only, so smaller blocks give the same
    result. The smaller size is kept for the rest of the loop; ``run`` must write its block's
    results only once the whole block is done. A single target that does not fit is one error.
    """
    size = n if size is None else max(1, int(size))
    start = 0
    while start < n:
        block = slice(start, min(start + size, n))
        try:
            run(block)
        except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
            if not is_oom(err):
                raise
            width = block.stop - block.start
            if width == 1:
                raise NeuroalignError(
                    f"one target does not fit in {device} memory; use fewer features (PCA), "
                    "float32, or the dual route when samples are fewer than features"
                ) from None
            size = width // 2
            logger.warning("out of memory at %d targets; target blocks now %d", width, size)
            failed = True
        else:
            failed = False
        if failed:
            # Outside the except block, so the failed block's tensors are already released.
            free_cache(device)
            continue
        start = block.stop


@fill_doc
def cv_scores(
    X,
    Y,
    alphas,
    folds: Sequence[Fold],
    *,
    fit_intercept: bool = True,
    scoring: str = "neg_mse",
    route: str = "auto",
    n_targets_batch: int | None = 8192,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
    decomp_dtype: str | torch.dtype = "float64",
    tf32_scoring: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Score every alpha for every target by cross-validation (no refit).

    Parameters
    ----------
    {X}
    {Y}
    {alphas}
    {folds}
    {fit_intercept}
    {scoring}
    {route}
    {n_targets_batch}
    {device}
    {dtype}
    {decomp_dtype}
    {tf32_scoring}

    Returns
    -------
    scores : ndarray of shape (n_alphas, n_targets)
        Mean over folds.
    baseline : ndarray of shape (n_targets,)
        Mean over folds of the score of the training-mean predictor (alpha -> infinity).
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    decomp_dtype = resolve_dtype(decomp_dtype)
    check_option("scoring", scoring, SCORINGS)
    Xt = as_tensor(X, device, dtype)
    n_samples = Xt.shape[0]
    Y = np.asarray(Y) if not isinstance(Y, torch.Tensor) else Y
    if Y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but Y has {Y.shape[0]}; they must match.")
    alphas_t = _check_alphas(alphas, device, dtype)
    folds = _check_folds(folds, n_samples)
    specs = [
        _spectral(
            Xt[tr],
            Xt[te],
            route=route,
            fit_intercept=fit_intercept,
            decomp_dtype=decomp_dtype,
            with_weights=False,
        )
        for tr, te in folds
    ]
    n_targets = Y.shape[1]
    scores = np.empty((len(alphas_t), n_targets))
    baseline = np.empty(n_targets)
    folds_t = [
        (torch.as_tensor(tr, device=device), torch.as_tensor(te, device=device)) for tr, te in folds
    ]

    def score_block(chunk: slice) -> None:
        Yc = as_tensor(Y[:, chunk], device, dtype)
        total = torch.zeros(len(alphas_t), Yc.shape[1], dtype=dtype, device=device)
        base = torch.zeros(Yc.shape[1], dtype=dtype, device=device)
        with matmul_precision("high" if tf32_scoring else torch.get_float32_matmul_precision()):
            for spec, (tr, te) in zip(specs, folds_t, strict=True):
                s, b = _fold_scores(spec, Yc[tr], Yc[te], alphas_t, scoring)
                total += s
                base += b
        scores[:, chunk] = to_numpy(total / len(folds))
        baseline[chunk] = to_numpy(base / len(folds))

    _target_blocks(n_targets, n_targets_batch, score_block, device)
    return scores, baseline


def _check_alphas(alphas, device, dtype) -> torch.Tensor:
    arr = np.atleast_1d(np.array(alphas, float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"'alphas' must be a 1-D array of positive numbers, got {alphas!r}.")
    return torch.as_tensor(arr, dtype=dtype, device=device)


@fill_doc
def refit(
    X,
    Y,
    alphas_per_target,
    *,
    fit_intercept: bool = True,
    route: str = "auto",
    n_targets_batch: int | None = 8192,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
    decomp_dtype: str | torch.dtype = "float64",
    keep_on_device: bool = False,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Fit ridge with one alpha per target on all samples, in the spectral domain.

    One eigendecomposition; each target's weights are ``Q ((P y) / (s + alpha_t))``, so no
    weights are formed for alphas nobody chose.

    Parameters
    ----------
    {X}
    {Y}
    alphas_per_target : array of shape (n_targets,) or float
    {fit_intercept}
    {route}
    {n_targets_batch}
    {device}
    {dtype}
    {decomp_dtype}
    {keep_on_device}

    Returns
    -------
    coef : ndarray or tensor of shape (n_features, n_targets)
    intercept : ndarray or tensor of shape (n_targets,)
    route : str
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    Xt = as_tensor(X, device, dtype)
    Y = np.asarray(Y) if not isinstance(Y, torch.Tensor) else Y
    n_targets = Y.shape[1]
    alpha = np.broadcast_to(np.asarray(alphas_per_target, float), (n_targets,))
    _check_alphas(alpha, device, dtype)
    spec = _spectral(
        Xt,
        None,
        route=route,
        fit_intercept=fit_intercept,
        decomp_dtype=resolve_dtype(decomp_dtype),
        with_weights=True,
    )
    if keep_on_device:
        coef = torch.empty((Xt.shape[1], n_targets), dtype=dtype, device=device)
        intercept = torch.empty(n_targets, dtype=dtype, device=device)
        put = lambda t: t  # noqa: E731
    else:
        out_dtype = np.float32 if dtype == torch.float32 else np.float64
        coef = np.empty((Xt.shape[1], n_targets), dtype=out_dtype)
        intercept = np.empty(n_targets, dtype=out_dtype)
        put = to_numpy

    def fit_block(chunk: slice) -> None:
        Yc = as_tensor(Y[:, chunk], device, dtype)
        a = torch.as_tensor(np.array(alpha[chunk]), dtype=dtype, device=device)
        W, b = _refit_block(spec, Yc, a, fit_intercept)
        coef[:, chunk] = put(W)
        intercept[chunk] = put(b)

    _target_blocks(n_targets, n_targets_batch, fit_block, device)
    return coef, intercept, pick_route(*Xt.shape, route)


def _refit_block(
    spec: _Spectral, Yc: torch.Tensor, a: torch.Tensor, fit_intercept: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and intercepts of one block of targets, each with its own alpha."""
    y_mean = Yc.mean(0) if fit_intercept else torch.zeros_like(Yc[0])
    W = spec.Q @ ((spec.P @ (Yc - y_mean)) / (spec.s[:, None] + a[None, :]))
    return W, y_mean - spec.x_mean @ W


def edge_counts(scores: np.ndarray, baseline: np.ndarray, best: np.ndarray) -> tuple[int, int]:
    """Count targets whose best alpha index sits at the lower or (informative) upper grid edge.

    Parameters
    ----------
    scores : ndarray of shape (n_alphas, n_targets)
    baseline : ndarray of shape (n_targets,)
        Score of the mean predictor; a target at the upper edge counts only if it beats it.
    best : ndarray of shape (n_targets,)
        Index of each target's best alpha.

    Returns
    -------
    n_lower, n_upper : int
    """
    top = scores.shape[0] - 1
    best_score = scores[best, np.arange(scores.shape[1])]
    n_lower = int(np.sum(best == 0)) if top > 0 else 0
    n_upper = int(np.sum((best == top) & (best_score > baseline + 1e-12))) if top > 0 else 0
    return n_lower, n_upper


def widen(alphas: np.ndarray, lower: bool, upper: bool, n_new: int = 3) -> np.ndarray:
    """Extend a log-spaced grid by ``n_new`` points at the edges asked for (same log step)."""
    alphas = np.sort(np.asarray(alphas, float))
    step = np.median(np.diff(np.log10(alphas))) if alphas.size > 1 else 1.0
    low = alphas[0] * 10.0 ** (-step * np.arange(n_new, 0, -1)) if lower else []
    high = alphas[-1] * 10.0 ** (step * np.arange(1, n_new + 1)) if upper else []
    return np.concatenate([low, alphas, high])


@fill_doc
def ridge_cv(
    X,
    Y,
    alphas,
    folds: Sequence[Fold],
    *,
    fit_intercept: bool = True,
    scoring: str = "neg_mse",
    route: str = "auto",
    widen_fraction: float | None = 0.05,
    max_widen: int = 2,
    n_targets_batch: int | None = 8192,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "float64",
    decomp_dtype: str | torch.dtype = "float64",
    tf32_scoring: bool = False,
    keep_on_device: bool = False,
    devices: Sequence[str | torch.device] | None = None,
) -> RidgeCVResult:
    """Ridge regression with one alpha per target chosen by cross-validation.

    Parameters
    ----------
    {X}
    {Y}
    {alphas}
    {folds}
    {fit_intercept}
    {scoring}
    {route}
    {widen_fraction}
    {max_widen}
    {n_targets_batch}
    {device}
    {dtype}
    {decomp_dtype}
    {tf32_scoring}
    {keep_on_device}
    devices : sequence of str or torch.device, optional
        Split the targets between these devices (contiguous shares, one thread each), in
        place of ``device``; results are gathered on the CPU (``keep_on_device`` must be
        False). The alphas equal those of a fit on one device.

    Returns
    -------
    result : RidgeCVResult
    """
    alphas = np.sort(np.atleast_1d(np.asarray(alphas, float)))
    common = dict(
        fit_intercept=fit_intercept,
        route=route,
        n_targets_batch=n_targets_batch,
        dtype=dtype,
        decomp_dtype=decomp_dtype,
    )
    shards = _shards(Y, devices, device, keep_on_device)
    if widen_fraction is not None:
        check_range("widen_fraction", widen_fraction, 0, 1)
    for attempt in range(max_widen + 1):
        parts = _on_shards(
            shards,
            lambda on, cols, a=alphas: cv_scores(
                X,
                Y[:, cols],
                a,
                folds,
                scoring=scoring,
                tf32_scoring=tf32_scoring,
                device=on,
                **common,
            ),
        )
        scores = np.concatenate([p[0] for p in parts], axis=1)
        baseline = np.concatenate([p[1] for p in parts])
        best = np.argmax(scores, axis=0)
        n_lower, n_upper = edge_counts(scores, baseline, best)
        n_targets = scores.shape[1]
        grow_low = widen_fraction is not None and n_lower > widen_fraction * n_targets
        grow_high = widen_fraction is not None and n_upper > widen_fraction * n_targets
        if attempt == max_widen or not (grow_low or grow_high):
            break
        logger.info(
            "alpha grid edge: %d targets at the lower, %d at the upper edge; widening",
            n_lower,
            n_upper,
        )
        alphas = widen(alphas, grow_low, grow_high)
    best_alphas = alphas[best]
    parts = _on_shards(
        shards,
        lambda on, cols: refit(
            X, Y[:, cols], best_alphas[cols], keep_on_device=keep_on_device, device=on, **common
        ),
    )
    if len(parts) == 1:
        coef, intercept, used = parts[0]
    else:
        coef = np.concatenate([p[0] for p in parts], axis=1)
        intercept = np.concatenate([p[1] for p in parts])
        used = parts[0][2]
    return RidgeCVResult(
        coef=coef,
        intercept=intercept,
        best_alphas=best_alphas,
        cv_scores=scores,
        alphas=alphas,
        route=used,
        n_lower_edge=n_lower,
        n_upper_edge=n_upper,
    )


def _shards(
    Y, devices: Sequence | None, device: str | torch.device | None, keep_on_device: bool
) -> list[tuple[str | torch.device | None, slice]]:
    """(device, contiguous target columns) of each share; one share without ``devices``."""
    n_targets = Y.shape[1]
    if not devices or len(devices) == 1:
        return [(devices[0] if devices else device, slice(0, n_targets))]
    if keep_on_device:
        raise NeuroalignError(
            "keep_on_device needs one device: with several devices the results are gathered "
            "on the CPU; set keep_on_device=False or give one device"
        )
    edges = np.linspace(0, n_targets, len(devices) + 1).round().astype(int)
    return [(on, slice(a, b)) for on, a, b in zip(devices, edges[:-1], edges[1:], strict=True)]


def _on_shards(shards: list, run: Callable) -> list:
    """``run(device, columns)`` for each share, each on a thread of its own when several."""
    if len(shards) == 1:
        return [run(*shards[0])]
    with ThreadPoolExecutor(max_workers=len(shards)) as pool:
        return list(pool.map(lambda shard: run(*shard), shards))
