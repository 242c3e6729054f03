"""The stage functions from Python give what the command line gives, with the same defaults."""

import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr

from neuroalign.cli import main
from neuroalign.encode import (
    EncodeSettings,
    encode_eyetracking,
    encode_fmri,
    encode_meg,
    encode_sentences,
    encode_words,
)

QUICK = {"device": "cpu", "alphas": {"start": -1, "stop": 4, "num": 6}}
WORD_COLUMNS = {"measures": ["rt"], "baseline": ["length", "freq"], "group": "story"}


def same_result(a, b, *, config=True):
    """Two results are the same: every array and coordinate, and the provenance but its time
    and the settings file (which only the command line reads)."""
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        xr.testing.assert_identical(x.drop_attrs(), y.drop_attrs())
        skip = {"created", "config_file", "config_file_sha256"}
        skip |= set() if config else {"config", "config_hash"}
        assert {k: v for k, v in x.attrs.items() if k not in skip} == {
            k: v for k, v in y.attrs.items() if k not in skip
        }


def cli(kind, settings, *paths):
    assert main(["encode", kind, "--settings", str(settings), *map(str, paths)]) == 0
    out = paths[list(paths).index("--output") + 1]
    with xr.open_dataset(out) as ds:  # the command line records its settings file
        assert ds.attrs["config_file"] == str(settings.absolute())


@pytest.fixture(scope="module")
def fmri_entry(encode_entry):
    return encode_entry("fmri", **QUICK, options={"n_perm": 10})


def test_fmri_from_python_is_the_cli(sim_fmri, fmri_entry, settings_file, tmp_path, capsys):
    dataset, features, _ = sim_fmri
    out = encode_fmri(
        EncodeSettings.from_config(fmri_entry),
        activations=features,
        dataset=dataset,
        subject="01",
        output=tmp_path / "py.nc",
    )
    assert out == tmp_path / "py.nc" and (tmp_path / "py_maps" / "r.nii.gz").is_file()
    assert capsys.readouterr().out == ""  # a stage function prints nothing
    path = settings_file("fmri", **{k: v for k, v in fmri_entry.items() if k != "kind"})
    cli("fmri", path, "--activations", features, "--dataset", dataset, "--subject", "01",
        "--output", tmp_path / "cli.nc", "--maps", tmp_path / "maps")  # fmt: skip
    assert capsys.readouterr().out == f"wrote {tmp_path / 'cli.nc'} and {tmp_path / 'maps'}/\n"
    same_result(out, tmp_path / "cli.nc")
    for name in ("r", "q", "normalized"):
        a, b = (nib.load(d / f"{name}.nii.gz") for d in (tmp_path / "py_maps", tmp_path / "maps"))
        np.testing.assert_array_equal(a.get_fdata(), b.get_fdata())


def test_fmri_negative_layers_fit_their_positive_twins(sim_fmri, fmri_entry, tmp_path):
    dataset, features, _ = sim_fmri
    outputs = {}
    for name, layers in (("negative", [-1]), ("positive", [1])):
        settings = EncodeSettings.from_config({**fmri_entry, "layers": layers})
        outputs[name] = encode_fmri(
            settings,
            activations=features,
            dataset=dataset,
            subject="01",
            output=tmp_path / f"{name}.nc",
        )
    same_result(outputs["negative"], outputs["positive"], config=False)
    with xr.open_dataset(outputs["negative"]) as ds:
        assert ds["layer"].values.tolist() == ["1"]
        assert json.loads(ds.attrs["config"])["layers"] == [-1]


def test_meg_from_python_is_the_cli(sim_meg, encode_entry, settings_file, tmp_path):
    dataset, features, _, _ = sim_meg
    values = {**QUICK, "options": {"n_components": 1, "n_perm": 10, "tmin": 0.0, "tmax": 0.2}}
    out = encode_meg(
        EncodeSettings.from_config(encode_entry("meg", **values)),
        activations=features,
        dataset=dataset,
        subject="01",
        output=tmp_path / "py.nc",
    )
    assert (tmp_path / "py_trf-ave.fif").is_file()
    cli("meg", settings_file("meg", **values), "--activations", features, "--dataset", dataset,
        "--subject", "01", "--output", tmp_path / "cli.nc")  # fmt: skip
    same_result(out, tmp_path / "cli.nc")


def test_eyetracking_from_python_is_the_cli(sim_eyetracking, encode_entry, settings_file, tmp_path):
    dataset, features = sim_eyetracking
    report = dataset / "ia_report.csv"
    out = encode_eyetracking(
        EncodeSettings.from_config(encode_entry("eyetracking", **QUICK)),
        activations=features,
        report=report,
        output=tmp_path / "py.nc",
    )
    cli("eyetracking", settings_file("eyetracking", **QUICK), "--activations", features,
        "--report", report, "--output", tmp_path / "cli.nc")  # fmt: skip
    same_result(out, tmp_path / "cli.nc")


def test_sentences_from_python_is_the_cli(sentences, encode_entry, settings_file, tmp_path):
    values = {**QUICK, "options": {"n_perm": 9}}
    out = encode_sentences(
        EncodeSettings.from_config(encode_entry("sentences", **values)),
        activations=sentences / "acts.nc",
        stimuli=sentences / "t.parquet",
        output=tmp_path / "py.nc",
    )
    cli("sentences", settings_file("sentences", **values), "--activations",
        sentences / "acts.nc", "--stimuli", sentences / "t.parquet", "--output",
        tmp_path / "cli.nc")  # fmt: skip
    same_result(out, tmp_path / "cli.nc")
    # negative layers: the same sweep as their positive twins
    twin = encode_sentences(
        EncodeSettings.from_config(encode_entry("sentences", **values, layers=[-3, -2, -1])),
        activations=sentences / "acts.nc",
        stimuli=sentences / "t.parquet",
        output=tmp_path / "negative.nc",
    )
    same_result(out, twin, config=False)


def test_words_from_python_is_the_cli(words, encode_entry, settings_file, tmp_path):
    values = {**QUICK, "options": {**WORD_COLUMNS, "surprisal": ["surp"], "n_perm": 0}}
    out = encode_words(
        EncodeSettings.from_config(encode_entry("words", **values)),
        activations=words / "acts.nc",
        stimuli=words / "t.parquet",
        output=tmp_path / "py.nc",
    )
    cli("words", settings_file("words", **values), "--activations", words / "acts.nc",
        "--stimuli", words / "t.parquet", "--output", tmp_path / "cli.nc")  # fmt: skip
    same_result(out, tmp_path / "cli.nc")
    twin = encode_words(
        EncodeSettings.from_config(encode_entry("words", **values, layers=[-1])),
        activations=words / "acts.nc",
        stimuli=words / "t.parquet",
        output=tmp_path / "last.nc",
    )
    with xr.open_dataset(out) as full, xr.open_dataset(twin) as last:
        assert last["layer"].values.tolist() == ["1"]
        xr.testing.assert_identical(
            full["r2_gain"].sel(layer=["1"]).drop_attrs(), last["r2_gain"].drop_attrs()
        )
