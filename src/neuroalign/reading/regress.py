"""Regressions of reading measures on word predictors: signed effects with intervals, and the
log-likelihood each predictor set adds over a baseline.

- **OLS** (`ols_effects`, statsmodels): one coefficient per predictor with its 95% interval,
  raw (measure units per predictor unit) and standardized (SD of measure per SD of predictor;
  the raw values times ``sd(x) / sd(y)``, exact for least squares with an intercept). With
  ``groups`` (texts) the intervals are cluster-robust over texts: words of a text are not
  independent.
- **Delta log-likelihood** (`delta_loglik`): Gaussian log-likelihood of the measure under the
  baseline and under baseline + predictors (a model's surprisal and entropy, or a layer's
  principal components): in sample, with the likelihood-ratio test, and held out (folds of
  whole texts; each fold's Gaussian density with its training residual variance), per word.
- **Mixed models** (`mixed_effects`, statsmodels ``MixedLM``, maximum likelihood): on the
  participant-level measures, by-participant random intercepts, and a by-item (text) variance
  component crossed with them. statsmodels nests variance components inside the grouping
  factor, so crossed effects need one group holding every row and a dense fit, which is fast
  only up to ``crossed_max_rows`` rows; larger tables get by-participant random intercepts
  alone (the word means' OLS, with intervals cluster-robust over texts, covers the by-item
  dependence there). The structure used is returned and recorded.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from neuroalign._check import NeuroalignError

__all__ = [
    "EFFECT_COLUMNS",
    "MixedResult",
    "delta_loglik",
    "gaussian_loglik",
    "mixed_effects",
    "ols_effects",
]

logger = logging.getLogger(__name__)

#: The columns of an effects table, one row per predictor.
EFFECT_COLUMNS = ("beta", "ci_low", "ci_high", "se", "p", "beta_std", "std_low", "std_high")


def _design(X: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(X)), X.to_numpy(float)])


def _check_rows(y: np.ndarray, X: pd.DataFrame) -> None:
    if len(y) != len(X):
        raise NeuroalignError(f"{len(y)} measure values for {len(X)} rows of predictors")
    if len(y) <= X.shape[1] + 1:
        raise NeuroalignError(
            f"{len(y)} words for {X.shape[1]} predictors and an intercept: too few to fit"
        )


def ols_effects(
    y: np.ndarray,
    X: pd.DataFrame,
    *,
    groups: np.ndarray | None = None,
    level: float = 0.95,
) -> tuple[pd.DataFrame, float]:
    """Least-squares coefficient of each predictor, raw and standardized, with intervals.

    Parameters
    ----------
    y : array of shape (n_words,)
        The measure (finite).
    X : DataFrame of shape (n_words, n_predictors)
        The predictors (finite); an intercept is added.
    groups : array of shape (n_words,), optional
        Text of each word: cluster-robust (CR1) intervals over texts; None: classical ones.
    level : float, default=0.95
        Interval coverage.

    Returns
    -------
    effects : DataFrame
        Index: the predictors; columns :data:`EFFECT_COLUMNS`.
    loglik : float
        The fit's Gaussian log-likelihood.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"surprisal": rng.normal(size=400)})
    >>> y = 5 + 2 * X["surprisal"].to_numpy() + rng.normal(size=400)
    >>> effects, _ = ols_effects(y, X)
    >>> bool(effects.loc["surprisal", "ci_low"] < 2 < effects.loc["surprisal", "ci_high"])
    True
    """
    import statsmodels.api as sm

    y = np.asarray(y, float)
    _check_rows(y, X)
    model = sm.OLS(y, _design(X))
    if groups is not None and len(np.unique(groups)) >= 2:
        codes = pd.factorize(np.asarray(groups))[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes})
    else:
        fit = model.fit()
    ci = np.asarray(fit.conf_int(alpha=1 - level))
    scale = X.to_numpy(float).std(0) / (y.std() or 1.0)
    table = pd.DataFrame(
        {
            "beta": fit.params[1:],
            "ci_low": ci[1:, 0],
            "ci_high": ci[1:, 1],
            "se": fit.bse[1:],
            "p": fit.pvalues[1:],
        },
        index=pd.Index(list(X.columns), name="predictor"),
    )
    table["beta_std"] = table["beta"] * scale
    table["std_low"] = table["ci_low"] * scale
    table["std_high"] = table["ci_high"] * scale
    return table[list(EFFECT_COLUMNS)], float(fit.llf)


def gaussian_loglik(resid: np.ndarray, sigma2: float) -> float:
    """Log-likelihood of residuals under N(0, sigma2)."""
    resid = np.asarray(resid, float)
    return float(-0.5 * (len(resid) * np.log(2 * np.pi * sigma2) + (resid**2).sum() / sigma2))


def _lstsq_loglik(y: np.ndarray, B: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(B, y, rcond=None)
    resid = y - B @ coef
    return gaussian_loglik(resid, float((resid**2).mean()))


def delta_loglik(
    y: np.ndarray,
    baseline: pd.DataFrame,
    extra: pd.DataFrame,
    groups: np.ndarray,
    *,
    n_folds: int = 5,
) -> dict[str, float]:
    """Log-likelihood the ``extra`` predictors add over ``baseline``: in sample and held out.

    Parameters
    ----------
    y : array of shape (n_words,)
        The measure.
    baseline, extra : DataFrame of shape (n_words, k)
        Baseline predictors, and the predictors tested on top of them.
    groups : array of shape (n_words,)
        Text of each word; held-out folds hold whole texts (contiguous blocks of texts).
    n_folds : int, default=5
        Folds of the held-out estimate (fewer if there are fewer texts).

    Returns
    -------
    result : dict
        ``loglik_base``, ``loglik_full``, ``delta_loglik`` (in sample, nats), ``lr_p`` (the
        likelihood-ratio test, chi^2 with ``extra.shape[1]`` degrees of freedom),
        ``delta_loglik_heldout`` (held-out nats per word; NaN with fewer than 2 texts) and
        ``n_words``.
    """
    y = np.asarray(y, float)
    _check_rows(y, pd.concat([baseline, extra], axis=1))
    B = _design(baseline)
    F = np.column_stack([B, extra.to_numpy(float)])
    ll_b, ll_f = _lstsq_loglik(y, B), _lstsq_loglik(y, F)
    delta = ll_f - ll_b
    out = {
        "loglik_base": ll_b,
        "loglik_full": ll_f,
        "delta_loglik": delta,
        "lr_p": float(stats.chi2.sf(2 * max(delta, 0.0), extra.shape[1])),
        "delta_loglik_heldout": float("nan"),
        "n_words": float(len(y)),
    }
    codes = pd.factorize(np.asarray(groups))[0]
    n_groups = codes.max() + 1 if len(codes) else 0
    if n_groups >= 2:
        fold_of = (np.arange(n_groups) * min(n_folds, n_groups)) // n_groups
        total = 0.0
        for f in np.unique(fold_of):
            test = fold_of[codes] == f
            per = []
            for D in (B, F):
                coef, *_ = np.linalg.lstsq(D[~test], y[~test], rcond=None)
                sigma2 = float(((y[~test] - D[~test] @ coef) ** 2).mean())
                per.append(gaussian_loglik(y[test] - D[test] @ coef, sigma2))
            total += per[1] - per[0]
        out["delta_loglik_heldout"] = total / len(y)
    return out


@dataclass(frozen=True)
class MixedResult:
    """A mixed model's fixed effects and how it was fitted.

    Attributes
    ----------
    effects : DataFrame
        As :func:`ols_effects` (Wald intervals of the fixed effects).
    loglik : float
        Maximum-likelihood log-likelihood.
    structure : str
        The random effects fitted, in words.
    variances : dict of str to float
        Estimated variance of each random effect and of the residual.
    converged : bool
    """

    effects: pd.DataFrame
    loglik: float
    structure: str
    variances: dict[str, float]
    converged: bool


def mixed_effects(
    y: np.ndarray,
    X: pd.DataFrame,
    participants: np.ndarray,
    items: np.ndarray | None = None,
    *,
    crossed_max_rows: int = 3000,
    level: float = 0.95,
) -> MixedResult:
    """Fixed effects of the predictors with by-participant and by-item random intercepts.

    Parameters
    ----------
    y : array of shape (n_rows,)
        The measure, one value per participant and word.
    X : DataFrame of shape (n_rows, n_predictors)
        The predictors (an intercept is added).
    participants : array of shape (n_rows,)
        Participant of each row (random intercepts).
    items : array of shape (n_rows,), optional
        Item (text) of each row: a variance component (module notes); None: none.
    crossed_max_rows : int, default=3000
        Largest table fitted with the item component crossed with participants.
    level : float, default=0.95
        Interval coverage.

    Returns
    -------
    result : MixedResult
    """
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    y = np.asarray(y, float)
    _check_rows(y, X)
    names = [f"x{i}" for i in range(X.shape[1])]
    data = pd.DataFrame(X.to_numpy(float), columns=names)
    data["y"] = y
    data["participant"] = pd.factorize(np.asarray(participants))[0]
    formula = "y ~ " + " + ".join(names)
    if items is None:
        model = smf.mixedlm(formula, data, groups=data["participant"])
        structure = "by-participant random intercepts"
    else:
        data["item"] = pd.factorize(np.asarray(items))[0]
        if len(data) <= crossed_max_rows:
            model = smf.mixedlm(
                formula,
                data,
                groups=np.zeros(len(data)),
                vc_formula={"participant": "0 + C(participant)", "item": "0 + C(item)"},
            )
            structure = "crossed random intercepts: by participant and by item (text)"
        else:
            model = smf.mixedlm(formula, data, groups=data["participant"])
            structure = (
                "by-participant random intercepts; the by-item (text) component is left out "
                f"above {crossed_max_rows} rows (statsmodels' crossed fit is dense)"
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = model.fit(reml=False)
    converged = bool(getattr(fit, "converged", True))
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            logger.info("MixedLM: %s", w.message)
    ci = np.asarray(fit.conf_int(alpha=1 - level))
    k = len(names) + 1
    scale = X.to_numpy(float).std(0) / (y.std() or 1.0)
    table = pd.DataFrame(
        {
            "beta": np.asarray(fit.fe_params)[1:k],
            "ci_low": ci[1:k, 0],
            "ci_high": ci[1:k, 1],
            "se": np.asarray(fit.bse_fe)[1:k],
            "p": np.asarray(fit.pvalues)[1:k],
        },
        index=pd.Index(list(X.columns), name="predictor"),
    )
    table["beta_std"] = table["beta"] * scale
    table["std_low"] = table["ci_low"] * scale
    table["std_high"] = table["ci_high"] * scale
    variances = {"residual": float(fit.scale)}
    cov_re = np.asarray(fit.cov_re)
    if cov_re.size:
        variances["participant"] = float(cov_re[0, 0])
    vc_names = list(model.exog_vc.names) if getattr(model, "exog_vc", None) is not None else []
    for name, value in zip(vc_names, np.atleast_1d(fit.vcomp), strict=False):
        variances[name] = float(value)
    return MixedResult(table[list(EFFECT_COLUMNS)], float(fit.llf), structure, variances, converged)


def finite_rows(*arrays: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Rows where every array is finite."""
    keep = None
    for a in arrays:
        a = np.asarray(a, float)
        ok = np.isfinite(a.reshape(len(a), -1)).all(1)
        keep = ok if keep is None else keep & ok
    return keep


def spill_columns(columns: Sequence[str], names: Sequence[str]) -> list[str]:
    """The columns that are ``names`` or their spillover copies (``<name>_prev<k>``)."""
    return [c for c in columns if c in names or any(c.startswith(f"{n}_prev") for n in names)]
