"""Where a brain encoding model fails: per-word errors, ranked, contrasted across word categories.

Pure functions over held-out predictions and observations with dims ``(word, sensor, window)``
(any encoding that predicts each word's response in time windows after its onset gives them):

- `word_errors`: each word's squared prediction error, averaged over sensors and the language
  windows, each sensor-window scaled by the observed variance across words (so 1 is the error
  of predicting the mean).
- `category_tests`: for each word category, the mean error of its words minus that of the
  other words, with a permutation test across words (category labels shuffled over words),
  Benjamini-Hochberg q-values over the categories and bootstrap intervals.
- `extreme_shares`: each category's share of the highest- and lowest-error words.
- `compare_models`: paired per-word error differences between two encodings of the same
  words (base vs fine-tuned model), per window and per category, with sign-flip tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from neuroalign._check import NeuroalignError, check_option, check_range
from neuroalign.encoding.stats import bh_qvalues

__all__ = [
    "category_tests",
    "compare_models",
    "extreme_shares",
    "window_mask",
    "window_r",
    "word_errors",
]

ALTERNATIVES = ("greater", "less", "two-sided")


def _check_pair(prediction: xr.DataArray, observed: xr.DataArray) -> None:
    for name, da in (("prediction", prediction), ("observed", observed)):
        missing = {"word", "sensor"} - set(da.dims)
        if missing:
            raise NeuroalignError(
                f"{name} needs dims word and sensor (and optionally window); it has "
                f"{', '.join(map(str, da.dims))}."
            )
    if prediction.shape != observed.shape or prediction.dims != observed.dims:
        raise NeuroalignError(
            f"prediction {dict(prediction.sizes)} and observed {dict(observed.sizes)} differ in "
            "shape; give the held-out prediction of each observed value."
        )


def window_mask(windows: xr.DataArray | np.ndarray, start: float, stop: float) -> np.ndarray:
    """Which windows lie inside ``[start, stop]`` (s after onset), by their centres.

    Parameters
    ----------
    windows : array of shape (n_windows,)
        Window centres (s), e.g. the ``window`` coordinate.
    start, stop : float
        The language interval (s).
    """
    centres = np.asarray(windows, float)
    return (centres >= start) & (centres <= stop)


def word_errors(
    prediction: xr.DataArray,
    observed: xr.DataArray,
    *,
    interval: tuple[float, float] | None = None,
) -> xr.DataArray:
    """Each word's normalized squared prediction error.

    Parameters
    ----------
    prediction, observed : DataArray with dims (word, sensor[, window])
        Held-out predictions and the observed responses. A ``window`` coordinate gives each
        window's centre (s after onset).
    interval : (float, float), optional
        Average over the windows whose centres lie in this interval only (the language
        windows); default all windows.

    Returns
    -------
    errors : DataArray of shape (n_words,)
        ``mean over sensors and windows of (prediction - observed)^2 / var_words(observed)``;
        1 is the error of predicting each sensor-window's mean, 0 a perfect prediction. The
        word coordinates of ``observed`` are kept.

    Raises
    ------
    NeuroalignError
        If the arrays differ in shape, lack dims, or no window lies in ``interval``.
    """
    _check_pair(prediction, observed)
    if interval is not None and "window" in observed.dims:
        keep = window_mask(observed["window"], *interval)
        if not keep.any():
            raise NeuroalignError(
                f"no window centre lies in the interval {interval} s; windows are at "
                f"{np.round(np.asarray(observed['window'], float), 3).tolist()} s."
            )
        prediction, observed = prediction.isel(window=keep), observed.isel(window=keep)
    var = observed.var("word")
    var = var.where(var > 0)
    scaled = (prediction - observed) ** 2 / var
    dims = [d for d in scaled.dims if d != "word"]
    out = scaled.mean(dims, skipna=True)
    out.name = "error"
    out.attrs["description"] = (
        "squared held-out prediction error of each word, per sensor-window scaled by the "
        "observed variance across words, averaged over sensors and windows"
    )
    return out


def window_r(prediction: xr.DataArray, observed: xr.DataArray, words=None) -> xr.DataArray:
    """Pearson r across words of prediction and observation, per sensor (and window).

    Parameters
    ----------
    prediction, observed : DataArray with dims (word, sensor[, window])
    words : array of bool of shape (n_words,), optional
        Score only these words (e.g. one category's).

    Returns
    -------
    r : DataArray with the dims of the input but ``word``
    """
    _check_pair(prediction, observed)
    if words is not None:
        prediction = prediction.isel(word=np.asarray(words, bool))
        observed = observed.isel(word=np.asarray(words, bool))
    p = prediction - prediction.mean("word")
    o = observed - observed.mean("word")
    den = np.sqrt((p**2).sum("word") * (o**2).sum("word"))
    r = (p * o).sum("word") / den.where(den > 0)
    r.name = "r"
    return r


def _p_value(observed: float, null: np.ndarray, alternative: str) -> float:
    null = np.asarray(null, float)
    if alternative == "greater":
        hits = np.sum(null >= observed)
    elif alternative == "less":
        hits = np.sum(null <= observed)
    else:
        hits = np.sum(np.abs(null) >= abs(observed))
    return float((1 + hits) / (1 + null.size))


def category_tests(
    errors: xr.DataArray | np.ndarray,
    masks: Mapping[str, np.ndarray],
    *,
    n_perm: int = 1000,
    n_boot: int = 1000,
    alternative: str = "greater",
    ci: float = 0.95,
    min_words: int = 5,
    rng: np.random.Generator,
) -> xr.Dataset:
    """Does each category's words have larger errors than the other words?

    Parameters
    ----------
    errors : array of shape (n_words,)
        Per-word errors (`word_errors`), or any per-word score (a language model's loss).
    masks : dict of str to array of bool of shape (n_words,)
        Category name -> which words belong to it (`neuroalign.data.lexicons.category_masks`).
    n_perm : int, default=1000
        Permutations of the category labels across words (the same permutations for every
        category).
    n_boot : int, default=1000
        Bootstrap resamples of the words, within the category and outside it, for the interval.
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``greater``: the category's words are predicted worse than the others.
    ci : float, default=0.95
        Coverage of the percentile bootstrap interval of the difference.
    min_words : int, default=5
        Categories with fewer words (or fewer other words) are not tested (NaN).
    rng : numpy.random.Generator

    Returns
    -------
    tests : Dataset with dim ``category``
        ``n_words``, ``mean_in``, ``mean_out``, ``difference`` (in - out), ``ci_low``,
        ``ci_high``, ``p`` (permutation, ``(1 + hits) / (1 + n_perm)``), ``q`` (BH over the
        tested categories), ``rank`` (1: largest difference), ``significant`` (``q < 0.05``).
    """
    check_option("alternative", alternative, ALTERNATIVES)
    check_range("n_perm", n_perm, 1, None)
    check_range("ci", ci, 0.0, 1.0)
    e = np.asarray(errors, float)
    names = list(masks)
    n = e.size
    perms = np.stack([rng.permutation(n) for _ in range(n_perm)])
    stats = {k: np.full(len(names), np.nan) for k in ("mean_in", "mean_out", "difference")}
    stats.update({k: np.full(len(names), np.nan) for k in ("ci_low", "ci_high", "p")})
    counts = np.zeros(len(names), int)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    for i, name in enumerate(names):
        m = np.asarray(masks[name], bool)
        if m.shape != e.shape:
            raise NeuroalignError(
                f"category {name!r} marks {m.size} words; the errors have {e.size}."
            )
        counts[i] = int(m.sum())
        if counts[i] < min_words or n - counts[i] < min_words:
            continue
        inside, outside = e[m], e[~m]
        diff = inside.mean() - outside.mean()
        shuffled = m[perms]  # (n_perm, n_words): the labels moved across words
        k = counts[i]
        null = (shuffled * e).sum(1) / k - (~shuffled * e).sum(1) / (n - k)
        boot = rng.choice(inside, (n_boot, inside.size)).mean(1) - rng.choice(
            outside, (n_boot, outside.size)
        ).mean(1)
        stats["mean_in"][i], stats["mean_out"][i] = inside.mean(), outside.mean()
        stats["difference"][i] = diff
        stats["ci_low"][i], stats["ci_high"][i] = np.quantile(boot, [lo_q, hi_q])
        stats["p"][i] = _p_value(diff, null, alternative)
    q = bh_qvalues(stats["p"])
    order = np.argsort(-np.nan_to_num(stats["difference"], nan=-np.inf), kind="stable")
    rank = np.empty(len(names), int)
    rank[order] = np.arange(1, len(names) + 1)
    ds = xr.Dataset(
        {
            "n_words": ("category", counts),
            **{k: ("category", v) for k, v in stats.items()},
            "q": ("category", q),
            "rank": ("category", rank),
            "significant": ("category", np.nan_to_num(q, nan=1.0) < 0.05),
        },
        coords={"category": names},
    )
    ds.attrs.update(
        alternative=alternative, n_perm=int(n_perm), n_boot=int(n_boot), ci=float(ci),
        null="category labels permuted across words (the same permutations for every category)",
    )  # fmt: skip
    return ds


def extreme_shares(
    errors: xr.DataArray | np.ndarray, masks: Mapping[str, np.ndarray], fraction: float = 0.1
) -> xr.Dataset:
    """Each category's share of the highest- and of the lowest-error words.

    Parameters
    ----------
    errors : array of shape (n_words,)
    masks : dict of str to array of bool of shape (n_words,)
    fraction : float, default=0.1
        The size of each end, as a fraction of the words.

    Returns
    -------
    shares : Dataset with dim ``category``
        ``top`` and ``bottom`` (fractions of those words in the category) and ``overall``.
    """
    check_range("fraction", fraction, 0.0, 0.5)
    e = np.asarray(errors, float)
    k = max(1, round(fraction * e.size))
    order = np.argsort(-e, kind="stable")
    top, bottom = order[:k], order[-k:]
    names = list(masks)
    m = np.stack([np.asarray(masks[c], bool) for c in names])
    return xr.Dataset(
        {
            "top": ("category", m[:, top].mean(1)),
            "bottom": ("category", m[:, bottom].mean(1)),
            "overall": ("category", m.mean(1)),
        },
        coords={"category": names},
        attrs={"fraction": float(fraction), "n_end": int(k)},
    )


def _sign_flip_p(d: np.ndarray, flips: np.ndarray, alternative: str) -> float:
    null = (flips[:, : d.size] * d).mean(1)
    return _p_value(float(d.mean()), null, alternative)


def compare_models(
    base: xr.DataArray,
    other: xr.DataArray,
    observed: xr.DataArray,
    masks: Mapping[str, np.ndarray],
    *,
    n_perm: int = 1000,
    alternative: str = "greater",
    rng: np.random.Generator,
    labels: Sequence[str] = ("base", "other"),
) -> xr.Dataset:
    """Does one encoding predict the same words better than another, per window and category?

    The statistic is the mean over words of the paired improvement
    ``err_base(word) - err_other(word)`` (normalized squared errors, as in `word_errors`, per
    window); its null flips the sign of each word's improvement (the same flips for every
    window and category).

    Parameters
    ----------
    base, other : DataArray with dims (word, sensor, window)
        Held-out predictions of the two encodings (same words, sensors and windows).
    observed : DataArray with dims (word, sensor, window)
    masks : dict of str to array of bool of shape (n_words,)
    n_perm : int, default=1000
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``greater``: ``other`` predicts better than ``base``.
    rng : numpy.random.Generator
    labels : (str, str)
        Names of the two encodings, stored in the attributes.

    Returns
    -------
    comparison : Dataset
        ``r_base``, ``r_other`` (window): encoding r across words, averaged over sensors;
        ``improvement``, ``p``, ``q`` (window): mean error improvement per window, its
        sign-flip p and BH q over windows; ``category_improvement``, ``category_p``,
        ``category_q`` (category): the same over all windows for each category's words;
        ``category_r_base``, ``category_r_other`` (category, window).
    """
    check_option("alternative", alternative, ALTERNATIVES)
    _check_pair(base, observed)
    _check_pair(other, observed)
    if "window" not in observed.dims:
        raise NeuroalignError("compare_models needs a window dim (one window is fine).")
    var = observed.var("word")
    var = var.where(var > 0)
    err_b = ((base - observed) ** 2 / var).mean("sensor", skipna=True)  # (word, window)
    err_o = ((other - observed) ** 2 / var).mean("sensor", skipna=True)
    gain = (err_b - err_o).transpose("word", "window").values
    n_words = gain.shape[0]
    flips = rng.choice([-1.0, 1.0], size=(n_perm, n_words))
    p_win = np.array([_sign_flip_p(gain[:, j], flips, alternative) for j in range(gain.shape[1])])
    names = list(masks)
    cat_gain = np.full(len(names), np.nan)
    cat_p = np.full(len(names), np.nan)
    cat_r = np.full((2, len(names), observed.sizes["window"]), np.nan)
    overall = gain.mean(1)
    for i, name in enumerate(names):
        m = np.asarray(masks[name], bool)
        if m.sum() < 3:
            continue
        cat_gain[i] = overall[m].mean()
        cat_p[i] = _sign_flip_p(overall[m], flips, alternative)
        cat_r[0, i] = window_r(base, observed, m).mean("sensor").values
        cat_r[1, i] = window_r(other, observed, m).mean("sensor").values
    ds = xr.Dataset(
        {
            "r_base": ("window", window_r(base, observed).mean("sensor").values),
            "r_other": ("window", window_r(other, observed).mean("sensor").values),
            "improvement": ("window", gain.mean(0)),
            "p": ("window", p_win),
            "q": ("window", bh_qvalues(p_win)),
            "category_improvement": ("category", cat_gain),
            "category_p": ("category", cat_p),
            "category_q": ("category", bh_qvalues(cat_p)),
            "category_r_base": (("category", "window"), cat_r[0]),
            "category_r_other": (("category", "window"), cat_r[1]),
        },
        coords={"window": observed["window"].values, "category": names},
    )
    ds.attrs.update(
        base=labels[0], other=labels[1], alternative=alternative, n_perm=int(n_perm),
        null="sign of each word's error improvement flipped (paired across words)",
    )  # fmt: skip
    return ds
