"""The starter config's word-level regressions on the reading datasets of the mirror."""

from __future__ import annotations

import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.reading.word_settings import WordEffectsSettings
from neuroalign.reading.word_stage import word_effects


@pytest.fixture(scope="module")
def starter(repo_root):
    """The starter config's reading_words entries, validated."""
    from neuroalign._yaml import load_yaml
    from neuroalign.config import validate_config

    config = validate_config(load_yaml(repo_root / "config" / "starter.yaml"), source="starter")
    return config


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from neuroalign.models.random_init import init_model

    return "path:" + str(init_model("gpt2-tiny", tmp_path_factory.mktemp("m") / "tiny_gpt2"))


def _entry(starter, name, **change):
    entry = dict(starter["reading_words"][name], **change)
    return WordEffectsSettings.from_config(entry, f"reading_words.{name}")


def test_starter_runs_word_regressions_on_the_reading_datasets(starter):
    stimsets = {e["stimset"] for e in starter["reading_words"].values()}
    assert stimsets == {"ucl_frank2013", "onestop", "zuco", "geco", "naturalstories"}
    assert all(e["models"] for e in starter["reading_words"].values())
    assert starter["models"]["tiny_gpt2"]["init"]["config"] == "gpt2-tiny"


def test_onestop_sample_with_a_tiny_lm_and_mixed_models(starter, shared_data, tiny_lm, tmp_path):
    from neuroalign.data.readers.onestop import read_onestop_ia
    from neuroalign.data.stimuli import write_table

    ia = shared_data / "reading" / "onestop_sample_ia.csv"
    table = write_table(read_onestop_ia(ia, stimset="onestop"), tmp_path / "onestop.parquet")
    settings = _entry(starter, "onestop", features=[])
    out = word_effects(
        settings, stimuli=table, output=tmp_path / "o.nc", models={"tiny_gpt2": tiny_lm},
        participants=ia,
    )  # fmt: skip
    ds = xr.load_dataset(out)
    assert {"baseline", "tiny_gpt2", "gpt2_surprisal"} == set(ds["set"].values)
    assert "mixed_beta" in ds and "crossed" in ds.attrs["mixed"]
    sel = dict(set="gpt2_surprisal", predictor="gpt2_surprisal")
    assert (ds["ols_ci_low"].sel(**sel) < ds["ols_beta"].sel(**sel)).all()
    assert not ds["lag_misaligned"].any()
    # total reading time grows with GPT-2 surprisal (per reader: its interval excludes 0)
    trt = dict(sel, measure="mean_TRT")
    assert float(ds["mixed_ci_low"].sel(**trt)) > 0 and float(ds["ols_beta"].sel(**trt)) > 0


def test_ucl_signed_effects_of_cloze_surprisal(starter, shared_data, tmp_path):
    from neuroalign.data.readers.wordlevel import read_ucl_frank2013
    from neuroalign.data.stimuli import write_table

    path = shared_data / "reading" / "ucl_frank2013_all_measures.csv"
    table = write_table(read_ucl_frank2013(path), tmp_path / "ucl.parquet")
    settings = _entry(
        starter, "ucl_frank2013", models=[], features=[], corpus_predictors=["cloze_s"]
    )
    ds = xr.load_dataset(word_effects(settings, stimuli=table, output=tmp_path / "u.nc"))
    sel = dict(set="cloze_s", predictor="cloze_s")
    # first-pass reading time grows with surprisal; the N400 grows more negative
    assert float(ds["ols_ci_low"].sel(measure="RTfirstpass", **sel)) > 0
    assert float(ds["ols_ci_high"].sel(measure="N400", **sel)) < 0
    assert "no participant-level measures" in ds.attrs["mixed"]
    assert not ds["lag_misaligned"].any()


def test_natural_stories_realigned_passes_and_the_file_as_shipped_is_refused(
    starter, shared_data, tmp_path
):
    from neuroalign.data.readers.wordlevel import read_natural_stories_spr
    from neuroalign.data.stimuli import write_table

    path = shared_data / "reading" / "naturalstories_spr_wordinfo.tsv"
    settings = _entry(starter, "naturalstories", models=[])
    fixed = write_table(read_natural_stories_spr(path), tmp_path / "ns.parquet")
    ds = xr.load_dataset(word_effects(settings, stimuli=fixed, output=tmp_path / "ns.nc"))
    assert int(ds["lag_peak"].sel(measure="meanItemRT")) == -1 and not ds["lag_misaligned"].any()
    raw = write_table(read_natural_stories_spr(path, shift=0), tmp_path / "raw.parquet")
    with pytest.raises(NeuroalignError, match=r"1 word\(s\) early.*set shift: 1 "):
        word_effects(settings, stimuli=raw, output=tmp_path / "raw.nc")
