"""Faults: an output folder that is not the stage's own is never deleted.

``simulate --output DIR`` and ``extract --output DIR`` replace their whole folder; pointed at a
folder of the user's (a home folder, a dataset), they refuse in one line and leave every file
in place. Their own earlier output (complete or partial) is still replaced or resumed.
"""

from __future__ import annotations

import json

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.models.store import check_store_output
from neuroalign.results import check_replaceable


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "my thesis"
    (folder / "chapter").mkdir(parents=True)
    (folder / "chapter" / "draft.tex").write_text("years of work")
    (folder / "notes.txt").write_text("keep me")
    return folder


def _intact(folder) -> None:
    assert (folder / "chapter" / "draft.tex").read_text() == "years of work"
    assert (folder / "notes.txt").read_text() == "keep me"


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("kind", ["eyetracking", "localizer", "fmri", "meg", "vision"])
def test_simulate_refuses_a_folder_it_did_not_write(kind, user_folder, capsys):
    code = main(["simulate", kind, "--output", str(user_folder)])
    assert code == 2
    _one_line_error(capsys, str(user_folder), "not empty", "pick a new or empty folder")
    _intact(user_folder)


def test_simulate_vision_images_refuses_a_user_folder(user_folder, capsys):
    (user_folder / "images").mkdir()
    (user_folder / "images" / "holiday.jpg").write_bytes(b"\xff\xd8photo")
    assert main(["simulate", "vision-images", "--output", str(user_folder)]) == 2
    _one_line_error(capsys, str(user_folder), "sim_vision")
    _intact(user_folder)
    assert (user_folder / "images" / "holiday.jpg").read_bytes() == b"\xff\xd8photo"


def test_simulate_replaces_its_own_earlier_output(tmp_path, capsys):
    out = tmp_path / "sim_eyetracking"
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"n_readers": 1, "stories": ["ferry"], "seed": 1}))
    argv = ["simulate", "eyetracking", "--settings", str(settings), "--output", str(out)]
    assert main(argv) == 0
    first = (out / "ia_report.csv").read_bytes()
    assert main(argv) == 0
    assert (out / "ia_report.csv").read_bytes() == first
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*argv[:-1], str(empty)]) == 0


def test_extract_refuses_a_folder_that_is_not_a_store(tmp_path, user_folder, capsys):
    settings = tmp_path / "extract.json"
    settings.write_text(json.dumps({"model": {"source": "path:/nonexistent/model"}}))
    stimuli = tmp_path / "stimuli.parquet"
    stimuli.write_bytes(b"")
    argv = ["extract", "--settings", str(settings), "--stimuli", str(stimuli)]
    assert main([*argv, "--output", str(user_folder)]) == 2
    _one_line_error(capsys, str(user_folder), "activation store")
    _intact(user_folder)


def test_extract_refuses_a_foreign_partial_folder(tmp_path, user_folder, capsys):
    partial = tmp_path / "acts.zarr.partial"
    user_folder.rename(partial)
    with pytest.raises(NeuroalignError, match="partial activation store"):
        check_store_output(tmp_path / "acts.zarr")
    _intact(partial)


def test_extract_accepts_its_own_stores(tmp_path):
    import xarray as xr

    store = tmp_path / "acts.zarr"
    xr.Dataset(attrs={"complete": "false"}).to_zarr(store, consolidated=False)
    check_store_output(store)  # an unfinished store of ours: replaced
    partial = tmp_path / "acts.zarr.partial"
    partial.mkdir()
    (partial / "progress.json").write_text("{}")
    check_store_output(store)  # a resumable partial store
    check_store_output(tmp_path / "new.zarr")


def test_a_file_is_never_replaced_by_a_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NeuroalignError, match="not a folder"):
        check_replaceable(target, owned=lambda p: True, flag="--output", what="thing")
    assert target.read_text() == "x"
