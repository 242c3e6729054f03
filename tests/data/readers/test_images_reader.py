"""The `images` stimulus reader: image tables as stimulus tables, with their image root."""

from __future__ import annotations

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.simulate import SimVisionSettings, simulate_vision_images
from neuroalign.data.stimuli import StimuliSettings, build_stimuli, read_table, run_reader


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("v") / "sim_vision"
    settings = SimVisionSettings.from_config({"n_train": 6, "n_test": 3, "image_size": 16})
    return simulate_vision_images(root, settings)


def test_images_reader_writes_captions_and_image_root(images_dir, tmp_path):
    settings = StimuliSettings.from_config(
        {"dataset": "sim_vision", "reader": "images", "files": ["images.tsv"]}
    )
    out = build_stimuli(
        settings,
        inputs=[images_dir / "images.tsv"],
        stimset="sim_vision",
        output=tmp_path / "s.parquet",
    )
    df, attrs = read_table(out)
    assert len(df) == 9 and df["story"].nunique() == 9
    assert df["text"].iloc[0].startswith("a ") and df["text"].iloc[0] == df["caption"].iloc[0]
    assert {"image_id", "image", "shape", "split"} <= set(df.columns)
    assert attrs["image_root"] == str(images_dir.resolve())
    assert attrs["info"]["image_root"] == attrs["image_root"]
    assert (images_dir / df["image"].iloc[0]).is_file()


def test_images_reader_options(images_dir):
    test = run_reader("images", [images_dir], options={"split": "test", "text_column": "shape"})
    assert len(test) == 3 and set(test["text"]) <= {"circle", "square", "triangle", "cross"}
    with pytest.raises(NeuroalignError, match="no field 'label'"):
        run_reader("images", [images_dir], options={"text_column": "label"})
