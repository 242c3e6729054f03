"""Stimulus-table contract: standardize, validate, write/read with provenance, registry, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from neuroalign._check import NeuroalignError
from neuroalign._io import sha256_file
from neuroalign.cli import stimuli as cli_stimuli
from neuroalign.data.stimuli import (
    COLUMNS,
    METADATA_KEY,
    READERS,
    StimuliSettings,
    build_stimuli,
    get_reader,
    read_table,
    run_reader,
    standardize,
    validate_table,
    write_table,
)
from neuroalign.schemas import load_schema
from neuroalign.settings import read_settings, write_settings


def _rows(n=4, **extra):
    data = {
        "text": [f"w{i}" for i in range(n)],
        "story": "s",
        "position": np.arange(n),
        "onset": np.arange(n) * 0.5,
        "run": "run-1",
    }
    data.update(extra)
    return pd.DataFrame(data)


def _table(n=4, **extra):
    return standardize(_rows(n, **extra), stimset="demo", reader="test", options={"a": 1})


def test_standardize_fills_defaults_and_orders_columns():
    table = standardize(
        pd.DataFrame({"text": ["a", "b"], "story": "s", "position": [0, 1], "extra": [1, 2]}),
        stimset="demo",
        reader="test",
    )
    assert list(table.columns) == [*COLUMNS, "extra"]
    assert table["item"].tolist() == [0, 1]
    assert table["sentence"].tolist() == [-1, -1]
    assert table["condition"].tolist() == ["", ""]
    assert table["onset"].isna().all() and table["offset"].dtype == float
    assert table["position"].dtype == np.int64
    assert table.attrs["reader"] == "test"


def test_standardize_needs_text_story_position():
    with pytest.raises(NeuroalignError, match=r"lack column\(s\) \['position'\]"):
        standardize(pd.DataFrame({"text": ["a"], "story": "s"}), stimset="x", reader="r")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda df: df.drop(columns="run"), r"column\(s\) \['run'\] missing"),
        (lambda df: df.assign(onset=[0.0, 2.0, 1.0, 3.0]), r"'onset' is not monotonic .*run-1"),
        (lambda df: df.assign(text=["a", None, "c", "d"]), r"'text' is missing at row 1"),
        (lambda df: df.assign(item=[0, 1, 1, 3]), r"'item' repeats the value 1"),
        (lambda df: df.assign(item=[1, 2, 3, 4]), r"'item' must be 0..n-1"),
        (lambda df: df.assign(position=[0, 1, 1, 2]), r"row 2 repeats run 'run-1', story 's'"),
        (lambda df: df.assign(offset=df["onset"] - 1), r"'offset' is before 'onset' at row 0"),
        (lambda df: df.assign(stimset=["a", "b", "a", "a"]), r"'stimset' holds several"),
        (lambda df: df.assign(position=[0, 1, 2.5, 3]), r"'position' must hold whole numbers"),
        (lambda df: df.assign(sentence=[-2, 0, 0, 0]), r"'sentence' must be >= 0, or -1"),
    ],
)
def test_validate_table_names_the_problem(change, match):
    table = _table()
    validate_table(table, "t.parquet")
    with pytest.raises(NeuroalignError, match=match):
        validate_table(change(table.copy()), "t.parquet")


def test_onsets_may_restart_in_a_new_run_and_nan_is_allowed():
    rows = _rows(4, run=["r1", "r1", "r2", "r2"], onset=[1.0, np.nan, 0.0, 0.5])
    table = standardize(rows, stimset="demo", reader="test")
    assert table["run"].tolist() == ["r1", "r1", "r2", "r2"]


def test_write_read_round_trip_with_provenance(tmp_path):
    source = tmp_path / "events.tsv"
    source.write_text("onset\n0\n")
    table = standardize(
        _rows(3),
        stimset="demo",
        reader="test",
        sources=[source],
        options={"shift": 1},
        info={"k": 2},
    )
    out = write_table(table, tmp_path / "stimuli" / "demo.parquet")
    assert [p.name for p in out.parent.iterdir()] == ["demo.parquet"]
    meta = json.loads(pq.read_schema(out).metadata[METADATA_KEY])
    assert meta["reader"] == "test"
    assert meta["sources"] == {str(source): sha256_file(source)}
    df, attrs = read_table(out)
    pd.testing.assert_frame_equal(df, table, check_dtype=False)
    assert df["item"].dtype == np.int64 and df["text"].tolist() == ["w0", "w1", "w2"]
    assert attrs["options"] == {"shift": 1} and attrs["info"] == {"k": 2}
    assert attrs["stage"] == "stimuli" and attrs["stimset"] == "demo"
    assert "neuroalign_version" in attrs


def test_write_refuses_an_invalid_table_and_leaves_nothing(tmp_path):
    table = _table()
    table.loc[2, "onset"] = 0.0
    with pytest.raises(NeuroalignError, match="not monotonic"):
        write_table(table, tmp_path / "bad.parquet")
    assert not list(tmp_path.iterdir())


def test_read_table_errors(tmp_path):
    with pytest.raises(NeuroalignError, match="stimulus table not found"):
        read_table(tmp_path / "none.parquet")
    plain = tmp_path / "plain.parquet"
    _table().to_parquet(plain)
    with pytest.raises(NeuroalignError, match="no neuroalign provenance"):
        read_table(plain)
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(NeuroalignError, match="not a readable parquet file"):
        read_table(junk)


def test_registry_resolves_every_reader():
    for name, reader in READERS.items():
        assert callable(reader.func), name
        assert "stimset" in reader.options(), name


def test_get_reader_suggests():
    with pytest.raises(NeuroalignError, match="Did you mean 'megmasc'"):
        get_reader("megmas")


def _schema_options(reader):
    """The options the schema declares for ``reader``: name -> (property schema)."""
    entry = load_schema("config")["properties"]["stimuli"]["additionalProperties"]
    assert set(entry["properties"]["reader"]["enum"]) == set(READERS)
    for part in entry["allOf"]:
        cond = part["if"]["properties"]["reader"]
        if reader in cond.get("enum", [cond.get("const")]):
            return part["then"]["properties"]["options"]["properties"]
    raise AssertionError(f"the schema declares no options for reader {reader!r}")


@pytest.mark.parametrize("reader", list(READERS))
def test_schema_declares_every_reader_option_with_its_default(reader):
    declared = _schema_options(reader)
    signature = {k: v for k, v in READERS[reader].options().items() if k != "stimset"}
    assert set(declared) == set(signature)
    for name, default in signature.items():
        schema_default = declared[name]["default"]
        plain = list(default) if isinstance(default, tuple) else default
        assert schema_default == plain, (reader, name)
        assert "description" in declared[name], (reader, name)


def _settings(**entry):
    return StimuliSettings.from_config({"dataset": "ds", **entry}, source="stimuli.x")


def test_settings_fill_typed_reader_options():
    assert _settings(reader="natural_stories").options == {"shift": 1}
    assert _settings(reader="natural_stories", options={"shift": 0}).options == {"shift": 0}
    assert _settings(reader="langloc", options={"lowercase": True}).options == {"lowercase": True}
    bids = _settings(reader="bids_events", options={"subject": "01", "keep_columns": ["a", "b"]})
    assert bids.options["subject"] == "01" and bids.options["keep_columns"] == ["a", "b"]
    assert bids.options["trial_type"] == "word" and bids.options["condition_column"] is None
    assert _settings(reader="pereira2018").options == {}


@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        ({"reader": "natural_stories", "options": {"shfit": 1}}, r"'options\.shfit'.*'shift'"),
        ({"reader": "natural_stories", "options": {"shift": "one"}}, r"'options\.shift'.*integer"),
        ({"reader": "langloc", "options": {"lowercase": "maybe"}}, r"'options\.lowercase'"),
        ({"reader": "bids_events", "options": {"subject": 1}}, r"'options\.subject'.*string"),
        ({"reader": "pereira2018", "options": {"shift": 1}}, r"'options\.shift'; no keys"),
        ({"reader": "bids_evnts"}, r"field 'reader'"),
        ({"reader": "langloc", "optoins": {}}, r"unknown key 'optoins'.*Did you mean 'options'"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_field(entry, pattern):
    with pytest.raises(NeuroalignError, match=rf"^stimuli\.x: .*{pattern}") as err:
        _settings(**entry)
    assert len(str(err.value).splitlines()) == 1


def test_settings_round_trip(tmp_path):
    settings = _settings(reader="bids_events", files=["a.tsv"], options={"trial_type": ["x"]})
    assert settings.files == ("a.tsv",)
    path = write_settings(settings, tmp_path / "s.json")
    assert read_settings(StimuliSettings, path) == settings
    assert dataclasses.replace(settings, reader="tom") != settings


def test_run_reader_binds_inputs_by_suffix(tmp_path):
    odd = tmp_path / "x.csv"
    odd.write_text("a\n")
    with pytest.raises(NeuroalignError, match=r"takes files ending in \['.tsv', '.txt'\]"):
        run_reader("megmasc", [odd])
    events = tmp_path / "e.tsv"
    events.write_text("onset\n")
    with pytest.raises(NeuroalignError, match="needs --input for 'text'"):
        run_reader("megmasc", [events])
    with pytest.raises(NeuroalignError, match="input not found"):
        run_reader("megmasc", [tmp_path / "missing.tsv"])
    with pytest.raises(NeuroalignError, match="needs --input"):
        run_reader("pereira2018", [])


def _cli(argv):
    parser = argparse.ArgumentParser()
    cli_stimuli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["stimuli", *argv])
    args.func(args)


def test_cli_lists_readers(capsys):
    _cli(["--list-readers"])
    out = capsys.readouterr().out
    for name in READERS:
        assert name in out
    assert "shift=1" in out


def test_cli_writes_a_table(tmp_path, capsys):
    csv = tmp_path / "sentences.csv"
    csv.write_text(",Sentence,EffectSize\n0,A cat sat.,0.5\n1,Dogs bark.,1.25\n")
    out = tmp_path / "results" / "p.parquet"
    settings = write_settings(
        {"dataset": "pereira2018", "reader": "pereira2018"}, tmp_path / "s.json"
    )
    argv = [
        "--settings",
        str(settings),
        "--input",
        str(csv),
        "--stimset",
        "p",
        "--output",
        str(out),
    ]
    _cli(argv)
    assert "wrote 2 rows" in capsys.readouterr().out
    df, attrs = read_table(out)
    assert df["stimset"].unique().tolist() == ["p"]
    assert df["effect_size"].tolist() == [0.5, 1.25]
    assert attrs["reader"] == "pereira2018"


def test_cli_reports_missing_arguments():
    with pytest.raises(NeuroalignError, match="missing --input, --stimset, --output"):
        _cli(["--settings", "s.json"])
    with pytest.raises(NeuroalignError, match="missing --settings"):
        _cli(["--input", "x", "--stimset", "x", "--output", "x.parquet"])


def test_stage_function_reads_with_typed_options(tmp_path):
    csv = tmp_path / "sentences.csv"
    csv.write_text(",Sentence,EffectSize\n0,A cat sat.,0.5\n")
    settings = StimuliSettings.from_config({"dataset": "p", "reader": "pereira2018"})
    out = build_stimuli(settings, inputs=[csv], stimset="p", output=tmp_path / "p.parquet")
    df, attrs = read_table(out)
    assert len(df) == 1 and attrs["reader"] == "pereira2018" and attrs["options"] == {}
    assert attrs["dataset"] == "p"  # the table records the dataset it was read from
