import hashlib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate.features import (
    bigram_surprisal,
    frequency_proxy,
    hashed_embedding,
    lookup,
    read_feature_table,
    reduce_dim,
    story_features,
)
from neuroalign.data.simulate.story import chapter_words


def test_hashed_embedding_is_a_function_of_the_word_only():
    emb = hashed_embedding(["light", "sea", "light"], 8)
    assert emb.shape == (3, 8)
    assert np.array_equal(emb[0], emb[2])
    assert not np.allclose(emb[0], emb[1])
    seed = int.from_bytes(hashlib.sha256(b"light").digest()[:8], "little")
    assert np.array_equal(emb[0], np.random.default_rng(seed).standard_normal(8))


def test_frequency_proxy_is_higher_for_rare_words():
    corpus = ["the"] * 10 + ["lens"]
    freq = frequency_proxy(["the", "lens", "unseen"], corpus)
    assert freq[0] < freq[1] < freq[2]


def test_bigram_surprisal_is_low_for_predictable_continuations():
    seqs = [["the", "old", "lamp"] * 20 + ["old", "rope"]]
    s = bigram_surprisal(seqs)[0]
    assert s.shape == (62,)
    assert s[2] < s[-1]  # "lamp" after "old" is usual; "rope" is not


def test_story_features_columns_and_determinism():
    words = chapter_words()
    feats = story_features(words, dim=4)
    first = feats["lighthouse"]
    assert list(first.columns) == [
        "emb_00",
        "emb_01",
        "emb_02",
        "emb_03",
        "length",
        "frequency",
        "surprisal",
    ]
    assert len(first) == len(words["lighthouse"])
    assert first["length"].iloc[0] == len(words["lighthouse"]["text"].iloc[0])
    assert story_features(words, dim=4)["lighthouse"].equals(first)


def _corpus():
    words = chapter_words()
    return np.concatenate([w["text"].to_numpy() for w in words.values()])


def test_csv_table_matched_in_order_and_surprisal_taken(tmp_path):
    texts = _corpus()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((len(texts), 3)), columns=["u0", "u1", "u2"])
    frame.insert(0, "text", texts)
    frame["onset"] = np.arange(len(texts))  # not a feature
    frame["surprisal"] = np.arange(len(texts), dtype=float)
    frame.to_csv(tmp_path / "f.csv", index=False)
    table = read_feature_table(tmp_path / "f.csv")
    assert table.values.shape == (len(texts), 3)
    values, surprisal = lookup(table, texts)
    assert np.array_equal(values, frame[["u0", "u1", "u2"]].to_numpy())
    assert np.array_equal(surprisal, frame["surprisal"].to_numpy())
    feats = story_features(chapter_words(), dim=2, table=table)
    n_first = len(feats["lighthouse"])
    assert np.array_equal(
        feats["orchard"]["surprisal"], np.arange(n_first, n_first + len(feats["orchard"]))
    )
    assert [c for c in feats["lighthouse"].columns if c.startswith("emb")] == ["emb_00", "emb_01"]


def test_table_by_word_type_averages_rows_and_reports_missing(tmp_path):
    frame = pd.DataFrame({"text": ["Sea,", "sea", "lamp"], "a": [1.0, 3.0, 5.0]})
    frame.to_parquet(tmp_path / "f.parquet")
    table = read_feature_table(tmp_path / "f.parquet")
    values, surprisal = lookup(table, ["lamp", "sea", "sea"])
    assert values[:, 0].tolist() == [5.0, 2.0, 2.0]
    assert surprisal is None
    with pytest.raises(NeuroalignError, match="1 story words have no row"):
        lookup(table, ["sea", "storm"])


def test_netcdf_table_needs_item_unit_and_text(tmp_path):
    da = xr.DataArray(
        np.ones((3, 2)), dims=("item", "unit"), coords={"text": ("item", ["a", "b", "c"])}
    )
    da.to_dataset(name="activations").to_netcdf(tmp_path / "ok.nc", engine="h5netcdf")
    table = read_feature_table(tmp_path / "ok.nc")
    assert table.values.shape == (3, 2) and table.text.tolist() == ["a", "b", "c"]
    layered = da.expand_dims(layer=2).to_dataset(name="activations")
    layered.to_netcdf(tmp_path / "layers.nc", engine="h5netcdf")
    with pytest.raises(NeuroalignError, match="layer"):
        read_feature_table(tmp_path / "layers.nc")
    with pytest.raises(NeuroalignError, match="not found"):
        read_feature_table(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(NeuroalignError, match="unknown feature table format"):
        read_feature_table(tmp_path / "x.txt")


def test_reduce_dim_keeps_leading_components_with_stable_signs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 10)) * np.arange(10, 0, -1)
    scores = reduce_dim(x, 3)
    assert scores.shape == (200, 3)
    assert np.allclose(reduce_dim(-x, 3), -scores)  # signs follow the loadings, not the SVD
    var = scores.var(axis=0)
    assert var[0] > var[1] > var[2]
    assert reduce_dim(x[:, :2], 3).shape == (200, 2)
