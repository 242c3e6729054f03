"""Real words "NA", "null" and "None" are words in every table the encode stages and the image
reader read; a missing image caption is an error naming the image, never the text "nan"."""

from __future__ import annotations

import ast
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.maskers import NiftiMasker

import neuroalign.data.vision
from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import SimVisionSettings, simulate_vision_images
from neuroalign.data.stimuli import run_reader
from neuroalign.encode import fmri, meg
from neuroalign.encode.bids import Recording, read_events
from neuroalign.encode.reading import READING_COLUMNS, READING_MEASURES, read_reading_report

WORDS = ["the", "NA", "null", "None", "nan", "n/a"]
EVENTS = (
    "onset\tduration\ttrial_type\tword\n"
    "0.0\t0.3\tword\tthe\n"
    "0.5\tn/a\tword\tNA\n"
    "1.0\t0.3\tword\tnull\n"
    "1.5\t0.3\tword\tNone\n"
    "2.0\tNA\tword\tnan\n"
    "2.5\t0.3\tword\tn/a\n"
)


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "sub-01_task-a_events.tsv"
    path.write_text(EVENTS, encoding="utf-8")
    return path


def test_bids_events_keep_words_and_missing_numbers(tmp_path):
    events = read_events(_events(tmp_path))
    assert events["word"].tolist() == WORDS
    assert events["duration"].dtype == float
    assert np.isnan(events["duration"].to_numpy()[[1, 4]]).all()


def test_the_fmri_stage_reads_its_events_words_as_words(tmp_path):
    bold = tmp_path / "sub-01_task-a_bold.nii.gz"
    data = np.random.default_rng(0).standard_normal((2, 2, 2, 4)).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    img = nib.Nifti1Image(data, affine)
    img.header.set_zooms((2.0, 2.0, 2.0, 1.5))
    nib.save(img, bold)
    mask = nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), affine)
    masker = NiftiMasker(mask_img=mask, standardize=None, reports=False).fit()
    runs, tr = fmri._read_runs([Recording("a", bold, _events(tmp_path))], masker)
    assert tr == 1.5 and runs[0].Y.shape == (4, 8)
    assert runs[0].words["word"].tolist() == WORDS


@pytest.mark.parametrize("module", [fmri, meg], ids=["fmri", "meg"])
def test_the_encode_stages_read_events_only_through_read_events(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    calls = [
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    ]
    names = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and hasattr(n.func, "id")]
    assert "read_csv" not in calls and "read_table" not in calls
    assert "read_events" in names


def test_the_reading_report_keeps_words_and_dots_are_missing(tmp_path):
    n = 4
    rows = []
    for reader in ("r1", "r2"):
        for i, word in enumerate(["NA", "null", "None", "cat"][:n]):
            row = {"participant_id": reader, "unique_paragraph_id": "p1", "IA_LABEL": word}
            row.update({c: float(i + 1) for c in READING_COLUMNS})
            row["IA_ID"] = i + 1
            row.update({c: 100.0 * (i + 1) for c in READING_MEASURES.values()})
            rows.append(row)
    rows[0][READING_MEASURES["first_fixation"]] = "."
    path = tmp_path / "ia.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    words = read_reading_report(path)
    assert words["IA_LABEL"].tolist() == ["NA", "null", "None", "cat"]
    # "." is a missing measure: the first word's mean is the other reader's value alone.
    assert words[READING_MEASURES["first_fixation"]].tolist() == [100.0, 200.0, 300.0, 400.0]
    assert words[READING_MEASURES["total_time"]].dtype == float


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("v") / "sim_vision"
    settings = SimVisionSettings.from_config({"n_train": 3, "n_test": 2, "image_size": 16})
    return simulate_vision_images(root, settings)


def _with_captions(images_dir, tmp_path, captions):
    table = pd.read_csv(images_dir / "images.tsv", sep="\t", keep_default_na=False)
    table["caption"] = captions
    table.to_csv(images_dir / "images.tsv", sep="\t", index=False)
    return table


def test_image_captions_na_null_none_are_words(images_dir, tmp_path):
    original = (images_dir / "images.tsv").read_bytes()
    try:
        _with_captions(images_dir, tmp_path, ["NA", "null", "None", "a cat", "a dog"])
        table = run_reader("images", [images_dir])
        assert table["text"].tolist() == ["NA", "null", "None", "a cat", "a dog"]
    finally:
        (images_dir / "images.tsv").write_bytes(original)


def test_an_empty_caption_is_an_error_naming_the_image(images_dir, tmp_path):
    original = (images_dir / "images.tsv").read_bytes()
    try:
        table = _with_captions(images_dir, tmp_path, ["a", "", "b", "c", "d"])
        with pytest.raises(NeuroalignError, match="has no caption") as info:
            run_reader("images", [images_dir])
        assert repr(table["image_id"].astype(str)[1]) in str(info.value)
        assert "1 images in all" in str(info.value) and "\n" not in str(info.value)
    finally:
        (images_dir / "images.tsv").write_bytes(original)


def test_a_missing_caption_never_becomes_the_text_nan(images_dir, monkeypatch):
    real = neuroalign.data.vision.read_image_table

    def with_nan(root, format="auto"):
        table = real(root, format=format)
        table["caption"] = table["caption"].astype(object)
        table.loc[2, "caption"] = np.nan
        return table

    monkeypatch.setattr(neuroalign.data.vision, "read_image_table", with_nan)
    with pytest.raises(NeuroalignError, match="has no caption"):
        run_reader("images", [images_dir])
    # A reader that does not present captions is unaffected.
    shapes = run_reader("images", [images_dir], options={"text_column": "shape"})
    assert "nan" not in shapes["text"].tolist()
