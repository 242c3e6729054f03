"""The parameter documentation shared by the ridge engine's functions and estimators.

A docstring names a shared entry on a line of its own, ``{alphas}``, in its Parameters
section; :func:`fill_doc` replaces that line with the entry of :data:`PARAMS`, indented as the
line was. Every repeated parameter is described here once.
"""

from __future__ import annotations

import re
import textwrap
from typing import TypeVar

T = TypeVar("T")


def _paragraph(text: str) -> str:
    """``text`` wrapped as an entry's description (indented by four spaces)."""
    return textwrap.fill(
        text, width=88, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
    )


_INNER_FOLDS = "contiguous-block folds inside each training set that choose the penalty"
_RIDGE_OPTIONS = (
    "the parameters of the :class:`~neuroalign.encoding.estimators.RidgeCV` that fits "
    "(``fit_intercept``, ``scoring``, ``route``, ``widen_fraction``, ``n_targets_batch``, "
    "``device``, ``dtype``, ``solver``, ``solver_params``); any other keyword is a solver "
    "parameter and joins ``solver_params`` (e.g. ``tf32_scoring=True``)."
)

#: Numpydoc entries ("name : type" and its indented description) by key. A key is the
#: parameter's name, or a name for one of its meanings (``alphas_grid``, ``cv_lag``).
PARAMS: dict[str, str] = {
    # data
    "X": "X : array of shape (n_samples, n_features)",
    "X_undelayed": (
        "X : array of shape (n_samples, n_features)\n"
        "    Undelayed features (e.g. word impulses at onsets), rows in time order."
    ),
    "Y": "Y : array of shape (n_samples, n_targets)",
    "y": "y : array of shape (n_samples,) or (n_samples, n_targets)",
    # penalties
    "alphas": (
        "alphas : array of shape (n_alphas,)\n"
        "    Candidate penalties (``alpha * ||w||^2``), positive; sorted here, and best\n"
        "    log-spaced when the grid may widen."
    ),
    "alphas_grid": (
        "alphas : array of shape (n_alphas,), mapping or None\n"
        "    Candidate penalties (``alpha * ||w||^2``). A mapping ``{start, stop, num}`` is\n"
        "    ``np.logspace(start, stop, num)``; None is the one default grid,\n"
        "    :func:`neuroalign.settings.alpha_grid` (``np.logspace(-3, 6, 19)``)."
    ),
    "widen_fraction": (
        "widen_fraction : float or None\n"
        "    When more than this fraction of targets sits at a grid edge\n"
        "    (:func:`~neuroalign.encoding.ridge.edge_counts`), the grid grows by three points\n"
        "    at that edge and cross-validation reruns, at most ``max_widen`` times. None keeps\n"
        "    the grid fixed."
    ),
    "max_widen": "max_widen : int\n    Most times the grid widens.",
    # cross-validation
    "folds": (
        "folds : sequence of (train_indices, test_indices)\n"
        "    Cross-validation splits of the rows (:mod:`neuroalign.encoding.cv`)."
    ),
    "cv": (
        "cv : int or sequence of (train, test)\n"
        "    Number of contiguous blocks (no shuffling), or explicit folds (e.g. from\n"
        "    :func:`~neuroalign.encoding.cv.group_folds`)."
    ),
    "cv_lag": (
        "cv : int\n"
        "    Number of contiguous blocks of equal length when ``fit`` gets no ``segments``;\n"
        "    1 fits without cross-validation (give a single alpha)."
    ),
    "segments": (
        "segments : array of shape (n_samples,)\n"
        "    Contiguous block label of each sample (runs, or the blocks of\n"
        "    :func:`~neuroalign.encoding.cv.block_labels`); lags never cross a block edge, and\n"
        "    each block is held out once. One block fits without cross-validation (give a\n"
        "    single alpha)."
    ),
    "segments_optional": (
        "segments : array of shape (n_samples,), optional\n"
        "    Contiguous block label of each sample; lags never cross a block edge. None is one\n"
        "    continuous block."
    ),
    "inner_folds": "inner_folds : int\n" + _paragraph(_INNER_FOLDS.capitalize() + "."),
    "scoring": (
        'scoring : {"neg_mse", "r2", "r"}\n'
        "    Per-fold score of each alpha, averaged over folds; each target keeps the alpha\n"
        "    (and band weights) with the best mean."
    ),
    # the fit
    "fit_intercept": (
        "fit_intercept : bool\n"
        "    Fit an intercept: X and Y are centred with the means of the training samples."
    ),
    "route": (
        'route : {"auto", "primal", "dual"}\n'
        '    Decompose ``X^T X`` (primal) or the kernel ``X X^T`` (dual); ``"auto"`` picks\n'
        "    primal when a fold has at least as many training samples as features."
    ),
    "n_targets_batch": (
        "n_targets_batch : int or None\n"
        "    Targets per chunk (bounds memory; Y moves to the device chunk by chunk); None is\n"
        "    one chunk. A chunk that runs out of device memory is split in halves and tried\n"
        "    again (same result)."
    ),
    "device": (
        "device : str or torch.device\n"
        '    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (the first visible GPU, else the\n'
        "    CPU; :mod:`neuroalign.devices`)."
    ),
    "dtype": (
        'dtype : {"float32", "float64"} or torch.dtype\n'
        "    Working precision of the products and of the returned arrays."
    ),
    "decomp_dtype": (
        'decomp_dtype : {"float32", "float64"} or torch.dtype\n'
        "    Precision of the eigendecompositions."
    ),
    "tf32_scoring": (
        "tf32_scoring : bool\n"
        "    Score alphas with TF32 tensor-core products (float32 on NVIDIA GPUs; no effect\n"
        "    elsewhere). Scores then carry about 1e-3 relative error, which can change the\n"
        "    alpha of targets whose best alphas nearly tie; weights are still refit in\n"
        "    ``dtype``."
    ),
    "keep_on_device": (
        "keep_on_device : bool\n"
        "    Return ``coef`` and ``intercept`` as torch tensors on ``device`` (no copy to the\n"
        "    host, for callers that predict there)."
    ),
    # the estimators' face
    "solver": (
        "solver : str\n"
        "    Registered solver that fits (:mod:`neuroalign.encoding.solvers`), of this\n"
        "    estimator's family; the default is the engine's own."
    ),
    "solver_params": (
        "solver_params : dict or None\n"
        "    Extra keywords of the solver (for ``ridge_cv``: ``max_widen``, ``decomp_dtype``,\n"
        "    ``tf32_scoring``, ``keep_on_device``); none may repeat a parameter of the\n"
        "    estimator."
    ),
    "options": "**options\n" + _paragraph("Passed on: " + _RIDGE_OPTIONS),
    "options_nested": "**options\n"
    + _paragraph(f"``inner_folds`` ({_INNER_FOLDS}) and {_RIDGE_OPTIONS}"),
    "options_lag": (
        "**options\n"
        "    Parameters of the :class:`~neuroalign.encoding.estimators.LagRidgeCV` that fits\n"
        "    (``fit_intercept``, ``scoring``, ``device``, ``dtype``, ``solver``,\n"
        "    ``solver_params``); any other keyword joins ``solver_params``."
    ),
    # banded ridge
    "groups": (
        "groups : array of int, shape (n_features,)\n"
        "    Feature space (band) of each column, ``0 .. n_bands - 1``."
    ),
    "groups_or_none": (
        "groups : array of int, shape (n_features,), or None\n"
        "    Feature space (band) of each column, ``0 .. n_bands - 1``; None puts every column\n"
        "    in one band (plain ridge)."
    ),
    "n_iter": (
        "n_iter : int\n"
        "    Dirichlet draws of band weights beyond the simplex corners and its centre."
    ),
    "seed_draws": "seed : int\n    Seed of the Dirichlet draws.",
    "candidates": (
        "candidates : array of shape (n_candidates, n_bands) or None\n"
        "    Explicit band weights to try instead of the draws (rows are normalized to sum\n"
        "    to 1)."
    ),
    # lagged ridge
    "lags": (
        "lags : array of int, shape (n_lags,)\n"
        "    Contiguous and increasing, in samples; positive lags are past input (the response\n"
        "    follows the feature)."
    ),
    "coef_lagged": (
        "coef : array of shape (n_lags, n_features, n_targets)\n"
        "    TRFs, as :attr:`~neuroalign.encoding.lagged.LagRidgeResult.coef`."
    ),
    # nulls
    "rng_null": "rng : numpy.random.Generator\n    For the circular-shift null.",
    "n_perm_shifts": ("n_perm : int\n    Shifts in the null (0 skips p and q, which become NaN)."),
    "n_perm_refit": (
        "n_perm : int\n"
        "    Permutations, refitted and the same for every feature set; 0 skips the nulls."
    ),
    "batch": "batch : int\n    Shifts or permutations evaluated together on the device.",
    # item-level sweeps and scores (the gain sweep, the localizer's brain alignment)
    "designs_items": (
        "designs : mapping of label to array of shape (n_items, n_features)\n"
        "    Feature sets (layers, single predictors); columns are z-scored here."
    ),
    "baseline_items": (
        "baseline : array of shape (n_items, n_baseline), or mapping of str to such arrays\n"
        "    Baseline predictors (least squares, with an intercept; not penalized). A mapping\n"
        "    names standard candidates: each outer fold uses the strongest on its training rows\n"
        "    (:mod:`neuroalign.encoding.baselines`)."
    ),
    "n_splits": (
        "n_splits : int\n"
        "    Number of outer folds: contiguous blocks of items, or of groups when ``groups``\n"
        "    is given."
    ),
    "groups_items": (
        "groups : array of shape (n_items,), optional\n"
        "    Group of each item (e.g. passage); items of a group never straddle train and test."
    ),
}

_PLACEHOLDER = re.compile(r"^([ \t]*)\{(\w+)\}[ \t]*$", re.MULTILINE)


def fill_doc(obj: T) -> T:
    """Replace each ``{key}`` line of ``obj``'s docstring by the entry ``PARAMS[key]``.

    Parameters
    ----------
    obj : function or class
        Its docstring names shared entries on lines of their own.

    Returns
    -------
    obj : function or class
        The same object, its docstring filled (usable as a decorator).

    Raises
    ------
    KeyError
        If the docstring names a key that :data:`PARAMS` lacks.
    """

    def entry(match: re.Match) -> str:
        indent, key = match.groups()
        if key not in PARAMS:
            raise KeyError(f"{obj.__qualname__}: no shared parameter entry {key!r} in PARAMS.")
        return "\n".join(indent + line for line in PARAMS[key].splitlines())

    obj.__doc__ = _PLACEHOLDER.sub(entry, obj.__doc__ or "")
    return obj
