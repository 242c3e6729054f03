import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.data.simulate.features import read_feature_table
from neuroalign.data.simulate.story import chapter_words, story_table
from neuroalign.data.stimuli import read_table


def _store(path, rng):
    values = rng.normal(size=(5, 3, 4))
    ds = xr.Dataset(
        {"resid": (("item", "layer", "resid_unit"), values)},
        coords={"text": ("item", ["a", "b", "c", "d", "e"]), "layer": [0, 1, 2]},
        attrs={"complete": "true"},
    )
    ds.to_zarr(path, consolidated=False)
    return values


def test_activation_store_layer_drives_features(tmp_path):
    values = _store(tmp_path / "acts.zarr", np.random.default_rng(0))
    table = read_feature_table(tmp_path / "acts.zarr", variable="resid", layer=1)
    np.testing.assert_array_equal(table.values, values[:, 1, :])
    assert list(table.text) == ["a", "b", "c", "d", "e"]
    last = read_feature_table(tmp_path / "acts.zarr", variable="resid", layer=-1)
    np.testing.assert_array_equal(last.values, values[:, 2, :])
    with pytest.raises(NeuroalignError, match="has layers"):
        read_feature_table(tmp_path / "acts.zarr", variable="resid", layer=7)
    with pytest.raises(NeuroalignError, match=r"no variable 'resdi'.*Did you mean 'resid'"):
        read_feature_table(tmp_path / "acts.zarr", variable="resdi", layer=1)
    with pytest.raises(NeuroalignError, match=r"select a layer|Select one layer"):
        read_feature_table(tmp_path / "acts.zarr")


@pytest.mark.parametrize("flag", [{}, {"complete": "false"}])
def test_an_unfinished_store_is_refused(tmp_path, flag):
    ds = xr.Dataset(
        {"resid": (("item", "layer", "resid_unit"), np.zeros((2, 1, 3)))},
        coords={"text": ("item", ["a", "b"]), "layer": [0]},
        attrs=flag,
    )
    ds.to_zarr(tmp_path / "acts.zarr", consolidated=False)
    with pytest.raises(NeuroalignError, match="incomplete"):
        read_feature_table(tmp_path / "acts.zarr", variable="resid", layer=0)


def test_story_table_lists_every_chapter_word_in_order(tmp_path):
    table = story_table()
    chapters = chapter_words()
    assert len(table) == sum(len(w) for w in chapters.values())
    assert list(table["story"].unique()) == list(chapters)
    first = chapters["lighthouse"]
    assert list(table["text"][: len(first)]) == list(first["word"])
    out = tmp_path / "sim_story.parquet"
    assert main(["simulate", "story", "--output", str(out)]) == 0
    df, attrs = read_table(out)
    assert len(df) == len(table) and (df["stimset"] == "sim_story").all()
    assert attrs["reader"] == "simulate story"
