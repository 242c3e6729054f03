"""Benchmark modes beyond causal word windows, each against its naive batched loop in one run.

* ``bidir``: a BERT-base-sized encoder over sentences and passages of mixed length (each row
  one input, mean pooling over its tokens, every layer). The naive loop batches rows in table
  order (padding to the longest of each batch) with ``output_hidden_states=True`` and the
  masked mean on the device; ours sorts each chunk by length, so padding is small.
* ``heads``: GPT-2 small over word windows, reading ``head_out`` (every head's output at the
  word, all layers) and ``attn_pattern`` (each head's attention to the last ``n_lags`` keys);
  ours runs SDPA attention and computes the kept rows' weights beside it
  (``--heads-attention eager``: every weight materialized), the naive loop takes eager
  attention with ``output_attentions=True`` and hooks the heads' mixed values (the input of
  the attention's output projection).
* ``vlm``: a LLaVA-style model (a ViT-B/16 CLIP tower, 196 image tokens, projected into a
  Llama-style 1.2B language model) over image+caption prompts, mean pooling of every
  language layer; the naive loop runs the processor and ``output_hidden_states=True``.

Every model is random-initialized from a config, bfloat16 on a GPU. The bound is the matmul
bound of ``benchmarks/extract.py`` (forward FLOPs of the real tokens, padding excluded, at the
bf16 rate measured on the model's own linear shapes). Ours runs eager and compiled, into
memory and into a Zarr store (float32 and bfloat16 storage).

Usage::

    python benchmarks/extract.py --mode bidir --rows 20000 --batch 256 --compile
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from extract import build_tokenizer, forward_flops, matmul_rate, profile_call, sync, vit_flops

VOCAB = 5000


def _words(rng: np.random.Generator, n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.2, n), VOCAB) - 1
    return [f"w{r}" for r in ranks]


def mixed_texts(n_rows: int, seed: int) -> pd.DataFrame:
    """Sentences (8 to 40 words) and, one row in ten, passages (100 to 300 words)."""
    rng = np.random.default_rng(seed)
    passage = rng.random(n_rows) < 0.1
    n_words = np.where(passage, rng.integers(100, 301, n_rows), rng.integers(8, 41, n_rows))
    texts = [" ".join(_words(rng, int(k))) for k in n_words]
    return pd.DataFrame({"item": np.arange(n_rows), "text": texts, "story": "0", "run": "1"})


def _vocab_tokenizer(extra: list[str] = ()):
    tokenizer = build_tokenizer([f"w{i}" for i in range(VOCAB)])
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": list(extra)})
    return tokenizer


def _timed(run) -> float:
    sync("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    run()
    sync("cuda" if torch.cuda.is_available() else "cpu")
    return time.perf_counter() - start


def _ours_runs(make, table, images, args, n_tokens) -> dict:
    """Ours eager and compiled, into memory and into Zarr (float32, bfloat16): tokens/s."""
    from neuroalign.models.store import extract_dataset, extract_to_zarr

    def memory(**kw):
        return _timed(lambda: extract_dataset(make(**kw), table, images=images))

    def zarr(**kw):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "a.zarr"
            attrs = {"model": "bench", "config_hash": "x"}
            seconds = _timed(
                lambda: extract_to_zarr(make(**kw), table, path, attrs=attrs, images=images)
            )
            shutil.rmtree(path)
        return seconds

    # Every variant is timed on a second pass: the first one's fixed costs (the pinned host
    # memory pool growing to the run's batches, first-touch pages) are reported apart.
    first_pass_s = memory()
    rates = {
        "ours": n_tokens / memory(),
        "ours_zarr": n_tokens / zarr(),
        "ours_zarr_bf16": n_tokens / zarr(storage_dtype="bfloat16"),
    }
    if args.compile:
        start = time.perf_counter()
        memory(compile=True)  # compiles every shape; not timed
        rates["compile_warmup_s"] = time.perf_counter() - start
        rates["ours_compiled"] = n_tokens / memory(compile=True)
        rates["ours_compiled_zarr"] = n_tokens / zarr(compile=True)
        rates["ours_compiled_zarr_bf16"] = n_tokens / zarr(compile=True, storage_dtype="bfloat16")
    rates["first_pass_s"] = first_pass_s
    if args.profile_dir is not None:  # where the eager run's time goes (host and kernels)
        profiled = profile_call(
            lambda: extract_dataset(make(), table, images=images), f"{args.mode}_eager", args
        )
        rates["profile"] = profiled
    return rates


def _report(mode: str, rates: dict, bound: float, unit: str, **extra) -> dict:
    warmup = rates.pop("compile_warmup_s", None)
    first_pass = rates.pop("first_pass_s")
    profiled = rates.pop("profile", None)
    out = {
        "mode": mode,
        f"{unit}_per_s": {k: round(float(v)) for k, v in rates.items()},
        f"bound_{unit}_per_s": round(float(bound)),
        "fraction_of_bound": {k: round(float(v / bound), 2) for k, v in rates.items()},
        "vs_batched_naive": {
            k: round(float(v / rates["batched_naive"]), 1) for k, v in rates.items()
        },
        "zarr_vs_memory": {
            k: round(float(rates[k] / rates[base]), 2)
            for k, base in (
                ("ours_zarr", "ours"),
                ("ours_zarr_bf16", "ours"),
                ("ours_compiled_zarr", "ours_compiled"),
                ("ours_compiled_zarr_bf16", "ours_compiled"),
            )
            if k in rates
        },
        **extra,
    }
    out["first_pass_s"] = round(first_pass, 2)
    if warmup is not None:
        out["compile_warmup_s"] = round(warmup, 1)
    if profiled is not None:
        out["profile"] = profiled
    return out


# -- bidirectional encoders over mixed lengths -----------------------------------------------
def bidir_run(args: argparse.Namespace) -> dict:
    import transformers

    from neuroalign.models.extract import Extractor

    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = mixed_texts(args.rows, args.seed)
    tokenizer = _vocab_tokenizer()
    config = transformers.BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512)
    with torch.device(device):
        model = transformers.BertModel._from_config(config, dtype=dtype).eval()
    enc = tokenizer(table["text"].tolist(), add_special_tokens=True)["input_ids"]
    lengths = np.array([len(x) for x in enc])

    def make(**kw):
        kw = {"units": "resid,embed", "context": "sentence", "pooling": "mean", **kw}
        return Extractor(model, tokenizer, batch_size=args.batch, **kw)

    rates = _ours_runs(make, table, None, args, lengths.sum())
    n_naive = min(args.naive_rows, len(enc))

    def naive_loop():
        model.set_attn_implementation("eager")  # the weights of output_attentions
        with torch.no_grad():
            for i in range(0, n_naive, args.naive_batch):
                batch = tokenizer(
                    table["text"].iloc[i : i + args.naive_batch].tolist(),
                    padding=True,
                    return_tensors="pt",
                ).to(device)
                out = model(**batch, output_hidden_states=True)
                mask = batch["attention_mask"].unsqueeze(-1).to(dtype)
                [((h * mask).sum(1) / mask.sum(1)).float().cpu() for h in out.hidden_states]

    rates["batched_naive"] = lengths[:n_naive].sum() / _timed(naive_loop)
    mm = matmul_rate(model, args.batch * int(lengths.mean()), device, dtype)
    bound = lengths.sum() / (forward_flops(model, lengths) / mm)
    padded = _padding_share(lengths, args.naive_batch)
    return _report(
        "bidir",
        rates,
        bound,
        "tokens",
        rows=len(table),
        tokens=int(lengths.sum()),
        mean_tokens=round(float(lengths.mean()), 1),
        naive_padding_share=round(padded, 2),
        matmul_tflops=round(mm / 1e12, 1),
        check=_check_bidir(model, tokenizer, table, device, dtype),
    )


def _padding_share(lengths: np.ndarray, batch: int) -> float:
    """Share of padded positions when rows are batched in table order."""
    total = sum(
        len(part) * part.max() for part in np.array_split(lengths, -(-len(lengths) // batch))
    )
    return 1 - lengths.sum() / total


def _check_bidir(model, tokenizer, table, device, dtype) -> dict:
    """Ours against each row run alone with ``output_hidden_states`` (mean over its tokens)."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    rows = table.iloc[:200]
    ds = extract_dataset(
        Extractor(model, tokenizer, units="resid", context="sentence", pooling="mean"), rows
    )
    worst, scale = 0.0, 0.0
    with torch.no_grad():
        for i, text in enumerate(rows["text"]):
            batch = tokenizer([text], return_tensors="pt").to(device)
            hidden = model(**batch, output_hidden_states=True).hidden_states[1:]
            want = torch.stack([h[0].float().mean(0) for h in hidden]).cpu().numpy()
            worst = max(worst, float(np.abs(ds["resid"].values[i] - want).max()))
            scale = max(scale, float(np.abs(want).max()))
    return {"max_abs_diff": worst, "scale": scale, "relative": worst / scale}


# -- heads and attention patterns ------------------------------------------------------------
def heads_run(args: argparse.Namespace) -> dict:
    import transformers
    from extract import corpus, windows

    from neuroalign.models.extract import Extractor

    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = corpus(args.rows, args.seed)
    tokenizer = build_tokenizer(table["text"].tolist())
    config = transformers.GPT2Config(vocab_size=50304)
    with torch.device(device):
        model = transformers.GPT2Model._from_config(
            config, dtype=dtype, attn_implementation=args.heads_attention
        ).eval()
    ids = windows(table, tokenizer, args.context)
    lengths = np.array([len(x) for x in ids])

    def make(**kw):
        kw = {"units": "head_out,attn_pattern", "context": f"words:{args.context}", **kw}
        return Extractor(model, tokenizer, batch_size=args.batch, n_lags=16, **kw)

    rates = _ours_runs(make, table, None, args, lengths.sum())
    n_naive = min(args.naive_rows, len(ids))
    mixed = []
    hooks = [
        block.attn.c_proj.register_forward_pre_hook(lambda m, a: mixed.append(a[0]))
        for block in model.h
    ]

    def naive_loop():
        model.set_attn_implementation("eager")  # the weights of output_attentions
        with torch.no_grad():
            for i in range(0, n_naive, args.naive_batch):
                chunk = ids[i : i + args.naive_batch]
                width = max(len(x) for x in chunk)
                x = torch.full((len(chunk), width), tokenizer.pad_token_id)
                mask = torch.zeros_like(x)
                for b, row in enumerate(chunk):
                    x[b, : len(row)] = torch.tensor(row)
                    mask[b, : len(row)] = 1
                mixed.clear()
                out = model(x.to(device), attention_mask=mask.to(device), output_attentions=True)
                last = torch.as_tensor(mask.sum(1) - 1, device=device)
                rows = torch.arange(len(chunk), device=device)
                [m[rows, last].float().cpu() for m in mixed]
                [a[rows, :, last].float().cpu() for a in out.attentions]

    try:
        rates["batched_naive"] = lengths[:n_naive].sum() / _timed(naive_loop)
    finally:
        for hook in hooks:
            hook.remove()
        model.set_attn_implementation(args.heads_attention)
    mm = matmul_rate(model, args.batch * int(lengths.mean()), device, dtype)
    bound = lengths.sum() / (forward_flops(model, lengths) / mm)
    return _report(
        "heads",
        rates,
        bound,
        "tokens",
        words=len(table),
        tokens=int(lengths.sum()),
        matmul_tflops=round(mm / 1e12, 1),
        check=_check_heads(model, tokenizer, table, ids, args.context),
    )


def _check_heads(model, tokenizer, table, ids, n_context: int, n_lags: int = 16) -> dict:
    """Ours (``head_out``, ``attn_pattern``) against each word's window run alone under eager
    attention: the projection's input at its last token read by a hook, and the last token's
    attention weights over the ``n_lags`` tokens before it (``output_attentions``)."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    n = 200
    ds = extract_dataset(
        Extractor(
            model,
            tokenizer,
            units="head_out,attn_pattern",
            context=f"words:{n_context}",
            n_lags=n_lags,
        ),
        table.iloc[:n],
    )
    device = next(model.parameters()).device
    mixed = []
    hooks = [
        block.attn.c_proj.register_forward_pre_hook(lambda m, a: mixed.append(a[0]))
        for block in model.h
    ]
    impl = model.config._attn_implementation
    worst, scale, worst_pattern = 0.0, 0.0, 0.0
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            for i in range(n):
                mixed.clear()
                out = model(torch.tensor([ids[i]], device=device), output_attentions=True)
                want = torch.stack([m[0, -1].float() for m in mixed]).cpu().numpy()
                worst = max(worst, float(np.abs(ds["head_out"].values[i] - want).max()))
                scale = max(scale, float(np.abs(want).max()))
                last = len(ids[i]) - 1
                keys = last - np.arange(n_lags)
                pattern = torch.stack([a[0, :, last].float() for a in out.attentions])
                pattern = pattern.cpu().numpy()[:, :, np.maximum(keys, 0)] * (keys >= 0)
                got = ds["attn_pattern"].values[i].reshape(pattern.shape)
                worst_pattern = max(worst_pattern, float(np.abs(got - pattern).max()))
    finally:
        for hook in hooks:
            hook.remove()
        model.set_attn_implementation(impl)
    return {
        "max_abs_diff": worst,
        "scale": scale,
        "relative": worst / scale,
        "attn_pattern_max_abs_diff": worst_pattern,
    }


# -- LLaVA-style image+text prompts ----------------------------------------------------------
def _llava(device: str, dtype: torch.dtype, vocab_size: int, image_token: int):
    import transformers

    vision = dict(
        model_type="clip_vision_model",
        num_hidden_layers=12,
        hidden_size=768,
        num_attention_heads=12,
        intermediate_size=3072,
        image_size=224,
        patch_size=16,
    )
    text = dict(
        model_type="llama",
        vocab_size=vocab_size,
        num_hidden_layers=16,
        hidden_size=2048,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        max_position_embeddings=2048,
    )
    config = transformers.LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with torch.device(device):
        model = transformers.LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    return model.eval()


def vlm_run(args: argparse.Namespace) -> dict:
    from transformers import CLIPImageProcessor, LlavaProcessor

    from neuroalign.models.extract import Extractor

    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    tokenizer = _vocab_tokenizer(["<image>"])
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224),
        tokenizer=tokenizer,
        patch_size=16,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    model = _llava(device, dtype, len(tokenizer), image_token)
    rng = np.random.default_rng(args.seed)
    n = args.rows
    images = list(rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8))
    captions = [" ".join(_words(rng, int(k))) for k in rng.integers(8, 33, n)]
    table = pd.DataFrame({"item": np.arange(n), "text": captions})
    prompts = [f"<image>\n{c}" for c in captions]
    lengths = np.array(
        [len(x) for x in tokenizer(prompts, add_special_tokens=True)["input_ids"]]
    ) + (196 - 1)  # the image token becomes 196 patch tokens

    def make(**kw):
        kw = {"units": "resid", "pooling": "mean", **kw}
        return Extractor(model, processor, batch_size=args.batch, **kw)

    rates = _ours_runs(make, table, images, args, lengths.sum())
    n_naive = min(args.naive_rows, n)

    def naive_loop():
        model.set_attn_implementation("eager")  # the weights of output_attentions
        with torch.no_grad():
            for i in range(0, n_naive, args.naive_batch):
                enc = processor(
                    text=prompts[i : i + args.naive_batch],
                    images=images[i : i + args.naive_batch],
                    padding=True,
                    return_tensors="pt",
                ).to(device)
                enc["pixel_values"] = enc["pixel_values"].to(dtype)
                out = model(**enc, output_hidden_states=True)
                mask = enc["attention_mask"].unsqueeze(-1).to(dtype)
                [((h * mask).sum(1) / mask.sum(1)).float().cpu() for h in out.hidden_states]

    rates["batched_naive"] = lengths[:n_naive].sum() / _timed(naive_loop)
    language = model.model.language_model
    mm = matmul_rate(language, args.batch * int(lengths.mean()), device, dtype)
    tower = model.model.vision_tower
    # LLaVA reads the tower's hidden states: no CLIP projection (vit_flops counts one).
    projection = 2 * tower.config.hidden_size * getattr(tower.config, "projection_dim", 0)
    flops = (
        forward_flops(language, lengths)
        + vit_flops(tower, n)
        - projection * n
        + 2 * 196 * n * sum(p.numel() for p in model.model.multi_modal_projector.parameters())
    )
    check = _check_vlm(model, processor, table, images, prompts, dtype)
    return _report(
        "vlm",
        rates,
        lengths.sum() / (flops / mm),
        "tokens",
        prompts=n,
        tokens=int(lengths.sum()),
        images_per_s_ours=round(float(rates["ours"] * n / lengths.sum()), 1),
        matmul_tflops=round(mm / 1e12, 1),
        check=check,
    )


def _check_vlm(model, processor, table, images, prompts, dtype) -> dict:
    """Ours against each prompt run alone with ``output_hidden_states`` (mean over its tokens;
    the last layer is left out: ``hidden_states`` holds it after the final norm)."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    n = min(16, len(table))
    ds = extract_dataset(
        Extractor(model, processor, units="resid", pooling="mean"),
        table.iloc[:n],
        images=images[:n],
    )
    device = next(model.parameters()).device
    worst, scale = 0.0, 0.0
    with torch.no_grad():
        for i in range(n):
            enc = processor(text=[prompts[i]], images=[images[i]], return_tensors="pt").to(device)
            enc["pixel_values"] = enc["pixel_values"].to(dtype)
            hidden = model(**enc, output_hidden_states=True).hidden_states[1:-1]
            want = torch.stack([h[0].float().mean(0) for h in hidden]).cpu().numpy()
            got = ds["resid"].values[i, : len(hidden)]
            worst = max(worst, float(np.abs(got - want).max()))
            scale = max(scale, float(np.abs(want).max()))
    return {"max_abs_diff": worst, "scale": scale, "relative": worst / scale}


MODES = {"bidir": bidir_run, "heads": heads_run, "vlm": vlm_run}
