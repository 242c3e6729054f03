"""Reconstruction through a tiny random unCLIP pipeline: images, seeds, batches, best-of-n."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("diffusers")

from neuroalign._check import NeuroalignError
from neuroalign.results import write_netcdf
from neuroalign.vision.reconstruct import (
    ReconstructSettings,
    _id_key,
    best_of_n,
    read_predictions,
    read_recons,
    reconstruct,
    seed_table,
)
from neuroalign.vision.unclip import (
    build_tiny_unclip,
    embed_images,
    generate,
    load_pipeline,
    save_tiny_unclip,
)

SIZE = 32


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The tiny UNet is far faster on one thread than on threads that contend for busy cores.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return build_tiny_unclip(image_size=SIZE, workdir=tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def embeds():
    return np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)


def test_images_are_finite_and_of_the_right_size(pipe, embeds):
    images = generate(pipe, embeds[:2], [1, 2], steps=2)
    assert images.shape == (2, SIZE, SIZE, 3)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert pipe.image_encoder.config.projection_dim == 32


def test_same_seed_same_image_different_seed_differs(pipe, embeds):
    a = generate(pipe, embeds[:1], [7], steps=2)
    b = generate(pipe, embeds[:1], [7], steps=2)
    c = generate(pipe, embeds[:1], [8], steps=2)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_batch_equals_one_at_a_time(pipe, embeds):
    seeds = [11, 12, 13]
    batched = generate(pipe, embeds, seeds, steps=2, batch_size=3)
    single = generate(pipe, embeds, seeds, steps=2, batch_size=1)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_embedding_conditions_the_image(pipe, embeds):
    a = generate(pipe, embeds[:1], [5], steps=2)
    b = generate(pipe, embeds[1:2], [5], steps=2)
    assert np.abs(a - b).max() > 1e-4


def test_seed_table_is_a_function_of_base_image_id_and_sample():
    table = seed_table(["a", "b", "c"], 2, base_seed=4)
    assert list(table["index"]) == [0, 0, 1, 1, 2, 2]
    assert list(table["sample"]) == [0, 1] * 3
    assert table["seed"].is_unique
    rows = zip("aabbcc", table.itertuples(), strict=True)
    seeds = {(id_, row.sample): row.seed for id_, row in rows}
    # More samples, other images, another order: every image keeps its seeds.
    other = seed_table(["z", "c", "a", "y", "b"], 4, base_seed=4)
    ids = np.array(["z", "c", "a", "y", "b"])[other["index"]]
    for id_, row in zip(ids, other.itertuples(), strict=True):
        if (id_, row.sample) in seeds:
            assert seeds[(id_, row.sample)] == row.seed
    assert not set(seed_table(["a", "b", "c"], 2, base_seed=5)["seed"]) & set(table["seed"])
    # Known value: the key is the id text's SHA-256, the same in every process.
    first = np.random.SeedSequence([4, _id_key("a"), 0]).generate_state(1)[0]
    assert table["seed"].iloc[0] == first
    assert _id_key("a") == int.from_bytes(hashlib.sha256(b"a").digest()[:8], "little")
    with pytest.raises(NeuroalignError, match="unique"):
        seed_table(["a", "a"], 1)


def test_best_of_n_picks_the_maximum_per_group():
    cos = np.array([0.1, 0.5, 0.3, np.nan, -0.2, -0.1])
    groups = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(best_of_n(cos, groups), [0, 1, 0, 0, 0, 1])


def _decode_nc(path, embeds, ids, split):
    ds = xr.Dataset(
        {"pred": (("image", "embed"), embeds), "true": (("image", "embed"), embeds)},
        coords={"image_id": ("image", ids), "split": ("image", split)},
    )
    return write_netcdf(ds, path)


def test_read_predictions_of_the_decoding_layout(tmp_path, embeds):
    # decode.nc: pred over the test images (dim image_test, image_id beside it), split over all.
    ds = xr.Dataset(
        {"pred": (("image_test", "dim"), embeds), "split": (("image",), ["train", "test"] * 2)},
        coords={"image_test": ["x", "y", "z"], "image": list("abcd"), "dim": np.arange(32)},
    )
    ds["image_id"] = ds["image_test"]
    pred, ids = read_predictions(write_netcdf(ds, tmp_path / "decode.nc"))
    assert list(ids) == ["x", "y", "z"]
    np.testing.assert_array_equal(pred, embeds)


def test_read_predictions_keeps_the_split(tmp_path, embeds):
    path = _decode_nc(tmp_path / "decode.nc", embeds, ["a", "b", "c"], ["train", "test", "test"])
    pred, ids = read_predictions(path)
    assert list(ids) == ["b", "c"]
    np.testing.assert_array_equal(pred, embeds[1:])
    with pytest.raises(NeuroalignError, match="no variable"):
        read_predictions(path, variable="nope")


def test_stage_writes_pngs_table_and_provenance(tmp_path, pipe, embeds):
    from PIL import Image

    decode = _decode_nc(tmp_path / "decode.nc", embeds, ["a", "b", "c"], ["test"] * 3)
    truth_dir = tmp_path / "images"
    truth_dir.mkdir()
    for name in "abc":
        Image.new("RGB", (16, 16), (10, 20, 30)).save(truth_dir / f"{name}.png")
    stimuli = tmp_path / "stim.parquet"
    pd.DataFrame({"image_id": list("abc"), "image": [f"images/{n}.png" for n in "abc"]}).to_parquet(
        stimuli
    )
    # An injected embedder that makes sample 1 of every image the closest to the prediction.
    calls = {}

    def embedder(images):
        calls["n"] = len(images)
        out = -np.repeat(embeds, 3, axis=0)
        out[1::3] *= -1
        return out

    settings = ReconstructSettings.from_config(
        {"n_samples": 3, "steps": 2, "seed": 3, "batch_size": 9}
    )
    out = reconstruct(
        settings,
        decode=decode,
        output=tmp_path / "recon",
        pipeline=pipe,
        stimuli=stimuli,
        embedder=embedder,
    )
    table, meta = read_recons(out)
    assert calls["n"] == 9 and len(table) == 9
    assert list(table.columns) == [
        "image_id",
        "index",
        "sample",
        "seed",
        "path",
        "cosine",
        "chosen",
        "truth",
    ]
    pd.testing.assert_frame_equal(
        table[["index", "sample", "seed"]],
        seed_table(table["image_id"].unique(), 3, base_seed=3),
        check_dtype=False,
    )
    assert list(table.loc[table["chosen"], "sample"]) == [1, 1, 1]
    np.testing.assert_allclose(table.loc[table["chosen"], "cosine"], 1.0, atol=1e-6)
    for rel in table["path"]:
        with Image.open(out / rel) as img:
            assert img.size == (SIZE, SIZE)
    assert (out / "truth" / "a.png").is_file()
    assert set(meta["libraries"]) >= {"torch", "diffusers"}
    assert meta["stage"] == "reconstruct" and meta["seed"] == "3"
    # The PNG of a sample is reproducible from its seed alone.
    row = table.iloc[4]
    again = generate(pipe, embeds[[row["index"]]], [int(row["seed"])], steps=2)
    again_png = tmp_path / "again.png"
    Image.fromarray(np.clip(np.round(again[0] * 255), 0, 255).astype(np.uint8)).save(again_png)
    digest = hashlib.sha256((out / row["path"]).read_bytes()).hexdigest()
    assert hashlib.sha256(again_png.read_bytes()).hexdigest() == digest


def test_batches_are_embedded_and_written_as_they_come(tmp_path, pipe, embeds):
    decode = _decode_nc(tmp_path / "decode.nc", embeds, ["a", "b", "c"], ["test"] * 3)
    sizes = []

    def embedder(images):
        sizes.append(len(images))
        return embed_images(pipe)(images)

    tables = {}
    for batch in (2, 9):
        settings = ReconstructSettings.from_config(
            {"n_samples": 3, "steps": 2, "seed": 1, "batch_size": batch}
        )
        out = reconstruct(
            settings, decode=decode, output=tmp_path / f"b{batch}", pipeline=pipe, embedder=embedder
        )
        tables[batch] = read_recons(out)[0]
    assert sizes == [2, 2, 2, 2, 1, 9]
    # A batch makes what smaller batches make (to float rounding: a pixel level at most).
    pd.testing.assert_frame_equal(tables[2], tables[9], check_exact=False, atol=1e-4)
    for rel in tables[2]["path"]:
        a = np.asarray(_png(tmp_path / "b2" / rel), np.int16)
        b = np.asarray(_png(tmp_path / "b9" / rel), np.int16)
        assert np.abs(a - b).max() <= 1


def test_predictions_of_another_size_than_the_pipeline_are_refused(tmp_path, pipe, embeds):
    decode = _decode_nc(tmp_path / "decode.nc", embeds[:, :16], ["a", "b", "c"], ["test"] * 3)
    settings = ReconstructSettings.from_config({"n_samples": 1, "steps": 2})
    with pytest.raises(NeuroalignError, match="16 values but the pipeline is conditioned on 32"):
        reconstruct(settings, decode=decode, output=tmp_path / "r", pipeline=pipe)
    assert not (tmp_path / "r").exists()


def test_truths_are_checked_before_any_image_is_made(tmp_path, pipe, embeds, caplog):
    import logging

    from PIL import Image

    decode = _decode_nc(tmp_path / "decode.nc", embeds, ["a", "b", "c"], ["test"] * 3)
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.png")
    stimuli = tmp_path / "stim.parquet"
    table = pd.DataFrame({"image_id": ["a", "b"], "image": ["images/a.png", "images/b.png"]})
    table.to_parquet(stimuli)
    settings = ReconstructSettings.from_config({"n_samples": 1, "steps": 2})
    made = []
    with pytest.raises(NeuroalignError, match="ground-truth image of 'b' not found"):
        reconstruct(
            settings,
            decode=decode,
            output=tmp_path / "r",
            pipeline=pipe,
            stimuli=stimuli,
            embedder=lambda im: made.append(im) or np.ones((len(im), 32)),
        )
    assert made == []
    table.iloc[:1].to_parquet(stimuli)
    with caplog.at_level(logging.WARNING, logger="neuroalign.vision.reconstruct"):
        out = reconstruct(
            settings, decode=decode, output=tmp_path / "r", pipeline=pipe, stimuli=stimuli
        )
    assert "2 images to reconstruct have no ground truth" in caplog.text
    assert read_recons(out)[0]["truth"].tolist() == ["truth/a.png", "", ""]
    pd.DataFrame({"image_id": ["q"], "image": ["images/a.png"]}).to_parquet(stimuli)
    with pytest.raises(NeuroalignError, match="none of the 3 images"):
        reconstruct(settings, decode=decode, output=tmp_path / "r2", pipeline=pipe, stimuli=stimuli)


def test_split_is_looked_up_through_the_image_ids(tmp_path, embeds):
    # decode.nc's layout: predictions of the test images, the split of every image beside them.
    ds = xr.Dataset(
        {
            "pred": (("image_test", "dim"), embeds),
            "split": (("image",), ["train", "test", "test", "test"]),
        },
        coords={"image_test": list("bcd"), "image": list("abcd"), "dim": np.arange(32)},
    )
    ds["image_id"] = ds["image_test"]
    path = write_netcdf(ds, tmp_path / "decode.nc")
    assert list(read_predictions(path, split="test")[1]) == ["b", "c", "d"]
    with pytest.raises(NeuroalignError, match=r"no prediction of a 'train' image.*holds test"):
        read_predictions(path, split="train")


def test_default_best_of_n_uses_the_pipeline_encoder(tmp_path, pipe, embeds):
    decode = _decode_nc(tmp_path / "decode.nc", embeds[:1], ["a"], ["test"])
    settings = ReconstructSettings.from_config({"n_samples": 2, "steps": 2})
    out = reconstruct(settings, decode=decode, output=tmp_path / "r", pipeline=pipe)
    table, _ = read_recons(out)
    images = np.stack([np.asarray(_png(out / p), np.float32) / 255 for p in table["path"]])
    feats = embed_images(pipe)(images)
    cos = feats @ embeds[0] / np.linalg.norm(feats, axis=1) / np.linalg.norm(embeds[0])
    np.testing.assert_allclose(table["cosine"], cos, atol=1e-3)
    assert table["chosen"].sum() == 1 and table.loc[table["chosen"], "cosine"].item() == max(
        table["cosine"]
    )


def _png(path):
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_saved_pipeline_loads_from_a_path_source(tmp_path, embeds):
    folder = save_tiny_unclip(tmp_path / "tiny_unclip", image_size=16)
    loaded = load_pipeline(f"path:{folder}", device="cpu", dtype="float32")
    images = generate(loaded, embeds[:1], [1], steps=2)
    assert images.shape == (1, 16, 16, 3) and np.isfinite(images).all()
    with pytest.raises(NeuroalignError, match=r"model_index\.json"):
        load_pipeline(f"path:{tmp_path}", device="cpu")
    with pytest.raises(NeuroalignError, match="hf:<id>"):
        load_pipeline("pypi:foo", device="cpu")


def test_image_encoder_from_a_saved_tower(tmp_path, embeds):
    from neuroalign.models.random_init import init_model

    tower = init_model("clip-vision-tiny", tmp_path / "tiny_clip", seed=5)
    pipe = build_tiny_unclip(image_encoder=tower, image_size=16, workdir=tmp_path)
    from transformers import CLIPVisionModelWithProjection

    ref = CLIPVisionModelWithProjection.from_pretrained(tower)
    for a, b in zip(pipe.image_encoder.parameters(), ref.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert generate(pipe, embeds[:1], [0], steps=2).shape == (1, 16, 16, 3)
