"""The engine's face: estimators over the solver registry, one docstring table, one alpha grid.

Every pipeline function fits through an estimator, and every estimator through the registry:
a solver registered under a new name is reached, with its parameters, from each of them.
"""

import inspect
import re

import numpy as np
import pytest

from neuroalign.encoding import (
    _docs,
    banded,
    ceilings,
    estimators,
    evaluate,
    gain_sweep,
    lagged,
    pipeline,
    ridge,
    solvers,
    stats,
)
from neuroalign.encoding.cv import block_folds, group_folds
from neuroalign.encoding.estimators import BandedRidgeCV, LagRidgeCV, RidgeCV
from neuroalign.localize import alignment
from neuroalign.settings import alpha_grid

ALPHAS = np.logspace(-1, 3, 5)


@pytest.fixture
def spy_solvers(monkeypatch):
    """Register one spying solver per family (removed again after the test).

    Each takes a parameter ``tag`` that no built-in solver knows, records it and every keyword
    it was called with, and fits with the family's built-in solver.
    """
    calls = {"ridge": [], "banded": [], "lagged": []}
    builtin = {
        "ridge": ridge.ridge_cv,
        "banded": banded.banded_ridge_cv,
        "lagged": lagged.lag_ridge_cv,
    }
    monkeypatch.setattr(solvers, "SOLVERS", dict(solvers.SOLVERS))
    monkeypatch.setattr(solvers, "FAMILIES", dict(solvers.FAMILIES))

    def make(family):
        def solve(*, tag, **kwargs):
            calls[family].append({"tag": tag, **kwargs})
            return builtin[family](**kwargs)

        return solve

    for family in calls:
        solvers.register_solver(f"spy_{family}", make(family), family=family)
    return calls


def _data(n=120, p=6, t=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, t)) + rng.standard_normal((n, t))
    return X, Y


# --- the registry and solver parameters -------------------------------------------------


def test_each_estimator_reaches_a_registered_solver_with_its_params(spy_solvers):
    X, Y = _data()
    for cls, family, kwargs in [
        (RidgeCV, "ridge", {}),
        (BandedRidgeCV, "banded", {"groups": [0, 0, 0, 1, 1, 1], "n_iter": 3}),
        (LagRidgeCV, "lagged", {"tmin": 0, "tmax": 2}),
    ]:
        mine = cls(alphas=ALPHAS, solver=f"spy_{family}", solver_params={"tag": family}, **kwargs)
        ref = cls(alphas=ALPHAS, **kwargs)
        np.testing.assert_array_equal(mine.fit(X, Y).coef_, ref.fit(X, Y).coef_)
        assert [c["tag"] for c in spy_solvers[family]] == [family]
        np.testing.assert_array_equal(spy_solvers[family][0]["alphas"], ALPHAS)


def test_solver_params_reach_the_builtin_solver(monkeypatch):
    seen = []
    real = ridge.ridge_cv

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setitem(solvers.SOLVERS, "ridge_cv", spy)
    X, Y = _data()
    params = {"max_widen": 0, "decomp_dtype": "float32", "tf32_scoring": True}
    RidgeCV(alphas=ALPHAS, solver_params=params).fit(X, Y)
    assert {k: seen[-1][k] for k in params} == params
    RidgeCV(alphas=ALPHAS).fit(X, Y)
    assert not set(params) & set(seen[-1])  # nothing but what was asked for


def test_unknown_solver_wrong_family_and_repeated_params_are_refused():
    X, Y = _data()
    with pytest.raises(ValueError, match="nope"):
        RidgeCV(alphas=ALPHAS, solver="nope").fit(X, Y)
    with pytest.raises(ValueError, match="lag_ridge_cv"):
        RidgeCV(alphas=ALPHAS, solver="lag_ridge_cv").fit(X, Y)
    with pytest.raises(ValueError, match="scoring"):
        RidgeCV(alphas=ALPHAS, solver_params={"scoring": "r"}).fit(X, Y)
    with pytest.raises(ValueError, match="family"):
        solvers.register_solver("x", ridge.ridge_cv, family="nope")


def test_every_builtin_solver_is_registered_in_its_family():
    assert solvers.solver_names("ridge")[0] == "ridge_cv"
    assert solvers.solver_names("banded")[0] == "banded_ridge_cv"
    assert solvers.solver_names("lagged")[0] == "lag_ridge_cv"
    assert RidgeCV().solver == "ridge_cv" and BandedRidgeCV().solver == "banded_ridge_cv"
    assert LagRidgeCV().solver == "lag_ridge_cv"


# --- the pipeline functions route through the estimators ---------------------------------


def test_layer_sweep_fits_through_the_estimator_and_its_solver(spy_solvers):
    X, Y = _data(n=160, t=4)
    train, test = np.arange(120), np.arange(120, 160)
    designs = {0: (X[train], X[test]), 1: (X[train, :3], X[test, :3])}
    folds = block_folds(120, 4)
    repeats = np.stack([Y[test], Y[test] + 0.1])
    common = {"alphas": ALPHAS, "n_perm": 5, "min_shift": 2}
    mine = pipeline.layer_sweep(
        designs, Y[train], folds, repeats, solver="spy_ridge", solver_params={"tag": 1}, **common
    )
    ref = pipeline.layer_sweep(designs, Y[train], folds, repeats, **common)
    assert [c["tag"] for c in spy_solvers["ridge"]] == [1, 1]  # one fit per layer
    assert [c["X"].shape[1] for c in spy_solvers["ridge"]] == [6, 3]
    np.testing.assert_array_equal(mine.r_by_layer, ref.r_by_layer)
    np.testing.assert_array_equal(mine.result.coef, ref.result.coef)
    # a keyword that is no estimator parameter is a solver parameter
    pipeline.layer_sweep(designs, Y[train], folds, repeats, solver="spy_ridge", tag=2, **common)
    assert [c["tag"] for c in spy_solvers["ridge"][2:]] == [2, 2]


def test_lag_fit_and_test_fits_through_the_estimator_and_its_solver(spy_solvers):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((600, 2))
    Y = np.roll(X[:, :1], 2, axis=0) + 0.5 * rng.standard_normal((600, 3))
    segments = np.repeat(np.arange(4), 150)
    args = (X, Y, np.arange(0, 5), ALPHAS, segments, [3])
    mine = pipeline.lag_fit_and_test(
        *args, rng=np.random.default_rng(0), n_perm=5, solver="spy_lagged", tag="meg"
    )
    ref = pipeline.lag_fit_and_test(*args, rng=np.random.default_rng(0), n_perm=5)
    assert [c["tag"] for c in spy_solvers["lagged"]] == ["meg"]
    assert set(np.unique(spy_solvers["lagged"][0]["segments"])) == {0, 1, 2}  # training only
    np.testing.assert_array_equal(mine.r, ref.r)


def test_gain_sweeps_fit_through_the_estimator_and_its_solver(spy_solvers):
    rng = np.random.default_rng(4)
    n = 90
    base = rng.standard_normal((n, 1))
    designs = {"a": rng.standard_normal((n, 4)), "b": rng.standard_normal((n, 3))}
    Y = base + designs["a"][:, :1] + rng.standard_normal((n, 2))
    folds = block_folds(n, 3)
    common = {"alphas": ALPHAS, "n_perm": 2, "inner_folds": 3}
    mine = gain_sweep.gain_sweep(designs, Y, base, folds, solver="spy_ridge", tag="g", **common)
    ref = gain_sweep.gain_sweep(designs, Y, base, folds, **common)
    tags = [c["tag"] for c in spy_solvers["ridge"]]
    assert tags and set(tags) == {"g"}
    np.testing.assert_array_equal(mine.r2_gain, ref.r2_gain)
    groups = np.repeat(np.arange(15), 6)
    grouped = {"alphas": ALPHAS, "n_perm": 2, "inner_folds": 3, "n_folds": 3}
    before = len(spy_solvers["ridge"])
    mine = gain_sweep.grouped_gain_sweep(
        designs, Y, base, groups, solver="spy_ridge", solver_params={"tag": "gg"}, **grouped
    )
    ref = gain_sweep.grouped_gain_sweep(designs, Y, base, groups, **grouped)
    assert {c["tag"] for c in spy_solvers["ridge"][before:]} == {"gg"}
    np.testing.assert_array_equal(mine.r2_gain, ref.r2_gain)


def test_the_alignment_fits_through_the_estimator_and_its_solver(spy_solvers):
    X, Y = _data(n=60)
    groups = np.repeat(np.arange(12), 5)
    mine = alignment.ridge_pearson(X, Y, n_splits=3, groups=groups, solver="spy_ridge", tag="a")
    ref = alignment.ridge_pearson(X, Y, n_splits=3, groups=groups)
    assert [c["tag"] for c in spy_solvers["ridge"]] == ["a"] * 3  # one fit per outer fold
    assert len(group_folds(groups, n_folds=3)) == 3
    np.testing.assert_array_equal(mine, ref)
    np.testing.assert_array_equal(spy_solvers["ridge"][0]["alphas"], alpha_grid())


def test_a_solver_param_given_twice_is_refused():
    X, Y = _data()
    with pytest.raises(ValueError, match="tf32_scoring"):
        evaluate.cross_val_predict(
            X, Y, ALPHAS, block_folds(120, 3), tf32_scoring=True,
            solver_params={"tf32_scoring": False},
        )  # fmt: skip


# --- one default alpha grid -------------------------------------------------------------


def test_estimators_and_alignment_default_to_the_one_alpha_grid(spy_solvers):
    X, Y = _data()
    for cls, family, kwargs in [
        (RidgeCV, "ridge", {}),
        (BandedRidgeCV, "banded", {"groups": [0, 0, 0, 1, 1, 1], "n_iter": 2}),
        (LagRidgeCV, "lagged", {"tmin": 0, "tmax": 1}),
    ]:
        assert cls().alphas is None
        cls(solver=f"spy_{family}", solver_params={"tag": 0}, **kwargs).fit(X, Y)
        np.testing.assert_array_equal(spy_solvers[family][-1]["alphas"], alpha_grid())
        grid = {"start": -1, "stop": 1, "num": 3}
        cls(alphas=grid, solver=f"spy_{family}", solver_params={"tag": 0}, **kwargs).fit(X, Y)
        np.testing.assert_array_equal(spy_solvers[family][-1]["alphas"], [0.1, 1.0, 10.0])
    for function in (alignment.ridge_pearson, alignment.compare_alignment):
        assert inspect.signature(function).parameters["alphas"].default is None
    assert not hasattr(alignment, "DEFAULT_ALPHAS") and not hasattr(estimators, "DEFAULT_ALPHAS")


# --- one docstring table ----------------------------------------------------------------

PUBLIC = [
    RidgeCV,
    RidgeCV.fit,
    RidgeCV.predict,
    BandedRidgeCV,
    BandedRidgeCV.fit,
    BandedRidgeCV.score_split,
    LagRidgeCV,
    LagRidgeCV.fit,
    LagRidgeCV.predict,
    ridge.ridge_cv,
    banded.banded_ridge_cv,
    lagged.lag_ridge_cv,
    pipeline.fit_and_test,
    pipeline.lag_fit_and_test,
    pipeline.layer_sweep,
    evaluate.cross_val_predict,
    evaluate.cross_val_predict_over_baseline,
    evaluate.baseline_gain,
    gain_sweep.gain_sweep,
    gain_sweep.grouped_gain_sweep,
    stats.circular_shift_null,
    stats.block_permutation_null,
]


def _documented(doc: str) -> set[str]:
    """Names in the numpydoc Parameters section of ``doc`` (``a, b : ...`` gives both)."""
    doc = inspect.cleandoc(doc)
    section = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    assert section, "no Parameters section"
    names = set()
    for line in section.group(1).splitlines():
        if line and not line[0].isspace():
            names |= {n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")}
    return names


def _signature(obj) -> inspect.Signature:
    return inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__qualname__)
def test_shared_table_fills_every_docstring_and_documents_every_parameter(obj):
    doc = obj.__doc__
    assert not re.search(r"^\s*\{\w+\}\s*$", doc, re.M), "an unfilled {key} line"
    params = [p for p in _signature(obj).parameters if p != "self"]
    assert set(params) <= _documented(doc)


def test_the_table_is_used_and_its_text_written_once():
    sources = {
        m.__name__: inspect.getsource(m)
        for m in (estimators, ridge, banded, lagged, pipeline, evaluate, gain_sweep, stats)
    }
    sources[alignment.__name__] = inspect.getsource(alignment)
    sources[ceilings.__name__] = inspect.getsource(ceilings)
    used = set()
    for source in sources.values():
        used |= set(re.findall(r"^\s*\{(\w+)\}\s*$", source, re.M))
    assert used <= set(_docs.PARAMS)
    for key in ("alphas_grid", "cv", "device", "dtype", "fit_intercept", "solver", "solver_params"):
        assert key in used
        # the description (its second line) is written only in the table
        body = _docs.PARAMS[key].splitlines()[1].strip()
        for name, source in sources.items():
            assert body not in source, f"{name} repeats the text of {key!r}"
    # every public function or estimator with a device gets the table's entry, word for word
    with_device = [o for o in PUBLIC if "device" in _signature(o).parameters]
    assert len(with_device) == 8
    for obj in with_device:
        assert _docs.PARAMS["device"] in inspect.cleandoc(obj.__doc__), obj.__qualname__


def test_fill_doc_names_a_missing_entry():
    def f():
        """Do.

        Parameters
        ----------
        {no_such_entry}
        """

    with pytest.raises(KeyError, match="no_such_entry"):
        _docs.fill_doc(f)


# --- one device rule ----------------------------------------------------------------------


def test_the_engine_places_by_the_one_device_rule(monkeypatch):
    import torch

    from neuroalign._check import NeuroalignError
    from neuroalign.encoding.backend import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == resolve_device("auto") == torch.device("cpu")
    with pytest.raises(NeuroalignError, match="none is visible"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda:0")
    assert resolve_device("cuda:1") == resolve_device(torch.device("cuda", 1))
    with pytest.raises(NeuroalignError, match="not visible"):
        resolve_device("cuda:2")
    with pytest.raises(NeuroalignError, match="not a device"):
        resolve_device("gpu")
