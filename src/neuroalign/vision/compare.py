"""ROI summaries of voxel-wise image encoding fits: layer sweeps, bootstrap intervals, recovery.

Pure functions on arrays. A *fit* is one (model, layer) pair; its voxel-wise scores come from
:func:`neuroalign.vision.encode.fit_images`. The normalized score of a voxel is
``sign(r) r^2 / ceiling`` (:func:`normalized_score`), the share of the explainable variance of
the trial-averaged test response that the prediction explains.

The bootstrap resamples *test images* (with replacement; the same resamples for every fit), so
an interval says how much the ROI score would move on another draw of test images from the same
distribution, and the paired difference of two fits uses the same resample for both. The ceiling
is held fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from neuroalign._check import check_range

__all__ = [
    "RoiComparison",
    "bootstrap_counts",
    "bootstrap_roi_scores",
    "compare_rois",
    "normalized_score",
    "percentile_interval",
    "roi_recovery",
    "roi_summary",
]


def normalized_score(r, ceiling) -> np.ndarray:
    """Noise-ceiling-normalized score ``sign(r) r^2 / ceiling`` (NaN where the ceiling is <= 0).

    Parameters
    ----------
    r : array
        Pearson r of the prediction with the trial-averaged test response.
    ceiling : array
        Noise ceiling as a fraction (0..1) of the variance of the trial-averaged response that
        is stimulus-driven (NSD's ``NC / 100`` for the number of averaged trials).

    Returns
    -------
    normalized : ndarray
        1 for a prediction as good as the noise allows; the sign of ``r`` is kept so that
        anti-correlated predictions stay below 0.
    """
    r, ceiling = np.asarray(r, float), np.asarray(ceiling, float)
    shape = np.broadcast(r, ceiling).shape
    return np.divide(
        np.sign(r) * r**2,
        ceiling,
        out=np.full(shape, np.nan),
        where=np.broadcast_to(ceiling > 0, shape),
    )


def _median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """NaN-aware median that is NaN (without a warning) where every value is NaN."""
    values = np.asarray(values, float)
    ok = np.isfinite(values).any(axis=axis)
    out = np.full(ok.shape, np.nan)
    if ok.any():
        moved = np.moveaxis(values, axis, -1)[ok]
        out[ok] = np.nanmedian(moved, axis=-1)
    return out


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    values = np.asarray(values, float)
    n = np.isfinite(values).sum(axis=axis)
    total = np.nansum(values, axis=axis)
    return np.divide(total, n, out=np.full(n.shape, np.nan), where=n > 0)


def roi_summary(
    normalized, q, rois: Mapping[str, np.ndarray], *, q_level: float = 0.05
) -> dict[str, np.ndarray]:
    """Median and mean normalized score per fit and ROI, over all its voxels and the significant.

    Parameters
    ----------
    normalized, q : array of shape (n_fits, n_voxels)
    rois : mapping of name to bool array of shape (n_voxels,)
    q_level : float

    Returns
    -------
    summary : dict of str to ndarray of shape (n_fits, n_rois)
        ``median``, ``mean`` (all ROI voxels), ``median_sig``, ``mean_sig`` (voxels with
        ``q < q_level`` in that fit; NaN when none) and ``n_sig``.
    """
    normalized, q = np.atleast_2d(normalized), np.atleast_2d(q)
    out = {k: np.full((normalized.shape[0], len(rois)), np.nan) for k in ("median", "mean")}
    out |= {k: np.full_like(out["median"], np.nan) for k in ("median_sig", "mean_sig", "n_sig")}
    for j, mask in enumerate(rois.values()):
        values = normalized[:, np.asarray(mask, bool)]
        sig = q[:, np.asarray(mask, bool)] < q_level
        out["median"][:, j] = _median(values)
        out["mean"][:, j] = _mean(values)
        masked = np.where(sig, values, np.nan)
        out["median_sig"][:, j] = _median(masked)
        out["mean_sig"][:, j] = _mean(masked)
        out["n_sig"][:, j] = sig.sum(1)
    return out


def bootstrap_counts(n_samples: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each sample is drawn in each of ``n_boot`` bootstrap resamples.

    Returns
    -------
    counts : ndarray of shape (n_boot, n_samples)
        Rows sum to ``n_samples``.
    """
    check_range("n_boot", n_boot, 0)
    draws = rng.integers(0, n_samples, size=(n_boot, n_samples))
    counts = np.zeros((n_boot, n_samples))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts


def _weighted_r(W: np.ndarray, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``Y`` with ``P`` under each row of sample weights ``W``."""
    n = W.sum(1, keepdims=True)
    my, mp = (W @ Y) / n, (W @ P) / n
    cov = (W @ (Y * P)) / n - my * mp
    vy = (W @ (Y * Y)) / n - my**2
    vp = (W @ (P * P)) / n - mp**2
    den = np.sqrt(np.clip(vy, 0, None) * np.clip(vp, 0, None))
    return np.divide(cov, den, out=np.zeros_like(cov), where=den > 0)


def bootstrap_roi_scores(
    Y_test, pred, ceiling, rois: Mapping[str, np.ndarray], counts
) -> np.ndarray:
    """ROI median normalized scores of one fit under each bootstrap resample of the test images.

    Parameters
    ----------
    Y_test, pred : array of shape (n_test, n_voxels)
        Trial-averaged test responses and the fit's predictions.
    ceiling : array of shape (n_voxels,)
        As in :func:`normalized_score` (held fixed).
    rois : mapping of name to bool array of shape (n_voxels,)
    counts : array of shape (n_boot, n_test)
        From :func:`bootstrap_counts` (share it between fits for paired differences).

    Returns
    -------
    scores : ndarray of shape (n_boot, n_rois)
    """
    Y, P, W = np.asarray(Y_test, float), np.asarray(pred, float), np.asarray(counts, float)
    out = np.full((W.shape[0], len(rois)), np.nan)
    if W.shape[0] == 0:
        return out
    ceiling = np.asarray(ceiling, float)
    for j, mask in enumerate(rois.values()):
        mask = np.asarray(mask, bool)
        if mask.any():
            r = _weighted_r(W, Y[:, mask], P[:, mask])
            out[:, j] = _median(normalized_score(r, ceiling[mask][None]))
    return out


def percentile_interval(samples, level: float = 0.95, axis: int = 0) -> tuple:
    """Percentile bootstrap interval ``(low, high)`` of ``samples`` along ``axis`` (NaN-aware)."""
    samples = np.asarray(samples, float)
    tail = 100 * (1 - level) / 2
    if samples.shape[axis] == 0:
        shape = np.delete(np.array(samples.shape), axis)
        return np.full(shape, np.nan), np.full(shape, np.nan)
    low, high = np.nanpercentile(samples, [tail, 100 - tail], axis=axis)
    return low, high


@dataclass(frozen=True)
class RoiComparison:
    """What :func:`compare_rois` returns (arrays over ROIs unless noted).

    Attributes
    ----------
    best_layer : ndarray of int, shape (n_models, n_rois)
        Per model, the index (into that model's fits) of the layer with the best mean
        cross-validated score over the ROI's voxels (training images only).
    best, second : ndarray of int, shape (n_rois,)
        Fit indices of the two leading candidates (models at their best layer when there are
        several models, else the layers of the one model), ranked by the ROI's mean
        cross-validated score; ``second`` is -1 when there is one candidate.
    best_score, second_score : ndarray of shape (n_rois,)
        Their held-out ROI median normalized scores.
    best_low, best_high, second_low, second_high : ndarray of shape (n_rois,)
        Bootstrap intervals of those scores.
    diff, diff_low, diff_high : ndarray of shape (n_rois,)
        ``best_score - second_score`` and its paired bootstrap interval.
    """

    best_layer: np.ndarray
    best: np.ndarray
    second: np.ndarray
    best_score: np.ndarray
    second_score: np.ndarray
    best_low: np.ndarray
    best_high: np.ndarray
    second_low: np.ndarray
    second_high: np.ndarray
    diff: np.ndarray
    diff_low: np.ndarray
    diff_high: np.ndarray


def compare_rois(fit_model, roi_cv, roi_score, boot, *, level: float = 0.95) -> RoiComparison:
    """Choose each model's layer per ROI on training data, rank the candidates, compare the top two.

    Parameters
    ----------
    fit_model : array of shape (n_fits,)
        The model of each fit (any labels).
    roi_cv : array of shape (n_fits, n_rois)
        Mean cross-validated score of each fit over each ROI's voxels (higher is better).
    roi_score : array of shape (n_fits, n_rois)
        Held-out ROI score of each fit (the median normalized score).
    boot : array of shape (n_fits, n_boot, n_rois)
        Its bootstrap resamples (:func:`bootstrap_roi_scores`, the same counts for every fit).
    level : float
        Interval coverage.

    Returns
    -------
    comparison : RoiComparison
    """
    fit_model = np.asarray(fit_model)
    roi_cv, roi_score, boot = (np.asarray(a, float) for a in (roi_cv, roi_score, boot))
    models = list(dict.fromkeys(fit_model.tolist()))
    n_rois = roi_cv.shape[1]
    best_layer = np.zeros((len(models), n_rois), int)
    chosen = np.zeros((len(models), n_rois), int)
    for m, model in enumerate(models):
        idx = np.flatnonzero(fit_model == model)
        cv = np.where(np.isfinite(roi_cv[idx]), roi_cv[idx], -np.inf)
        best_layer[m] = np.argmax(cv, axis=0)
        chosen[m] = idx[best_layer[m]]
    best, second = np.zeros(n_rois, int), np.full(n_rois, -1)
    for j in range(n_rois):
        candidates = chosen[:, j] if len(models) > 1 else np.arange(roi_cv.shape[0])
        cv = np.where(np.isfinite(roi_cv[candidates, j]), roi_cv[candidates, j], -np.inf)
        order = candidates[np.argsort(-cv, kind="stable")]
        best[j] = order[0]
        if order.size > 1:
            second[j] = order[1]
    cols = np.arange(n_rois)
    nan = np.full(n_rois, np.nan)

    def at(fits):
        ok = fits >= 0
        score, samples = nan.copy(), np.full((boot.shape[1], n_rois), np.nan)
        score[ok] = roi_score[fits[ok], cols[ok]]
        samples[:, ok] = boot[fits[ok], :, cols[ok]].T
        return score, samples

    best_score, best_boot = at(best)
    second_score, second_boot = at(second)
    b_low, b_high = percentile_interval(best_boot, level)
    s_low, s_high = percentile_interval(second_boot, level)
    d_low, d_high = percentile_interval(best_boot - second_boot, level)
    return RoiComparison(
        best_layer=best_layer,
        best=best,
        second=second,
        best_score=best_score,
        second_score=second_score,
        best_low=b_low,
        best_high=b_high,
        second_low=s_low,
        second_high=s_high,
        diff=best_score - second_score,
        diff_low=d_low,
        diff_high=d_high,
    )


def roi_recovery(
    significant, planted, rois: Mapping[str, np.ndarray]
) -> dict[str, tuple[float, float]]:
    """Precision and recall of the significant voxels against the planted responsive ones, per ROI.

    Parameters
    ----------
    significant : array of bool, shape (n_rois, n_voxels) or (n_voxels,)
        Voxels found (q below the level), in the fit chosen for each ROI (one row per ROI) or
        one map for all.
    planted : array of bool, shape (n_voxels,)
        Voxels the simulation made responsive.
    rois : mapping of name to bool array of shape (n_voxels,)

    Returns
    -------
    recovery : dict of ROI name to (precision, recall)
        Within the ROI's voxels; precision is NaN when nothing is significant there, recall NaN
        when nothing is planted there.
    """
    planted = np.asarray(planted, bool)
    sig = np.asarray(significant, bool)
    sig = np.broadcast_to(sig, (len(rois), planted.size)) if sig.ndim == 1 else sig
    out = {}
    for j, (name, mask) in enumerate(rois.items()):
        mask = np.asarray(mask, bool)
        found, true = sig[j] & mask, planted & mask
        hit = float(np.sum(found & true))
        out[name] = (
            hit / found.sum() if found.any() else np.nan,
            hit / true.sum() if true.any() else np.nan,
        )
    return out
