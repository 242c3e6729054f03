"""Registry of the ridge solvers: pure functions on arrays with explicit device and dtype.

=====================  ========  ===========================================================
solver                 family    what
=====================  ========  ===========================================================
``"ridge_cv"``         ridge     one alpha per target, primal or dual route, spectral refit
``"banded_ridge_cv"``  banded    one penalty per feature space and target (random search)
``"lag_ridge_cv"``     lagged    temporal response functions from a lagged Gram (n >> p)
=====================  ========  ===========================================================

The estimators of :mod:`neuroalign.encoding.estimators` fit through this registry, as
himalaya's do: ``RidgeCV(solver=..., solver_params=...)`` looks the solver up by name and calls
it with the estimator's own parameters as keywords plus the ``solver_params``. A solver of a
family takes the keywords that family's estimator passes and returns an object with the
attributes of that family's result:

======  ==================  ===================================================================
family  estimator           keywords passed; result attributes
======  ==================  ===================================================================
ridge   ``RidgeCV``         ``X, Y, alphas, folds, fit_intercept, scoring, route,
                            widen_fraction, n_targets_batch, device, dtype``; those of
                            :class:`~neuroalign.encoding.ridge.RidgeCVResult`
banded  ``BandedRidgeCV``   ``X, Y, groups, alphas, folds, n_iter, seed, candidates,
                            fit_intercept, scoring, n_targets_batch, device, dtype``; those of
                            :class:`~neuroalign.encoding.banded.BandedResult`
lagged  ``LagRidgeCV``      ``X, Y, lags, alphas, segments, fit_intercept, scoring, device,
                            dtype``; those of :class:`~neuroalign.encoding.lagged.LagRidgeResult`
======  ==================  ===================================================================

A new solver joins with :func:`register_solver` and is then reached from every estimator of
its family and from every pipeline function that fits through one (``solver=`` among their
options).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from neuroalign._check import check_option
from neuroalign.encoding.banded import banded_ridge_cv
from neuroalign.encoding.lagged import lag_ridge_cv
from neuroalign.encoding.ridge import ridge_cv

FAMILY_NAMES = ("ridge", "banded", "lagged")

SOLVERS: dict[str, Callable[..., Any]] = {
    "ridge_cv": ridge_cv,
    "banded_ridge_cv": banded_ridge_cv,
    "lag_ridge_cv": lag_ridge_cv,
}

#: The family of each solver in :data:`SOLVERS`: which estimator's keywords it takes.
FAMILIES: dict[str, str] = {
    "ridge_cv": "ridge",
    "banded_ridge_cv": "banded",
    "lag_ridge_cv": "lagged",
}


def register_solver(name: str, function: Callable[..., Any], *, family: str) -> Callable[..., Any]:
    """Add a solver to the registry under ``name`` and return it.

    Parameters
    ----------
    name : str
        The name estimators and pipeline functions take as ``solver``; a registered name is
        replaced.
    function : callable
        Takes the keywords of its family's estimator (see the module docstring) plus any
        solver parameters, and returns an object with the attributes of the family's result.
    family : {"ridge", "banded", "lagged"}
        The estimator family whose keywords it takes.

    Returns
    -------
    function : callable
    """
    check_option("family", family, FAMILY_NAMES)
    if not callable(function):
        raise TypeError(f"solver {name!r} must be callable, got {type(function).__name__}.")
    SOLVERS[name] = function
    FAMILIES[name] = family
    return function


def solver_names(family: str) -> list[str]:
    """Return the names of the registered solvers of one family, in registration order."""
    check_option("family", family, FAMILY_NAMES)
    return [name for name, fam in FAMILIES.items() if fam == family]


def call_solver(
    name: str, family: str, solver_params: Mapping[str, Any] | None, **direct: Any
) -> Any:
    """Call the solver ``name`` of ``family`` with the direct keywords and its parameters.

    Parameters
    ----------
    name : str
        A registered solver of ``family``.
    family : {"ridge", "banded", "lagged"}
    solver_params : mapping or None
        Extra keywords of the solver; none may repeat a direct keyword.
    **direct
        The keywords the family's estimator passes.

    Returns
    -------
    result : object
        What the solver returns.

    Raises
    ------
    ValueError
        If ``name`` is not a solver of ``family``, or ``solver_params`` repeats a direct
        keyword.
    """
    check_option("solver", name, solver_names(family))
    params = dict(solver_params or {})
    repeated = sorted(set(params) & set(direct))
    if repeated:
        raise ValueError(
            f"solver_params {repeated} repeat parameters the estimator passes itself; set them "
            "on the estimator (or the function's keywords) instead."
        )
    return SOLVERS[name](**direct, **params)
