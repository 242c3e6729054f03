"""A LLaVA-style model's two stacks over image+text prompts, and a text LM over the captions of
the simulated image table: every pooled row equals the model's own states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tiny_models import make_gpt2, make_llava, make_llava_processor

from neuroalign.data.simulate import SimVisionSettings, simulate_vision_images
from neuroalign.data.stimuli import StimuliSettings, build_stimuli, read_table
from neuroalign.models.extract import Extractor
from neuroalign.models.stage import ExtractSettings, extract
from neuroalign.models.store import extract_dataset
from neuroalign.results import open_activations


@pytest.fixture(scope="module")
def image_table(tmp_path_factory):
    """The simulated image table (6 images with captions) as the stimuli stage writes it."""
    tmp = tmp_path_factory.mktemp("vlm")
    images = simulate_vision_images(
        tmp / "sim_vision",
        SimVisionSettings.from_config({"n_train": 4, "n_test": 2, "image_size": 40}),
    )
    path = build_stimuli(
        StimuliSettings.from_config(
            {"dataset": "sim_vision", "reader": "images", "files": ["images.tsv"]}
        ),
        inputs=[images / "images.tsv"],
        stimset="sim_vision",
        output=tmp / "stimuli" / "sim_vision.parquet",
    )
    table, _ = read_table(path)
    pictures = [np.asarray(Image.open(images / p).convert("RGB")) for p in table["image"]]
    return path, table, pictures


@pytest.fixture(scope="module")
def llava(minilm_dir):
    processor = make_llava_processor(minilm_dir)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    return make_llava(image_id, len(processor.tokenizer)), processor


def _block_outputs(model, stack, enc):
    """Each block's output (the residual stream after it) for one forward of ``enc``."""
    outputs = {}
    hooks = [
        block.register_forward_hook(
            lambda _m, _i, out, k=k: outputs.__setitem__(
                k, out[0] if isinstance(out, tuple) else out
            )
        )
        for k, block in enumerate(stack)
    ]
    try:
        with torch.no_grad():
            model(**enc)
    finally:
        for hook in hooks:
            hook.remove()
    return [outputs[k] for k in range(len(stack))]


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_llava_vision_tower_units_equal_its_hidden_states(llava, image_table, pooling):
    model, processor = llava
    _, table, pictures = image_table
    ex = Extractor(model, processor, tower="vision", pooling=pooling, batch_size=4)
    assert ex.arch.stack == "model.vision_tower.encoder.layers"
    ds = extract_dataset(ex, table, images=pictures)
    assert (ds["n_tokens"].values == 16).all()  # 32x32 pixels in 8x8 patches, after the CLS
    pixels = processor.image_processor(images=pictures, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True)
    for layer in range(2):
        block = hidden.hidden_states[layer + 1]
        want = block[:, 0] if pooling == "first" else block[:, 1:].mean(1)
        np.testing.assert_allclose(ds["resid"].values[:, layer], want, atol=1e-5)


def test_llava_language_units_pool_every_prompt_token(llava, image_table):
    """Mean pooling over a prompt: its image tokens and its caption's tokens, as the language
    model computes them on the whole prompt (image features spliced in)."""
    model, processor = llava
    _, table, pictures = image_table
    units = "embed,resid,attn_out,mlp_out"
    ex = Extractor(model, processor, units=units, pooling="mean", batch_size=4)
    ds = extract_dataset(ex, table, images=pictures)
    stack = model.model.language_model.layers
    for i, caption in enumerate(table["text"]):
        enc = processor(text=[f"<image>\n{caption}"], images=[pictures[i]], return_tensors="pt")
        assert ds["n_tokens"].values[i] == enc["input_ids"].shape[1] > 16
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        blocks = _block_outputs(model, stack, enc)
        for layer in range(3):
            want = blocks[layer][0].mean(0)
            np.testing.assert_allclose(ds["resid"].values[i, layer], want, atol=1e-5)
            if layer < 2:  # the last of hidden_states is after the final norm
                np.testing.assert_allclose(want, hidden[layer + 1][0].mean(0), atol=1e-6)
        # The stream's input (text embeddings with the projected image features spliced in),
        # and each block adding its attention and MLP outputs to it.
        embed = ds["embed"].values[i]
        np.testing.assert_allclose(embed, hidden[0][0].mean(0), atol=1e-6)
        before = np.vstack([embed, ds["resid"].values[i, :-1]])
        added = ds["attn_out"].values[i] + ds["mlp_out"].values[i]
        np.testing.assert_allclose(ds["resid"].values[i] - before, added, atol=1e-5)


def test_llava_prompts_through_the_extract_stage(tmp_path, llava, image_table):
    """The stage reads the image table's files and captions and writes prompt units whose
    rows equal the in-memory extraction of the same images."""
    model, processor = llava
    path, table, pictures = image_table
    model.save_pretrained(tmp_path / "llava")
    processor.save_pretrained(tmp_path / "llava")
    settings = ExtractSettings.from_config(
        {
            "model": {"source": f"path:{tmp_path / 'llava'}", "device": "cpu", "batch_size": 4},
            "pooling": "last",
        }
    )
    out = extract(settings, stimuli=path, output=tmp_path / "llava.zarr")
    ds = open_activations(out)
    try:
        assert ds["image_id"].values.tolist() == table["image_id"].tolist()
        got = ds["resid"].values
    finally:
        ds.close()
    want = extract_dataset(Extractor(model, processor, pooling="last"), table, images=pictures)
    np.testing.assert_allclose(got, want["resid"].values, atol=1e-5)


def test_text_lm_over_the_captions_of_the_image_table(tmp_path, tokenizer, image_table):
    """A text LM on the simulated image table: the image files are not read, each caption
    (the ``text`` column) is one input, and the rows keep the table's image ids."""
    path, table, _ = image_table
    model = make_gpt2()
    model.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    settings = ExtractSettings.from_config(
        {"model": {"source": f"path:{tmp_path / 'gpt2'}", "device": "cpu"}, "pooling": "mean"}
    )
    out = extract(settings, stimuli=path, output=tmp_path / "captions.zarr")
    ds = open_activations(out)
    try:
        assert ds["image_id"].values.tolist() == table["image_id"].tolist()
        resid = ds["resid"].values
    finally:
        ds.close()
    assert table["text"].str.startswith("a ").all()
    for i, caption in enumerate(table["text"]):
        enc = tokenizer(caption, return_tensors="pt", return_token_type_ids=False)
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        # The caption's own tokens, without the tokenizer's special tokens.
        for layer in range(2):
            np.testing.assert_allclose(
                resid[i, layer], hidden[layer + 1][0, 1:-1].mean(0), atol=1e-5
            )


def test_images_given_to_a_text_lm_are_refused(tokenizer):
    """Images passed explicitly still mean prompts: a text LM's tokenizer cannot make them."""
    from neuroalign._check import NeuroalignError

    table = pd.DataFrame({"item": [0], "text": ["a red circle"]})
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(NeuroalignError, match="takes no images"):
        extract_dataset(Extractor(make_gpt2(), tokenizer), table, images=[image])
