"""Image+text prompts through a LLaVA-style model, and models sharded with accelerate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import make_llama, make_llava, make_llava_processor

from neuroalign.models.extract import Extractor
from neuroalign.models.store import extract_dataset
from neuroalign.models.vision import collate_prompts, prepare_prompts


@pytest.fixture
def prompts():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    texts = ["a cat", "the dog barked loudly at the postman", "<image> hello"]
    return pd.DataFrame({"item": np.arange(3), "text": texts}), images


def _llava(minilm_dir, side="right"):
    processor = make_llava_processor(minilm_dir, side)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    return make_llava(image_id, len(processor.tokenizer)), processor


def test_llava_resid_equals_hidden_states(minilm_dir, prompts):
    table, images = prompts
    model, processor = _llava(minilm_dir)
    ex = Extractor(model, processor, units="resid", pooling="last", batch_size=3)
    assert ex.arch.stack == "model.language_model.layers"
    ds = extract_dataset(ex, table, images=images)
    norm = model.model.language_model.norm
    for i, text in enumerate(table["text"]):
        prompt = text if "<image>" in text else f"<image>\n{text}"
        enc = processor(text=[prompt], images=[images[i]], return_tensors="pt")
        assert int((enc["input_ids"] == model.config.image_token_index).sum()) == 16
        assert ds["n_tokens"].values[i] == enc["input_ids"].shape[1]
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
            for layer in range(3):
                got = torch.as_tensor(ds["resid"].values[i, layer])
                got = norm(got) if layer == 2 else got
                np.testing.assert_allclose(got, hidden[layer + 1][0, -1], atol=1e-5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_llava_batched_equals_one_at_a_time(minilm_dir, prompts, side):
    table, images = prompts
    model, processor = _llava(minilm_dir, side)
    kwargs = dict(units="resid,head_out,mlp_neuron", pooling="mean")
    one = extract_dataset(Extractor(model, processor, batch_size=1, **kwargs), table, images=images)
    three = extract_dataset(
        Extractor(model, processor, batch_size=3, **kwargs), table, images=images
    )
    for name in ("resid", "head_out", "mlp_neuron"):
        np.testing.assert_allclose(three[name], one[name], atol=1e-5, err_msg=name)
        assert np.isfinite(three[name].values).all()


def test_prompts_pad_on_the_tokenizer_side(minilm_dir, prompts):
    table, images = prompts
    _, processor = _llava(minilm_dir)
    inputs = prepare_prompts(processor, images, list(table["text"]), np.arange(3))
    assert all(
        (x.input_ids == processor.tokenizer.convert_tokens_to_ids("<image>")).sum() == 16
        for x in inputs
    )
    lengths = [len(x) for x in inputs]
    for side in ("left", "right"):
        batch, plan = collate_prompts(inputs, 0, side)
        mask = batch["attention_mask"].numpy()
        np.testing.assert_array_equal(mask.sum(1), lengths)
        short = int(np.argmin(lengths))
        assert mask[short, 0 if side == "left" else -1] == 0
        assert plan.last[short] % plan.seq_len == (
            plan.seq_len - 1 if side == "left" else lengths[short] - 1
        )
        np.testing.assert_array_equal(
            batch["position_ids"].numpy()[mask == 1].max(), max(lengths) - 1
        )


def test_model_sharded_with_accelerate_gives_the_same_arrays(tmp_path, tokenizer, story_table):
    from accelerate import dispatch_model

    from neuroalign.models.sources import load_model

    units = "resid,mlp_out,head_out"
    kwargs = dict(units=units, context="words:3", batch_size=4)
    model = make_llama()
    expected = extract_dataset(Extractor(model, tokenizer, **kwargs), story_table)
    # Loaded with a device map (all on the CPU here, through accelerate's loader).
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    loaded, processor, _ = load_model(f"path:{tmp_path / 'm'}", device_map="auto")
    got = extract_dataset(Extractor(loaded, processor, **kwargs), story_table)
    np.testing.assert_array_equal(got["resid"].values, expected["resid"].values)
    # Blocks 1 and 2 live on disk and are brought in by accelerate's hooks at each forward.
    device_map = {
        "embed_tokens": "cpu",
        "rotary_emb": "cpu",
        "layers.0": "cpu",
        "layers.1": "disk",
        "layers.2": "disk",
        "norm": "cpu",
    }
    sharded = dispatch_model(
        make_llama(), device_map=device_map, main_device="cpu", offload_dir=tmp_path / "off"
    )
    assert sharded.layers[1].self_attn.q_proj.weight.device.type == "meta"
    got = extract_dataset(Extractor(sharded, tokenizer, **kwargs), story_table)
    for name in units.split(","):
        np.testing.assert_array_equal(got[name].values, expected[name].values, err_msg=name)
