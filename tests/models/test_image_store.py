"""The contract of an image activation store: item x layer x unit, items named by ``image_id``.

The extract stage runs a vision tower over the simulated image table (as the workflow does);
the vision stages find each image's row of the store by its ``image_id``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuroalign.data.simulate import SimVisionSettings, simulate_vision_images
from neuroalign.data.stimuli import StimuliSettings, build_stimuli, read_table
from neuroalign.models.random_init import build_model, init_model
from neuroalign.models.stage import ExtractSettings, extract
from neuroalign.results import open_activations
from neuroalign.vision.encode import match_images, read_image_features


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The store of a tiny CLIP vision tower (resid and embeds) over 7 simulated images."""
    tmp = tmp_path_factory.mktemp("image_store")
    images = simulate_vision_images(
        tmp / "sim_vision",
        SimVisionSettings.from_config({"n_train": 5, "n_test": 2, "image_size": 40}),
    )
    stimuli = build_stimuli(
        StimuliSettings.from_config(
            {"dataset": "sim_vision", "reader": "images", "files": ["images.tsv"]}
        ),
        inputs=[images / "images.tsv"],
        stimset="sim_vision",
        output=tmp / "stimuli" / "sim_vision.parquet",
    )
    model_dir = init_model("clip-vision-tiny", tmp / "models" / "tiny_clip", seed=0)
    settings = ExtractSettings.from_config(
        {
            "model": {
                "source": f"path:{model_dir}",
                "tower": "vision",
                "units": ["resid", "embeds"],
                "device": "cpu",
                "batch_size": 3,
            },
            "pooling": "first",
        }
    )
    out = extract(settings, stimuli=stimuli, output=tmp / "acts" / "tiny_clip" / "sim_vision.zarr")
    table, _ = read_table(stimuli)
    return out, table, images


def test_items_carry_the_tables_image_ids_as_strings(store):
    path, table, _ = store
    ds = open_activations(path)
    try:
        assert ds["resid"].dims == ("item", "layer", "resid_unit")
        assert ds["embeds"].dims == ("item", "embeds_unit")
        assert ds["image_id"].dims == ("item",)
        ids = ds["image_id"].values
        assert ids.dtype.kind in "OUT" and all(isinstance(i, str) for i in ids.tolist())
        assert ids.tolist() == table["image_id"].tolist()
        assert len(set(ids.tolist())) == len(table) == ds.sizes["item"]
        # The table's other image columns come along; the image file paths stay relative.
        assert ds["image"].values.tolist() == table["image"].tolist()
        assert ds["split"].values.tolist() == table["split"].tolist()
        assert (ds["n_tokens"].values == 64).all()  # 64x64 pixels in 8x8 patches
        assert np.isfinite(ds["resid"].values).all()
    finally:
        ds.close()


def test_vision_stages_match_images_by_id(store):
    """What vision.encode reads: every layer's features and the ids, rows found by id."""
    path, table, _ = store
    features, ids = read_image_features(path, "resid", "all")
    assert list(features) == ["0", "1", "2", "3"]
    assert ids.tolist() == table["image_id"].tolist()
    wanted = table["image_id"].to_numpy()[::-1]
    rows = match_images(ids, wanted, str(path))
    np.testing.assert_array_equal(rows, np.arange(len(table))[::-1])
    embeds, _ = read_image_features(path, "embeds", "all")
    assert list(embeds) == ["all"] and embeds["all"].shape == (len(table), 32)


def test_store_rows_are_the_models_states_of_each_image_file(store):
    """Each item's row is the tower's CLS state of the image file its table row names
    (resolved against the dataset folder the table records)."""
    path, table, images = store
    model, processor = build_model("clip-vision-tiny", seed=0)
    pictures = [np.asarray(Image.open(images / p).convert("RGB")) for p in table["image"]]
    pixels = processor(images=pictures, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels, output_hidden_states=True)
    ds = open_activations(path)
    try:
        resid = ds["resid"].values
        for layer in range(4):
            np.testing.assert_allclose(
                resid[:, layer], out.hidden_states[layer + 1][:, 0], atol=1e-5
            )
        np.testing.assert_allclose(ds["embeds"].values, out.image_embeds, atol=1e-5)
    finally:
        ds.close()
