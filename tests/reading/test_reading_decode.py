"""Decoding planted reading goals and comprehension; the planted null; decoders; the stage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from _decode_sim import sim_goals

from neuroalign._check import NeuroalignError
from neuroalign.reading.decode import DecodeReadingSettings, decode_reading, decode_trials, describe
from neuroalign.reading.decode_data import read_reading_trials
from neuroalign.reading.decoders import DECODERS, Decoder, register_decoder

FAST = {"n_bootstrap": 200, "online": {"decoders": ["eye"], "k": [5, 40]}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return sim_goals(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def planted(sim):
    trials = read_reading_trials(sim / "fixations.csv", sim / "ia.csv")
    settings = DecodeReadingSettings.from_config(
        {"dataset": "sim_reading_goals", "decoders": ["text", "eye"], **FAST}
    )
    return decode_trials(trials, settings)


@pytest.fixture(scope="module")
def null(sim):
    trials = read_reading_trials(sim / "null" / "fixations.csv", sim / "null" / "ia.csv")
    settings = DecodeReadingSettings.from_config(
        {"dataset": "sim_reading_goals", "decoders": ["eye"], **FAST}
    )
    return decode_trials(trials, settings)


def test_planted_goal_recovered_well_above_chance_in_every_regime(planted):
    eye = planted.sel(task="goal", decoder="eye")
    assert (eye["balanced_accuracy"] > 0.8).all(), eye["balanced_accuracy"].values
    assert (eye["ci_low"] > 0.6).all()
    assert (eye["ci_low"] <= eye["balanced_accuracy"]).all()
    assert (eye["balanced_accuracy"] <= eye["ci_high"]).all()
    # Comprehension rides on fixations of the critical span: decodable from the eyes too.
    assert (planted["balanced_accuracy"].sel(task="correct", decoder="eye") > 0.65).all()


def test_text_only_baseline_cannot_decode_a_goal_crossed_with_the_items(planted):
    text = planted.sel(task="goal", decoder="text")
    # Near chance in every regime (a 95 % interval may miss 0.5 by chance in one of the three;
    # a baseline that read the goal from the text would sit far above).
    ba = text["balanced_accuracy"]
    assert (abs(ba - 0.5) < 0.15).all(), ba.values
    assert (text["ci_low"] < 0.6).all(), text["ci_low"].values
    assert int(((text["ci_low"] <= 0.5) & (text["ci_high"] >= 0.5)).sum()) >= 2


def test_planted_null_stays_at_chance(null):
    eye = null.sel(task="goal", decoder="eye")
    assert ((eye["ci_low"] <= 0.5) & (eye["ci_high"] >= 0.5)).all(), eye["balanced_accuracy"]
    assert (abs(eye["balanced_accuracy"] - 0.5) < 0.15).all()


def test_online_decoding_improves_with_more_fixations(planted):
    online = planted["online_balanced_accuracy"].sel(task="goal", online_decoder="eye")
    assert online.sel(k=40) > online.sel(k=5) and online.sel(k=40) > 0.75


def test_error_tables_agree_with_the_predictions(planted):
    sel = {"task": "goal", "regime": "item", "decoder": "eye"}
    wrong = (planted["proba"].sel(sel) >= 0.5) != planted["label"].sel(task="goal")
    by_item = wrong.groupby(planted["trial_item"]).mean()
    assert np.allclose(
        by_item.values, planted["item_error"].sel(sel).sel(item=by_item["trial_item"])
    )
    total = float(wrong.mean())
    by_person = planted["participant_error"].sel(sel)
    assert float(by_person.mean()) == pytest.approx(total)  # every reader has 6 trials


def test_fusion_transformer_decodes_the_planted_goal(sim):
    trials = read_reading_trials(sim / "fixations.csv", sim / "ia.csv")
    settings = DecodeReadingSettings.from_config(
        {
            "dataset": "sim_reading_goals",
            "tasks": ["goal"],
            "decoders": ["fusion"],
            "regimes": ["participant"],
            "n_folds": 2,
            "n_bootstrap": 100,
            "online": {"decoders": [], "k": []},
        }
    )
    ds = decode_trials(trials, settings)
    assert float(ds["balanced_accuracy"].squeeze()) > 0.7


def test_a_registered_decoder_runs_through_the_same_interface(sim):
    @register_decoder("span_oracle")
    class SpanOracle(Decoder):
        """Skipping outside the span, thresholded at the training median."""

        def _score(self, trials):
            from neuroalign.reading.decoders import EYE_MEASURES, eye_measures

            return eye_measures(trials)[:, EYE_MEASURES.index("outside_coverage")]

        def fit(self, trials):
            self.cut_ = np.median(self._score(trials))
            return self

        def predict_proba(self, trials):
            return (self._score(trials) < self.cut_).astype(float)

    try:
        trials = read_reading_trials(sim / "fixations.csv", sim / "ia.csv")
        settings = DecodeReadingSettings.from_config(
            {"dataset": "x", "tasks": ["goal"], "decoders": ["span_oracle"], **FAST}
        )
        settings = settings.replace(online=settings.online.replace(decoders=()))
        ds = decode_trials(trials, settings)
        assert (ds["balanced_accuracy"] > 0.7).all()
    finally:
        DECODERS.pop("span_oracle")


def test_unknown_decoder_is_one_line():
    with pytest.raises(NeuroalignError, match="unknown decoder 'fusoin'"):
        DecodeReadingSettings.from_config({"dataset": "x", "decoders": ["fusoin"]})


def test_stage_writes_netcdf_with_provenance(sim, tmp_path):
    settings = DecodeReadingSettings.from_config(
        {
            "dataset": "sim_reading_goals",
            "tasks": ["goal"],
            "decoders": ["eye"],
            "regimes": ["item"],
            **FAST,
        }
    )
    out = decode_reading(settings, dataset=sim, output=tmp_path / "decode.nc")
    ds = xr.load_dataset(out)
    assert ds.attrs["stage"] == "decode-reading" and ds.attrs["simulated"] == "true"
    assert json.loads(ds.attrs["status"]) == {"goal": "decoded"}
    assert "goal / item: eye" in describe(out)


def test_starter_path_on_the_onestop_sample_with_a_tiny_model(shared_data, tmp_path):
    """The mirror's OneStop sample through the stimulus table, a tiny model's store, the stage."""
    from neuroalign.data.readers.onestop import read_onestop_ia
    from neuroalign.data.stimuli import write_table
    from neuroalign.models.random_init import init_model
    from neuroalign.models.stage import ExtractSettings, extract

    folder = tmp_path / "onestop"
    folder.mkdir()
    for name in ("fixations", "ia"):
        (folder / f"{name}.csv").symlink_to(shared_data / "reading" / f"onestop_sample_{name}.csv")
    table = write_table(read_onestop_ia(folder / "ia.csv"), tmp_path / "onestop.parquet")
    model = init_model("gpt2-tiny", tmp_path / "tiny_gpt2")
    store = extract(
        ExtractSettings.from_config(
            {
                "model": {"source": f"path:{model}", "device": "cpu", "layers": [-1]},
                "context": {"words": 8},
                "pooling": "mean",
            }
        ),
        stimuli=table,
        output=tmp_path / "store.zarr",
    )
    settings = DecodeReadingSettings.from_config(
        {"dataset": "onestop", "features": {"model": "tiny_gpt2"}, **FAST}
    )
    out = decode_reading(settings, dataset=folder, output=tmp_path / "d.nc", activations=store)
    ds = xr.load_dataset(out)
    status = json.loads(ds.attrs["status"])
    # Every trial of the sample previews its question and answers it correctly: one class.
    assert status["goal"].startswith("not decodable") and "'1': 24" in status["goal"]
    assert status["correct"].startswith("not decodable")
    assert np.isnan(ds["balanced_accuracy"]).all()
    assert "store.zarr" in ds.attrs["features"]
    assert "not decodable" in describe(out)
