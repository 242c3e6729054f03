"""The extract stage finds an image table's images under the root its provenance records."""

import pandas as pd

from neuroalign.data.stimuli import standardize, write_table
from neuroalign.models.stage import _image_root


def _table(info):
    rows = {"text": ["a red circle"], "story": ["im0"], "position": [0]}
    rows.update(image_id=["im0"], image=["images/im0.png"])
    return standardize(pd.DataFrame(rows), stimset="imgs", reader="images", info=info)


def test_relative_images_resolve_against_the_recorded_root(tmp_path):
    path = write_table(_table({"image_root": str(tmp_path / "dataset")}), tmp_path / "t.parquet")
    assert _image_root(path) == tmp_path / "dataset"


def test_without_a_recorded_root_the_tables_folder(tmp_path):
    path = write_table(_table({}), tmp_path / "sub" / "t.parquet")
    assert _image_root(path) == tmp_path / "sub"
