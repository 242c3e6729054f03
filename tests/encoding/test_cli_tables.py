"""``neuroalign encode sentences`` and ``encode words`` on planted stimulus tables and stores."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import encode
from neuroalign.cli.encode_tables import count_words
from neuroalign.data.stimuli import standardize, write_table


def run(argv):
    parser = argparse.ArgumentParser()
    encode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["encode", *argv])
    args.func(args)


def _store(path, acts, texts, n_tokens=None):
    data = {"resid": (("item", "layer", "unit"), acts)}
    if n_tokens is not None:
        data["n_tokens"] = ("item", n_tokens)
    ds = xr.Dataset(
        data,
        coords={"text": ("item", np.asarray(texts, object)), "layer": np.arange(acts.shape[1])},
        attrs={"model": "planted", "context": "sentence", "pooling": "mean"},
    )
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    """150 sentences; their response = length + a map of layer 1's units + noise."""
    root = tmp_path_factory.mktemp("sentences")
    rng = np.random.default_rng(0)
    n = 150
    n_words = rng.integers(3, 15, n)
    texts = [" ".join(f"w{i}x{k}" for k in range(m)) for i, m in enumerate(n_words)]
    acts = rng.standard_normal((n, 3, 8))
    z = (n_words - n_words.mean()) / n_words.std()
    response = z + acts[:, 1, :4] @ [1.0, -1.0, 0.5, 0.5] + 0.3 * rng.standard_normal(n)
    table = pd.DataFrame(
        {"text": texts, "story": [f"s{i}" for i in range(n)], "position": 0, "sentence": 0}
    )
    table["effect_size"] = response
    write_table(standardize(table, stimset="planted", reader="pereira2018"), root / "t.parquet")
    _store(root / "acts.nc", acts, texts, n_tokens=n_words + 2)
    return root


def test_sentences_find_the_planted_layer_and_the_gain_over_length(sentences, capsys):
    out = sentences / "out" / "sentences.nc"
    run(
        [
            "sentences",
            *("--activations", str(sentences / "acts.nc")),
            *("--stimuli", str(sentences / "t.parquet")),
            *("--output", str(out), "--folds", "5", "--n-perm", "19", "--device", "cpu"),
            "--alphas=-1:4:6",
        ]
    )
    assert "peak layer 1" in capsys.readouterr().out
    with xr.open_dataset(out) as ds:
        assert ds["r"].dims == ("layer", "target") and list(ds["layer"].values) == ["0", "1", "2"]
        assert str(ds["peak_layer"].values[0]) == "1" and float(ds["peak_depth"][0]) == 0.5
        assert float(ds["p"].sel(layer="1")[0]) == 0.05 and float(ds["p_peak"][0]) == 0.05
        gain = ds["r2_gain"].sel(target="effect_size").values
        assert gain[1] > 0.5 and abs(gain[0]) < 0.05 and abs(gain[2]) < 0.05
        assert 0.18 < float(ds["r2_baseline"][0]) < 0.38  # 1 / (1 + 2.5 + 0.09) in theory
        assert ds["null_r"].shape == (3, 19, 1)
        assert ds.attrs["kind"] == "sentences" and ds.attrs["model"] == "planted"
        assert json.loads(ds.attrs["baseline"]) == ["n_words", "n_tokens"]
        assert json.loads(ds.attrs["config"])["n_perm"] == 19


def test_sentences_errors_are_one_line(sentences, tmp_path):
    base = ["sentences", "--activations", str(sentences / "acts.nc"), "--output", "o.nc"]
    with pytest.raises(NeuroalignError, match=r"no column.*'rt'.*--targets"):
        run([*base, "--stimuli", str(sentences / "t.parquet"), "--targets", "rt"])
    with pytest.raises(NeuroalignError, match="--folds 1"):
        run([*base, "--stimuli", str(sentences / "t.parquet"), "--folds", "1"])
    short = tmp_path / "short.nc"
    with xr.open_dataset(sentences / "acts.nc") as ds:
        ds.isel(item=slice(0, 10)).to_netcdf(short)
    with pytest.raises(NeuroalignError, match="150 words but the activations have 10"):
        run(["sentences", "--activations", str(short), "--stimuli", str(sentences / "t.parquet"),
             "--output", "o.nc"])  # fmt: skip


def test_count_words_ignores_stray_punctuation():
    assert count_words(["A dog ,  barked .", "", "It's 3 o'clock"]).tolist() == [3, 0, 3]


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """60 sentences of 6 words; rt = length + surprisal + a map of layer 0's units."""
    root = tmp_path_factory.mktemp("words")
    rng = np.random.default_rng(1)
    n_sent, size = 60, 6
    n = n_sent * size
    acts = rng.standard_normal((n, 2, 6))
    length = rng.integers(1, 10, n).astype(float)
    surprisal = rng.standard_normal(n)
    rt = length + surprisal + acts[:, 0, :3] @ [1.0, 1.0, -1.0] + 0.5 * rng.standard_normal(n)
    position = np.tile(np.arange(size), n_sent)
    edge = (position == 0) | (position == size - 1)
    rt[edge] += 20 * rng.standard_normal(edge.sum())  # sentence edges are wild
    table = pd.DataFrame(
        {
            "text": [f"w{i}" for i in range(n)],
            "story": np.repeat(np.arange(n_sent), size).astype(str),
            "position": position,
            "sentence": 0,
            "rt": rt,
            "noise": rng.standard_normal(n),
            "length": length,
            "freq": rng.standard_normal(n),
            "surp": surprisal,
        }
    )
    write_table(standardize(table, stimset="planted", reader="custom"), root / "t.parquet")
    _store(root / "acts.nc", acts, table["text"])
    return root


def test_words_gain_of_model_and_surprisal_over_the_baseline(words):
    out = words / "words.nc"
    flags = ["--measures", "rt,noise", "--baseline", "length,freq,position", "--group", "story"]
    run(
        [
            "words",
            *("--activations", str(words / "acts.nc"), "--stimuli", str(words / "t.parquet")),
            *("--output", str(out), *flags, "--surprisal", "surp", "--folds", "5"),
            *("--n-perm", "19", "--device", "cpu", "--alphas=-1:4:6"),
        ]
    )
    with xr.open_dataset(out) as ds:
        assert ds["n_words"].values.tolist() == [240, 240]  # edges left out
        gain = ds["r2_gain"].sel(measure="rt").values
        assert gain[0] > 0.1 and abs(gain[1]) < 0.02
        assert float(ds["p_gain"].sel(measure="rt", layer="0")) == 0.05
        assert str(ds["peak_gain_layer"].sel(measure="rt").values) == "0"
        assert float(ds["surprisal_r2_gain"].sel(measure="rt", surprisal="surp")) > 0.05
        assert float(ds["surprisal_p_gain"].sel(measure="rt", surprisal="surp")) == 0.05
        assert np.all(ds["r2_gain"].sel(measure="noise").values < 0.02)
        assert ds.attrs["kind"] == "words"
        assert "sentence-initial" in json.loads(ds.attrs["exclusions"])[0]
        assert json.loads(ds.attrs["baseline"]) == ["length", "freq", "position"]
    kept = words / "kept.nc"
    run(
        [
            "words",
            *("--activations", str(words / "acts.nc"), "--stimuli", str(words / "t.parquet")),
            *("--output", str(kept), *flags, "--surprisal", "none", "--keep-edges"),
            *("--n-perm", "0", "--device", "cpu", "--alphas=-1:4:6"),
        ]
    )
    with xr.open_dataset(kept) as ds:
        assert ds["n_words"].values.tolist() == [360, 360] and "surprisal" not in ds.dims
        assert np.isnan(ds["p_gain"].values).all()


def test_words_without_known_conventions_needs_the_columns(words):
    base = ["words", "--activations", str(words / "acts.nc"), "--output", "o.nc"]
    with pytest.raises(NeuroalignError, match=r"reader 'custom'.*--measures"):
        run([*base, "--stimuli", str(words / "t.parquet")])
    flags = ["--measures", "rt", "--baseline", "length,freq", "--surprisal", "none"]
    with pytest.raises(NeuroalignError, match="no column 'sent'"):
        run([*base, "--stimuli", str(words / "t.parquet"), *flags, "--group", "sent"])
    with pytest.raises(NeuroalignError, match=r"no column\(s\) \['lenght'\] for --baseline"):
        run([*base, "--stimuli", str(words / "t.parquet"), "--measures", "rt", "--baseline",
             "lenght", "--surprisal", "none", "--group", "story"])  # fmt: skip


def test_report_pages_show_sweeps_and_gains(sentences, words, tmp_path):
    from neuroalign.report.context import ReportContext
    from neuroalign.report.stages.encode import collect

    results = tmp_path / "results"
    common = ["--folds", "5", "--n-perm", "9", "--device", "cpu", "--alphas=-1:4:6"]
    run(
        [
            "sentences",
            *("--activations", str(sentences / "acts.nc"), "--stimuli"),
            *(str(sentences / "t.parquet"), "--output"),
            *(str(results / "encoding" / "planted" / "m" / "sentences.nc"), *common),
        ]
    )
    run(
        [
            "words",
            *("--activations", str(words / "acts.nc"), "--stimuli", str(words / "t.parquet")),
            *("--output", str(results / "encoding" / "reading" / "m" / "words.nc"), *common),
            *("--measures", "rt,noise", "--baseline", "length,freq,position"),
            *("--surprisal", "surp", "--group", "story"),
        ]
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
