"""The MEG and fMRI stages on events whose words are "NA", "null" and "None" (real words)."""

from __future__ import annotations

import shutil

import pandas as pd
import xarray as xr

from neuroalign.encode import EncodeSettings, encode_fmri, encode_meg

QUICK = {"device": "cpu", "alphas": {"start": -1, "stop": 4, "num": 6}}
WORDS = ["NA", "null", "None"]


def _rename_words(dataset, features, tmp_path):
    """A copy of the dataset and store whose first words of each events file are WORDS."""
    data = shutil.copytree(dataset, tmp_path / dataset.name)
    with xr.open_dataset(features) as ds:
        store = ds.load()
    text = store["text"].values.astype(object)
    stories = store["story"].values.astype(str)
    for events in sorted(data.rglob("*_events.tsv")):
        table = pd.read_csv(events, sep="\t", keep_default_na=False, dtype={"word": str})
        rows = table.index[table["trial_type"] == "word"] if "trial_type" in table else table.index
        table.loc[rows[: len(WORDS)], "word"] = WORDS
        table.to_csv(events, sep="\t", index=False)
        task = events.name.split("task-")[1].split("_")[0]
        at = [i for i, s in enumerate(stories) if s == task] or list(range(len(text)))
        for i, word in zip(at[: len(WORDS)], WORDS, strict=True):
            text[i] = word
    store = store.assign_coords(text=("item", text.astype(str)))
    store.to_netcdf(tmp_path / "features.nc")
    return data, tmp_path / "features.nc"


def test_meg_stage_reads_na_null_none_as_words(sim_meg, encode_entry, tmp_path):
    dataset, features, _, _ = sim_meg
    data, store = _rename_words(dataset, features, tmp_path)
    values = {**QUICK, "options": {"n_components": 1, "n_perm": 10, "tmin": 0.0, "tmax": 0.2}}
    out = encode_meg(
        EncodeSettings.from_config(encode_entry("meg", **values)),
        activations=store,
        dataset=data,
        subject="01",
        output=tmp_path / "meg.nc",
    )
    assert out.is_file()


def test_fmri_stage_reads_na_null_none_as_words(sim_fmri, encode_entry, tmp_path):
    dataset, features, _ = sim_fmri
    data, store = _rename_words(dataset, features, tmp_path)
    out = encode_fmri(
        EncodeSettings.from_config(encode_entry("fmri", **QUICK)),
        activations=store,
        dataset=data,
        subject="01",
        output=tmp_path / "fmri.nc",
    )
    assert out.is_file()
