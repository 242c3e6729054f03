"""The word-level effects stage on simulated readers with planted effects and on mirror data."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.reading.word_settings import WordEffectsSettings
from neuroalign.reading.word_stage import word_effects


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """The gpt2-tiny named config (random weights, byte tokenizer), saved like the demo's."""
    from neuroalign.models.random_init import init_model

    return "path:" + str(init_model("gpt2-tiny", tmp_path_factory.mktemp("m") / "tiny_gpt2"))


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Simulated readers (planted log-duration effects) and their stimulus table."""
    from neuroalign.data.readers.onestop import read_onestop_ia
    from neuroalign.data.simulate.eyetracking import simulate_eyetracking
    from neuroalign.data.simulate.settings import SimEyetrackingSettings
    from neuroalign.data.stimuli import write_table

    root = tmp_path_factory.mktemp("sim")
    cfg = SimEyetrackingSettings.from_config(
        {"n_readers": 12, "stories": ["lighthouse", "orchard"]}
    )
    simulate_eyetracking(root / "sim_eyetracking", cfg)
    report = root / "sim_eyetracking" / "ia_report.csv"
    table = write_table(
        read_onestop_ia(report, stimset="sim_reading"), root / "sim_reading.parquet"
    )
    truth = xr.load_dataset(
        root / "sim_eyetracking" / "derivatives" / "neuroalign-truth" / "truth.nc"
    )
    return table, report, truth


def _settings(**extra):
    base = {
        "stimset": "sim_reading",
        "models": ["tiny"],
        "corpus_predictors": ["surprisal"],
        "log_measures": ["mean_FFD"],
        "mixed_measures": ["mean_FFD"],
    }
    return WordEffectsSettings.from_config({**base, **extra})


def test_gpt2_tiny_named_config_reproduces_text(tiny_lm):
    from neuroalign.models.sources import load_model

    model, tok, _ = load_model(tiny_lm, head="causal")
    text = "Ünïcode “quotes” — and émojis 🙂"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert type(model).__name__ == "GPT2LMHeadModel" and tok.bos_token_id == 256


def test_planted_surprisal_effect_recovered_on_simulated_readers(sim, tiny_lm, tmp_path):
    table, report, truth = sim
    out = word_effects(
        _settings(),
        stimuli=table,
        output=tmp_path / "w.nc",
        models={"tiny": tiny_lm},
        participants=report,
    )
    ds = xr.load_dataset(out)
    planted = float(truth["duration_coef"].sel(term="surprisal"))
    sel = dict(measure="mean_FFD", set="surprisal", predictor="surprisal")
    for kind in ("mixed", "ols"):
        beta, low, high = (
            float(ds[f"{kind}_{k}"].sel(**sel)) for k in ("beta", "ci_low", "ci_high")
        )
        assert beta > 0 and low < planted < high, (kind, beta, low, high, planted)
        assert high - low < planted  # informative, not a vacuous interval
    # the LM's own predictors are there, with their spillover, and the table is aligned
    assert {"surprisal_tiny", "entropy_tiny", "surprisal_tiny_prev1"} <= set(ds["predictor"].values)
    assert np.isfinite(ds["ols_beta"].sel(set="tiny", predictor="surprisal_tiny")).all()
    assert (ds["delta_loglik"].sel(set="surprisal") > 0).all()
    assert not ds["lag_misaligned"].any() and int(ds["lag_flagged"].sum()) == 0
    assert (ds["lag_peak"] == 0).all()
    assert "MixedLM" in ds.attrs["mixed"] and ds.attrs["shift_applied"] == "0"


def test_shifted_measures_are_refused_or_warned_and_the_shift_recorded(sim, tmp_path):
    table, _, _ = sim
    settings = _settings(models=[], shift=1)
    with pytest.raises(NeuroalignError, match=r"lag profile peaks at offset -1.*set shift: -1"):
        word_effects(settings, stimuli=table, output=tmp_path / "a.nc")
    with pytest.warns(UserWarning, match="lag profile peaks"):
        out = word_effects(
            settings.replace(on_misalignment="warn"), stimuli=table, output=tmp_path / "b.nc"
        )
    ds = xr.load_dataset(out)
    assert ds["lag_misaligned"].all() and (ds["lag_peak"] == -1).all()
    assert ds.attrs["shift_applied"] == "1" and "1 word(s) later" in ds.attrs["shift_note"]
    assert "no participant-level measures" in ds.attrs["mixed"]


def test_a_tokenizer_that_drops_characters_names_the_word(sim, tmp_path):
    from _reading_lm import tiny_gpt2
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    table, _, _ = sim
    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "[BOS]": 1}, unk_token="[UNK]"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", bos_token="[BOS]")
    folder = tmp_path / "lower"
    tiny_gpt2(2).save_pretrained(folder)
    tok.save_pretrained(folder)
    with pytest.raises(NeuroalignError, match=r"^word 'On' \(text '1_1', word 0\)[^\n]*$"):
        word_effects(
            _settings(), stimuli=table, output=tmp_path / "x.nc", models={"tiny": f"path:{folder}"}
        )


def _store(path, table, layers):
    """A finished activation store (netCDF) of the table's words with the given layers."""
    from neuroalign.results import write_netcdf

    words = table["text"].astype(str).to_numpy()
    data = np.stack(layers, axis=1)  # (item, layer, unit)
    ds = xr.Dataset(
        {"resid": (("item", "layer", "unit"), data)},
        coords={"text": ("item", words), "layer": np.arange(len(layers))},
        attrs={"complete": "true"},
    )
    return write_netcdf(ds, path)


def test_layer_features_through_the_ridge_engine(sim, tmp_path):
    from neuroalign.data.stimuli import read_table

    table_path, _, _ = sim
    table, _ = read_table(table_path)
    rng = np.random.default_rng(0)
    n = len(table)
    noise = rng.normal(size=(n, 16))
    signal = noise.copy()
    signal[:, 0] = table["surprisal"].to_numpy() + 0.1 * rng.normal(size=n)
    store = _store(tmp_path / "acts.nc", table, [noise, signal])
    settings = _settings(
        models=[], features=["feat"], alphas=[1.0, 100.0], measures=["mean_FFD", "skip_rate"]
    )
    out = word_effects(
        settings, stimuli=table_path, output=tmp_path / "f.nc", activations={"feat": store}
    )
    ds = xr.load_dataset(out)
    gain = ds["feature_r_gain"].sel(measure="mean_FFD").values
    dll = ds["feature_delta_loglik_heldout"].sel(measure="mean_FFD").values
    assert list(ds["feature_id"].values) == ["feat:0", "feat:1"]
    assert gain[1] > gain[0] and dll[1] > 0.005 and dll[1] > dll[0] + 0.005
    assert "ridge" in ds.attrs["features"]
    bad = _store(tmp_path / "bad.nc", table.iloc[::-1], [noise])
    with pytest.raises(NeuroalignError, match=r"item 0 is .* the table's word is 'On'"):
        word_effects(
            settings, stimuli=table_path, output=tmp_path / "g.nc", activations={"feat": bad}
        )


def test_command_line_runs_the_stage_and_a_bad_word_is_one_line(sim, tiny_lm, tmp_path, capsys):
    import json

    from _reading_lm import tiny_gpt2
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from neuroalign.cli import main

    table, _, _ = sim
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"stimset": "sim_reading", "models": ["tiny"]}))
    args = ["reading-words", "--settings", str(settings), "--stimuli", str(table)]
    assert main([*args, "--model", f"tiny={tiny_lm}", "--output", str(tmp_path / "a.nc")]) in (
        0,
        None,
    )
    assert capsys.readouterr().out.strip().endswith("a.nc")
    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "[BOS]": 1}, unk_token="[UNK]"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "lower"
    tiny_gpt2(2).save_pretrained(folder)
    PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="[UNK]", bos_token="[BOS]"
    ).save_pretrained(folder)
    capsys.readouterr()
    status = main([*args, "--model", f"tiny=path:{folder}", "--output", str(tmp_path / "b.nc")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "reading-words" in line]  # not progress bars
    assert status == 2 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("neuroalign reading-words: error: word 'On'")
    assert "decode to" in lines[0]
