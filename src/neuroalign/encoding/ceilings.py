"""Noise ceilings: explainable variance from repeats, split-half reliability, across subjects.

Conventions (named in every output as ``ceiling_convention``):

``"r/c"``
    Normalized score = r / c, with ``c`` a correlation ceiling (brain-score/language).
``"(r/c)^2"``
    The square of the above: explained over explainable variance in correlation units.
``"r2/ev"``
    Normalized score = R^2 / explainable variance (voxelwise modelling convention).
"""

from __future__ import annotations

import numpy as np

from neuroalign._check import check_option, check_range
from neuroalign.encoding.scores import pearson_r

CONVENTIONS = ("r/c", "(r/c)^2", "r2/ev")


def _check_repeats(repeats) -> np.ndarray:
    repeats = np.asarray(repeats, float)
    if repeats.ndim == 2:
        repeats = repeats[..., None]
    if repeats.ndim != 3 or repeats.shape[0] < 2:
        raise ValueError(
            "'repeats' must have shape (n_repeats >= 2, n_samples, n_targets), "
            f"got {repeats.shape}."
        )
    return repeats


def explainable_variance(repeats, *, bias_correction: bool = True) -> np.ndarray:
    """Fraction of a single repeat's variance that is repeatable (the stimulus-driven share).

    ``ev = var(mean over repeats) / mean(var of each repeat)``; with ``bias_correction`` the
    noise left in the mean is removed: ``ev - (1 - ev) / (n_repeats - 1)``, which is unbiased
    for equal noise across repeats.

    Parameters
    ----------
    repeats : array of shape (n_repeats, n_samples, n_targets)

    Returns
    -------
    ev : ndarray of shape (n_targets,)
    """
    repeats = _check_repeats(repeats)
    n_rep = repeats.shape[0]
    ev = repeats.mean(0).var(0) / repeats.var(1).mean(0)
    if bias_correction:
        ev = ev - (1 - ev) / (n_rep - 1)
    return ev


def correlation_ceiling(ev, n_repeats: int) -> np.ndarray:
    """Largest correlation a noise-free model can reach with the mean of ``n_repeats`` repeats.

    ``cc_max = sqrt(ev / (ev + (1 - ev) / n_repeats))`` (clipped to [0, 1]).
    """
    ev = np.clip(np.asarray(ev, float), 0, 1)
    den = ev + (1 - ev) / n_repeats
    return np.sqrt(np.divide(ev, den, out=np.zeros_like(ev), where=den > 0))


def spearman_brown(r, factor: float = 2.0) -> np.ndarray:
    """Reliability of ``factor`` times more data: ``factor r / (1 + (factor - 1) r)``."""
    r = np.asarray(r, float)
    return factor * r / (1 + (factor - 1) * r)


def split_half_reliability(repeats, *, n_splits: int = 20, rng: np.random.Generator):
    """Reliability of the mean of all repeats from random split halves, Spearman-Brown corrected.

    Each split averages two random halves of the repeats and correlates them; the mean split-half
    correlation is stepped up by :func:`spearman_brown` with factor 2 (exact for an even count).
    Its square root is a correlation ceiling comparable to :func:`correlation_ceiling`.

    Parameters
    ----------
    repeats : array of shape (n_repeats, n_samples, n_targets)
    n_splits : int
    rng : numpy.random.Generator

    Returns
    -------
    reliability : ndarray of shape (n_targets,)
    """
    repeats = _check_repeats(repeats)
    check_range("n_splits", n_splits, 1)
    n_rep = repeats.shape[0]
    rs = []
    for _ in range(n_splits):
        order = rng.permutation(n_rep)
        half = n_rep // 2
        rs.append(pearson_r(repeats[order[:half]].mean(0), repeats[order[half:]].mean(0)))
    return spearman_brown(np.mean(rs, axis=0))


def across_subject_ceiling(responses) -> np.ndarray:
    """Correlation of each subject with the mean of the others, averaged over subjects.

    Parameters
    ----------
    responses : array of shape (n_subjects, n_samples, n_targets)
        The same targets (ROIs or aligned voxels) and stimuli in every subject.

    Returns
    -------
    ceiling : ndarray of shape (n_targets,)
        In correlation units: how well a model can predict one subject at best when it is as
        good as the other subjects.
    """
    responses = _check_repeats(responses)
    n_sub = responses.shape[0]
    total = responses.sum(0)
    rs = [pearson_r(responses[s], (total - responses[s]) / (n_sub - 1)) for s in range(n_sub)]
    return np.mean(rs, axis=0)


def normalize(score, ceiling, convention: str = "r/c") -> np.ndarray:
    """Divide a score by its ceiling under a named convention (NaN where the ceiling is <= 0).

    Parameters
    ----------
    score : array
        r (``"r/c"``, ``"(r/c)^2"``) or R^2 (``"r2/ev"``).
    ceiling : array
        A correlation ceiling, or explainable variance for ``"r2/ev"``.
    convention : {"r/c", "(r/c)^2", "r2/ev"}

    Returns
    -------
    normalized : ndarray
    """
    check_option("convention", convention, CONVENTIONS)
    score, ceiling = np.asarray(score, float), np.asarray(ceiling, float)
    ratio = np.divide(
        score, ceiling, out=np.full(np.broadcast(score, ceiling).shape, np.nan), where=ceiling > 0
    )
    return ratio**2 * np.sign(ratio) if convention == "(r/c)^2" else ratio
