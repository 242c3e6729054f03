"""Vision towers beyond CLIP, the image embedding (``embeds``) and captions through text LMs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import make_clip, make_gpt2

from neuroalign._check import NeuroalignError
from neuroalign.models.extract import Extractor
from neuroalign.models.random_init import build_model
from neuroalign.models.store import extract_dataset


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(n)]


def _table(n):
    return pd.DataFrame({"item": range(n), "text": [f"a picture {i}" for i in range(n)]})


def _hidden(model, pixels):
    with torch.no_grad():
        return model(pixel_values=pixels, output_hidden_states=True).hidden_states


# n_prefix: tokens before the patches (CLS; DINOv2 also puts its register tokens there).
TOWERS = {"clip-vision-tiny": 1, "siglip-vision-tiny": 0, "dinov2-tiny": 1}


@pytest.mark.parametrize("name", sorted(TOWERS))
@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_tower_pooling_matches_its_hidden_states(name, pooling):
    model, processor = build_model(name, seed=0)
    images = _images(5)
    ex = Extractor(model, processor, tower="vision", pooling=pooling, batch_size=2)
    assert ex.arch.n_layers == model.config.num_hidden_layers
    got = extract_dataset(ex, _table(5), images=images)["resid"].values
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    hidden = _hidden(model, pixels)
    prefix = TOWERS[name]
    for layer in range(ex.arch.n_layers):
        block = hidden[layer + 1]
        want = block[:, 0] if pooling == "first" else block[:, prefix:].mean(1)
        np.testing.assert_allclose(got[:, layer], want, atol=1e-5)


def test_dinov2_patches_counted_from_the_processed_image():
    """DINOv2's config image_size (518 by default) is not the size it runs at."""
    model, processor = build_model(
        {
            "architecture": "Dinov2Model",
            "config": {
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "patch_size": 8,
                "image_size": 64,
            },
            "processor": {
                "class": "BitImageProcessor",
                "size": {"shortest_edge": 32},
                "crop_size": {"height": 32, "width": 32},
            },
        }
    )
    images = _images(2)
    ex = Extractor(model, processor, tower="vision", pooling="mean")
    ds = extract_dataset(ex, _table(2), images=images)
    assert (ds["n_tokens"].values == 16).all()
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    want = _hidden(model, pixels)[1][:, 1:].mean(1)
    np.testing.assert_allclose(ds["resid"].values[:, 0], want, atol=1e-5)


def test_embeds_equal_the_models_image_embeds():
    model, processor = build_model("clip-vision-tiny", seed=1)
    images = _images(5, seed=2)
    ex = Extractor(model, processor, tower="vision", units="resid,embeds", batch_size=2)
    ds = extract_dataset(ex, _table(5), images=images)
    assert ds["embeds"].dims == ("item", "embeds_unit")
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want = model(pixel_values=pixels).image_embeds
    np.testing.assert_allclose(ds["embeds"].values, want, atol=1e-5)
    assert ds["resid"].shape == (5, 4, 32)


def test_embeds_of_a_dual_encoder_equal_get_image_features():
    from transformers import CLIPImageProcessor

    model = make_clip(projection_dim=24)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    images = _images(3)
    ex = Extractor(model, processor, tower="vision", units="embeds")
    assert ex.arch.projection == "visual_projection"
    got = extract_dataset(ex, _table(3), images=images)["embeds"].values
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want = model.get_image_features(pixel_values=pixels)
    want = getattr(want, "pooler_output", want)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got.shape == (3, 24)


def test_embeds_need_an_image_projection():
    model, processor = build_model("dinov2-tiny")
    with pytest.raises(NeuroalignError, match="image projection"):
        Extractor(model, processor, tower="vision", units="embeds")


def test_text_lm_over_captions(tokenizer):
    """An image table's captions (its ``text``) through a text LM: the table's images are
    not read when the model has no vision tower and the table is given without them."""
    model = make_gpt2()
    table = _table(4)
    ex = Extractor(model, tokenizer, context="sentence", pooling="mean")
    ds = extract_dataset(ex, table)
    enc = tokenizer(table["text"][2], return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    # The item's own tokens, without the tokenizer's special tokens.
    np.testing.assert_allclose(ds["resid"][2, 0], hidden[1][0, 1:-1].mean(0), atol=1e-5)


@pytest.mark.parametrize("name", ["clip-vision-tiny", "siglip-vision-tiny", "dinov2-tiny"])
def test_images_at_the_processor_size_are_only_normalized(name):
    """uint8 images already at the output size skip the processor (normalized on the device)
    and give what the processor's pixels give."""
    from neuroalign.models.vision import pixel_norm

    model, processor = build_model(name, seed=0)
    size = model.config.image_size
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(3)]
    assert pixel_norm(processor, images) is not None
    assert pixel_norm(processor, [*images[:2], images[2][:-1]]) is None
    ex = Extractor(model, processor, tower="vision", pooling="mean", layers=[-1])
    got = extract_dataset(ex, _table(3), images=images)["resid"].values[:, 0]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    norm = pixel_norm(processor, images)
    uint8 = torch.from_numpy(np.stack(images))
    np.testing.assert_allclose(norm(uint8, torch.float32), pixels, atol=1e-5)
    prefix = TOWERS[name]
    want = _hidden(model, pixels)[-1][:, prefix:].mean(1)
    np.testing.assert_allclose(got, want, atol=1e-4)
