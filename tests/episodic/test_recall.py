import numpy as np
import pandas as pd
import pytest

from neuroalign.episodic.recall import group_curve, recall_curves

DATASETS = ["peers_notask", "Morton2013"]


def _table(study, recalls):
    rows = []
    for lst, (items, recalled) in enumerate(zip(study, recalls, strict=True), start=1):
        rows += [(1, lst, i, "study", it) for i, it in enumerate(items, start=1)]
        rows += [(1, lst, i, "recall", it) for i, it in enumerate(recalled, start=1)]
    return pd.DataFrame(rows, columns=["subject", "list", "position", "trial_type", "item"])


def test_counts_skip_repeats_and_intrusions():
    # positions: recall 4, 2, X (intrusion), 3, 2 (repeat), 1
    data = _table([["a", "b", "c", "d"]], [["d", "b", "x", "c", "b", "a"]])
    curves = recall_curves(data)
    actual = curves.crp_actual.sel(subject=1).to_series()
    possible = curves.crp_possible.sel(subject=1).to_series()
    # only 4 -> 2 counts: 2 -> x, x -> 3, 3 -> 2 (repeat) and 2 -> 1 (from a repeat) are skipped
    assert actual[-2] == 1 and actual.sum() == 1
    assert possible[[-3, -2, -1]].tolist() == [1, 1, 1]
    assert np.isnan(curves.crp.sel(subject=1, lag=0))
    np.testing.assert_allclose(curves.spc.sel(subject=1), [1, 1, 1, 1])
    np.testing.assert_allclose(curves.pfr.sel(subject=1), [0, 0, 0, 1])


def test_temporal_factor_of_forward_recall_is_one():
    data = _table([list("abcdef")], [list("abcdef")])
    curves = recall_curves(data)
    assert float(curves.temporal_factor.sel(subject=1)) == pytest.approx(1)
    mean, _sem = group_curve(curves.crp)
    assert float(mean.sel(lag=1)) == 1


@pytest.mark.parametrize("name", DATASETS)
def test_lag_crp_equals_psifr(shared_data, name):
    fr = pytest.importorskip("psifr.fr", reason="psifr (GPL test oracle) is not installed")
    from neuroalign.data.readers.free_recall import read_free_recall

    path = shared_data / "free_recall" / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in the data mirror")
    curves = recall_curves(read_free_recall(path))
    ref = fr.lag_crp(fr.merge_free_recall(pd.read_csv(path))).set_index(["subject", "lag"])
    ours = pd.DataFrame(
        {
            "prob": curves.crp.to_series(),
            "actual": curves.crp_actual.to_series(),
            "possible": curves.crp_possible.to_series(),
        }
    )
    ours.index = ours.index.set_levels(ours.index.levels[1].astype(float), level=1)
    joined = ref.join(ours.add_suffix("_ours"), how="outer")
    assert len(joined) == len(ref)
    np.testing.assert_array_equal(joined["actual"], joined["actual_ours"])
    np.testing.assert_array_equal(joined["possible"], joined["possible_ours"])
    np.testing.assert_allclose(joined["prob"], joined["prob_ours"], equal_nan=True)
    spc = fr.spc(fr.merge_free_recall(pd.read_csv(path)))
    np.testing.assert_allclose(spc["recall"].to_numpy(), curves.spc.values.ravel())


def test_first_recall_is_the_first_valid_recall_as_in_psifr():
    fr = pytest.importorskip("psifr.fr", reason="psifr (GPL test oracle) is not installed")
    # list 1 opens with an intrusion, list 2 has no valid recall, list 3 opens with item 3
    study = [list("abcd"), list("efgh"), list("ijkl")]
    data = _table(study, [list("xbd"), list("zz"), list("kl")])
    ours = recall_curves(data).pfr.sel(subject=1).to_numpy()
    ref = fr.pnr(fr.merge_free_recall(data)).query("output == 1")["prob"].to_numpy()
    np.testing.assert_allclose(ours, ref)
    np.testing.assert_allclose(ours, [0, 0.5, 0.5, 0])


@pytest.mark.parametrize("name", DATASETS)
def test_first_recall_equals_psifr(shared_data, name):
    fr = pytest.importorskip("psifr.fr", reason="psifr (GPL test oracle) is not installed")
    from neuroalign.data.readers.free_recall import read_free_recall

    path = shared_data / "free_recall" / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in the data mirror")
    curves = recall_curves(read_free_recall(path))
    ref = fr.pnr(fr.merge_free_recall(pd.read_csv(path))).query("output == 1")
    np.testing.assert_allclose(curves.pfr.values.ravel(), ref["prob"].to_numpy(), equal_nan=True)
