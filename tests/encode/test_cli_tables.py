"""``neuroalign encode sentences`` and ``encode words`` on planted stimulus tables and stores."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import encode
from neuroalign.encode.tables import count_words

ALPHAS = {"start": -1, "stop": 4, "num": 6}


def run(argv):
    parser = argparse.ArgumentParser()
    encode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["encode", *argv])
    args.func(args)


def test_sentences_find_the_planted_layer_and_the_gain_over_length(
    sentences, settings_file, capsys, caplog
):
    out = sentences / "out" / "sentences.nc"
    settings = settings_file("sentences", device="cpu", alphas=ALPHAS, options={"n_perm": 19})
    with caplog.at_level("INFO", logger="neuroalign.encode.tables"):
        run(
            [
                "sentences",
                *("--settings", str(settings), "--activations", str(sentences / "acts.nc")),
                *("--stimuli", str(sentences / "t.parquet"), "--output", str(out)),
            ]
        )
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert "peak layer 1" in caplog.text
    with xr.open_dataset(out) as ds:
        assert ds["r"].dims == ("layer", "target") and list(ds["layer"].values) == ["0", "1", "2"]
        assert str(ds["peak_layer"].values[0]) == "1" and float(ds["peak_depth"][0]) == 0.5
        assert float(ds["p"].sel(layer="1")[0]) == 0.05 and float(ds["p_peak"][0]) == 0.05
        gain = ds["r2_gain"].sel(target="effect_size").values
        assert gain[1] > 0.5 and abs(gain[0]) < 0.05 and abs(gain[2]) < 0.05
        assert 0.18 < float(ds["r2_baseline"][0]) < 0.38  # 1 / (1 + 2.5 + 0.09) in theory
        assert ds["null_r"].shape == (3, 19, 1)
        assert ds.attrs["kind"] == "sentences" and ds.attrs["model"] == "planted"
        named = json.loads(ds.attrs["baseline"])
        assert named["counts"] == ["n_chars", "n_words", "n_tokens"]
        assert set(named) == {"length", "counts", "frequency", "all"}
        assert "training" in ds.attrs["baseline_choice"] and "wordfreq" in ds.attrs["frequency"]
        # the planted response is length-driven: a length-carrying baseline is chosen
        assert str(ds["baseline_used"].values[0]) in {"length", "counts", "all"}
        assert json.loads(ds.attrs["config"])["n_perm"] == 19


def test_sentences_errors_are_one_line(sentences, settings_file, tmp_path):
    def base(**values):
        settings = settings_file("sentences", device="cpu", **values)
        return ["sentences", "--settings", str(settings), "--output", str(tmp_path / "o.nc")]

    table = ["--stimuli", str(sentences / "t.parquet")]
    acts = ["--activations", str(sentences / "acts.nc")]
    with pytest.raises(NeuroalignError, match=r"no column.*'rt'.*options.targets"):
        run([*base(options={"targets": ["rt"]}), *acts, *table])
    with pytest.raises(NeuroalignError, match=r"field 'folds': 1 is less than the minimum of 2"):
        run([*base(folds=1), *acts, *table])
    with pytest.raises(NeuroalignError, match="folds 151: needs 2 to 150"):
        run([*base(folds=151), *acts, *table])
    short = tmp_path / "short.nc"
    with xr.open_dataset(sentences / "acts.nc") as ds:
        ds.isel(item=slice(0, 10)).to_netcdf(short)
    with pytest.raises(NeuroalignError, match="150 words but the activations have 10"):
        run([*base(), "--activations", str(short), *table])
    assert not (tmp_path / "o.nc").exists()


def test_count_words_ignores_stray_punctuation():
    assert count_words(["A dog ,  barked .", "", "It's 3 o'clock"]).tolist() == [3, 0, 3]


COLUMNS = {
    "measures": ["rt", "noise"],
    "baseline": ["length", "freq", "position"],
    "group": "story",
}


def run_words(words, settings, out):
    run(
        [
            "words",
            *("--settings", str(settings), "--activations", str(words / "acts.nc")),
            *("--stimuli", str(words / "t.parquet"), "--output", str(out)),
        ]
    )


def test_words_gain_of_model_and_surprisal_over_the_baseline(words, settings_file):
    out = words / "words.nc"
    options = {**COLUMNS, "surprisal": ["surp"], "n_perm": 19}
    run_words(words, settings_file("words", device="cpu", alphas=ALPHAS, options=options), out)
    with xr.open_dataset(out) as ds:
        assert ds["n_words"].values.tolist() == [240, 240]  # edges left out
        gain = ds["r2_gain"].sel(measure="rt").values
        assert gain[0] > 0.1 and abs(gain[1]) < 0.02
        assert float(ds["p_gain"].sel(measure="rt", layer="0")) == 0.05
        assert str(ds["peak_gain_layer"].sel(measure="rt").values) == "0"
        assert float(ds["surprisal_r2_gain"].sel(measure="rt", surprisal="surp")) > 0.05
        assert float(ds["surprisal_p_gain"].sel(measure="rt", surprisal="surp")) == 0.05
        assert np.all(ds["r2_gain"].sel(measure="noise").values < 0.02)
        # the signed effect of surprisal: positive on rt (planted +1), interval around 0 on noise
        beta = ds["surprisal_beta"].sel(surprisal="surp")
        low, high = ds["surprisal_beta_low"].sel(surprisal="surp"), ds["surprisal_beta_high"]
        assert float(beta.sel(measure="rt")) > 0 and float(low.sel(measure="rt")) > 0
        noise_high = float(high.sel(surprisal="surp", measure="noise"))
        assert float(low.sel(measure="noise")) < 0 < noise_high
        assert ds.attrs["kind"] == "words"
        assert "sentence-initial" in json.loads(ds.attrs["exclusions"])[0]
        assert json.loads(ds.attrs["baseline"]) == {"configured": ["length", "freq", "position"]}
        assert str(ds["baseline_used"].sel(measure="rt").values) == "configured"
    kept = words / "kept.nc"
    options = {**COLUMNS, "surprisal": [], "keep_edges": True, "n_perm": 0}
    run_words(words, settings_file("words", device="cpu", alphas=ALPHAS, options=options), kept)
    with xr.open_dataset(kept) as ds:
        assert ds["n_words"].values.tolist() == [360, 360] and "surprisal" not in ds.dims
        assert np.isnan(ds["p_gain"].values).all()


def test_words_without_known_conventions_needs_the_columns(words, settings_file, tmp_path):
    def fails(options, match):
        with pytest.raises(NeuroalignError, match=match):
            run_words(words, settings_file("words", options=options), tmp_path / "o.nc")

    fails({}, r"reader 'custom'.*options.measures")
    fails({**COLUMNS, "surprisal": []} | {"group": None}, r"reader 'custom'.*options.group")
    named = {"measures": ["rt"], "baseline": ["length", "freq"], "surprisal": []}
    fails({**named, "group": "sent"}, "no column 'sent' for options.group")
    fails(
        {**named, "baseline": ["lenght"], "group": "story"},
        r"no column\(s\) \['lenght'\] for options.baseline",
    )
    fails({"measures": "rt"}, r"field 'options.measures'")
    assert not (tmp_path / "o.nc").exists()


def test_report_pages_show_sweeps_and_gains(sentences, words, settings_file, tmp_path):
    from neuroalign.report.context import ReportContext
    from neuroalign.report.stages.encode import collect

    results = tmp_path / "results"
    common = {"folds": 5, "device": "cpu", "alphas": ALPHAS}
    run(
        [
            "sentences",
            *("--settings", str(settings_file("sentences", **common, options={"n_perm": 9}))),
            *("--activations", str(sentences / "acts.nc"), "--stimuli"),
            *(str(sentences / "t.parquet"), "--output"),
            str(results / "encoding" / "planted" / "m" / "sentences.nc"),
        ]
    )
    options = {**COLUMNS, "surprisal": ["surp"], "n_perm": 9}
    run_words(
        words,
        settings_file("words", **common, options=options),
        results / "encoding" / "reading" / "m" / "words.nc",
    )
    site = tmp_path / "site"
    page = collect(ReportContext(config={}, results=results, data_root=None, site=site))
    kinds = {sub.extra["kind"]: sub for sub in page.subpages}
    assert set(kinds) == {"sentences", "words"}
    assert "peak layer 1" in kinds["sentences"].extra["headline"]
    assert "rt R^2 +" in kinds["words"].extra["headline"]
    figures = sorted(p.name for p in (site / "figures").glob("*.png"))
    assert any(f.endswith("effect_size-sweep.png") for f in figures)
    assert any(f.endswith("-gains.png") for f in figures) and len(figures) == 4
    tables = [b for s in kinds["words"].sections for b in s.blocks if hasattr(b, "rows")]
    assert tables[0].rows[0][0] == "rt" and tables[0].rows[0][7] == "surp"


def test_words_default_baseline_is_the_strongest_and_explains_a_frequency_effect(
    tmp_path, settings_file
):
    """A measure driven by log frequency, a layer that encodes frequency: over the corpus'
    strongest standard baseline (chosen on training words) the layer adds about nothing;
    over length alone it looks like a large gain."""
    from neuroalign.data.stimuli import standardize, write_table

    rng = np.random.default_rng(4)
    n_sent, size = 50, 8
    n = n_sent * size
    freq = rng.normal(4.0, 1.0, n)
    length = np.round(12 - 1.5 * freq + rng.normal(0, 2, n))
    acts = rng.standard_normal((n, 1, 6))
    acts[:, 0, :3] += 2.0 * (freq - freq.mean())[:, None]
    table = pd.DataFrame(
        {
            "text": [f"w{i}" for i in range(n)],
            "story": np.repeat(np.arange(n_sent), size).astype(str),
            "position": np.tile(np.arange(size), n_sent),
            "sentence": 0,
            "length": length,
            "Subtlex_log10": freq,
            "N400": -1.5 * freq + 0.5 * rng.standard_normal(n),
        }
    )
    write_table(
        standardize(table, stimset="planted", reader="ucl_frank2013"), tmp_path / "t.parquet"
    )
    xr.Dataset(
        {"resid": (("item", "layer", "unit"), acts), "n_tokens": ("item", np.ones(n))},
        coords={"text": ("item", table["text"].to_numpy(object)), "layer": [0]},
        attrs={"model": "planted", "context": "sentence", "pooling": "mean", "complete": "true"},
    ).to_netcdf(tmp_path / "acts.nc")
    results = {}
    for name, baseline in (("default", None), ("length", ["length"])):
        options = {"measures": ["N400"], "surprisal": [], "baseline": baseline, "n_perm": 0}
        out = tmp_path / f"{name}.nc"
        run_words(
            tmp_path, settings_file("words", device="cpu", alphas=ALPHAS, options=options), out
        )
        with xr.open_dataset(out) as ds:
            results[name] = ds.load()
    default = results["default"]
    named = json.loads(default.attrs["baseline"])
    assert set(named) == {"length", "frequency", "all"}
    assert named["all"] == ["length", "Subtlex_log10", "position", "n_tokens"]
    assert str(default["baseline_used"].values[0]) in {"frequency", "all"}
    assert abs(float(default["r2_gain"].values[0, 0])) < 0.02
    assert float(results["length"]["r2_gain"].values[0, 0]) > 0.3
    assert json.loads(results["length"].attrs["baseline"]) == {"configured": ["length"]}
