"""Benchmark: the extraction engine against the naive loops, side by side in one run.

Task (the same for all three): every word of a synthetic story gets a window of the ``--context``
previous words; the embeddings and the residual stream after every block at the word's last token
are kept as float32 (what ``hidden_states`` holds). Token rates count the same tokens: those of
each word's window.

* naive: ``output_hidden_states=True``, batch of 1, every layer copied to the host as float32;
* batched naive: the same with ``--naive-batch`` windows per forward (right padding);
* ours: :class:`neuroalign.models.extract.Extractor` (``units="resid,embed"``), into memory
  (``extract_dataset``, as the naive loops keep their results) and into a Zarr store; with
  ``--compile`` also with every block through ``torch.compile`` (compiled during a warm-up
  run over the whole corpus, which is not timed), into memory and into Zarr;
* ours, engine only: the same batches with the results dropped once on the host (no sink), to
  tell the device pipeline from the host's writes.

Models are random-initialized from configs (GPT-2 small, GPT-2 XL, a ~1B Llama-style model with
grouped-query attention), in bfloat16 for all three methods. The hardware bound is the token rate
if a run took only max(forward FLOPs / bf16 matmul rate measured on the model's own matrix
shapes, bytes copied to the host / measured pinned copy rate).

Other input modes (bidirectional encoders over mixed lengths, head and attention-pattern
units, LLaVA-style prompts) are in ``benchmarks/extract_modes.py`` (``--mode``); the vision
tower is ``--vision``.

Usage::

    python benchmarks/extract.py --words 20000 --naive-words 300 --out results.json \
        --profile-dir profile/
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ARCHS = {
    "gpt2-small": ("gpt2", dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024)),
    "gpt2-xl": ("gpt2", dict(n_layer=48, n_embd=1600, n_head=25, n_positions=1024)),
    "llama-1b": (
        "llama",
        dict(
            num_hidden_layers=16,
            hidden_size=2048,
            num_attention_heads=32,
            num_key_value_heads=8,
            intermediate_size=8192,
            max_position_embeddings=2048,
        ),
    ),
}


def build_model(arch: str, vocab: int, device: str, dtype: torch.dtype):
    """A random-initialized model from a config (no weights downloaded)."""
    import transformers

    kind, kwargs = ARCHS[arch]
    if kind == "gpt2":
        config = transformers.GPT2Config(vocab_size=vocab, **kwargs)
        cls = transformers.GPT2Model
    else:
        config = transformers.LlamaConfig(vocab_size=vocab, **kwargs)
        cls = transformers.LlamaModel
    with torch.device(device):
        model = cls._from_config(config, dtype=dtype)
    return model.eval()


def build_tokenizer(words: list[str]):
    """A word-level fast tokenizer (with offsets) over the corpus vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1}
    for w in sorted(set(words)):
        vocab.setdefault(w, len(vocab))
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]")


def corpus(n_words: int, seed: int) -> pd.DataFrame:
    """Synthetic stories of random words (Zipf-distributed over a 5,000-word vocabulary)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)])
    ranks = np.minimum(rng.zipf(1.2, n_words), len(vocab)) - 1
    story = np.arange(n_words) // 2000
    return pd.DataFrame(
        {
            "item": np.arange(n_words),
            "text": vocab[ranks],
            "run": "1",
            "story": story.astype(str),
        }
    )


def windows(table: pd.DataFrame, tokenizer, n_context: int) -> list[list[int]]:
    """Token ids of each word's window (the naive loops' inputs; same as ours)."""
    from neuroalign.models.text import build_windows, parse_context

    texts = table["text"].to_numpy()
    built = build_windows(table, parse_context(f"words:{n_context}"))
    enc = tokenizer([w.text(texts) for w in built], add_special_tokens=True)
    return enc["input_ids"]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def naive(model, ids: list[list[int]], batch: int, device: str, pad_id: int) -> float:
    """The loop a researcher writes; returns seconds."""
    sync(device)
    start = time.perf_counter()
    kept = []
    with torch.no_grad():
        for i in range(0, len(ids), batch):
            chunk = ids[i : i + batch]
            width = max(len(x) for x in chunk)
            x = torch.full((len(chunk), width), pad_id)
            mask = torch.zeros_like(x)
            for b, row in enumerate(chunk):
                x[b, : len(row)] = torch.tensor(row)
                mask[b, : len(row)] = 1
            out = model(x.to(device), attention_mask=mask.to(device), output_hidden_states=True)
            host = [h.float().cpu().numpy() for h in out.hidden_states]
            last = mask.sum(1).numpy() - 1
            kept.append(np.stack([h[np.arange(len(chunk)), last] for h in host], 1))
    sync(device)
    return time.perf_counter() - start


def ours(
    model,
    tokenizer,
    table,
    n_context: int,
    batch: int,
    out_dir: Path | None,
    layers: str = "all",
    units: str = "resid,embed",
    compile: bool = False,
    sink: bool = True,
    storage_dtype: str = "float32",
    devices: list[str] | None = None,
) -> tuple[float, int]:
    """The engine into memory (``out_dir`` None) or a Zarr store, or with no sink (``sink``
    False: chunks are dropped); returns seconds and the bytes copied to the host."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset, extract_to_zarr

    ex = Extractor(
        model,
        tokenizer,
        units=units,
        layers=layers,
        context=f"words:{n_context}",
        batch_size=batch,
        compile=compile,
        storage_dtype=storage_dtype,
        devices=devices,
    )
    sync(str(ex.devices[0]))
    start = time.perf_counter()
    if not sink:
        for _ in ex.iter_chunks(table):
            pass
    elif out_dir is None:
        extract_dataset(ex, table)
    else:
        path = out_dir / "acts.zarr"
        extract_to_zarr(ex, table, path, attrs={"model": "bench", "config_hash": "x"})
    sync(str(ex.devices[0]))
    seconds = time.perf_counter() - start
    if out_dir is not None:
        shutil.rmtree(path)
    return seconds, ex.item_bytes() // 2 * len(table)


def profile_call(run, name: str, args: argparse.Namespace) -> dict:
    """``run()`` under cProfile (host, main thread), then under torch.profiler (GPU kernels).

    Writes ``<name>_host.txt`` (cumulative host time) and ``<name>_torch.txt`` (kernels by device
    time) to ``--profile-dir``; returns the profiled wall time and the GPU's busy fraction.
    """
    from torch.profiler import ProfilerActivity, profile

    args.profile_dir.mkdir(parents=True, exist_ok=True)
    host = cProfile.Profile()
    sync(args.device)
    start = time.perf_counter()
    host.enable()
    run()
    host.disable()
    sync(args.device)
    seconds = time.perf_counter() - start
    text = io.StringIO()
    pstats.Stats(host, stream=text).sort_stats("cumulative").print_stats(45)
    (args.profile_dir / f"{name}_host.txt").write_text(text.getvalue())
    activities = [ProfilerActivity.CPU]
    if args.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        run()
        sync(args.device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    table_text = events.table(sort_by="self_device_time_total", row_limit=30)
    (args.profile_dir / f"{name}_torch.txt").write_text(table_text)
    # Kernels and copies only (operator rows repeat their kernels' time).
    device_us = sum(
        e.self_device_time_total for e in events if e.device_type == torch.autograd.DeviceType.CUDA
    )
    return {
        "profiled_seconds": round(seconds, 2),
        "gpu_busy_fraction": round(device_us / 1e6 / wall, 2),
    }


def matmul_rate(model, tokens: int, device: str, dtype: torch.dtype) -> float:
    """bf16 FLOP/s on the model's own linear shapes with ``tokens`` rows (time-weighted)."""
    from neuroalign.models.discover import linear_shape

    shapes = {}
    for module in model.modules():
        shape = linear_shape(module)
        if shape is not None:
            shapes[shape] = shapes.get(shape, 0) + 1
    total_flops, total_time = 0.0, 0.0
    for (n_in, n_out), count in shapes.items():
        a = torch.randn(tokens, n_in, device=device, dtype=dtype)
        w = torch.randn(n_in, n_out, device=device, dtype=dtype)
        for _ in range(3):
            a @ w
        sync(device)
        start = time.perf_counter()
        for _ in range(10):
            a @ w
        sync(device)
        seconds = (time.perf_counter() - start) / 10
        total_flops += 2 * tokens * n_in * n_out * count
        total_time += seconds * count
    return total_flops / total_time


def copy_rate(device: str) -> float:
    """Pinned device-to-host copy rate in bytes/s (256 MiB copies)."""
    if not device.startswith("cuda"):
        return float("inf")
    src = torch.empty(2**28, dtype=torch.uint8, device=device)
    dst = torch.empty(2**28, dtype=torch.uint8, pin_memory=True)
    dst.copy_(src, non_blocking=True)
    sync(device)
    start = time.perf_counter()
    for _ in range(5):
        dst.copy_(src, non_blocking=True)
    sync(device)
    return 5 * 2**28 / (time.perf_counter() - start)


def attention_order(model, batch: int, seq_len: int, device: str, dtype: torch.dtype) -> str:
    """The fused attention kernels in the order the engine measures them on this shape."""
    from neuroalign.models.attention import rank_backends
    from neuroalign.models.discover import discover

    arch = discover(model)
    order = rank_backends(batch, arch.n_heads, seq_len, arch.head_dim, dtype=dtype, device=device)
    return ",".join(b.name for b in order)


def forward_flops(model, lengths: np.ndarray) -> float:
    """Matmul FLOPs of the forward passes (linear maps + attention scores and mixing)."""
    from neuroalign.models.discover import discover, linear_shape

    arch = discover(model)
    linear = sum(2 * a * b for m in model.modules() if (s := linear_shape(m)) for a, b in [s])
    attention = 4 * arch.n_layers * arch.n_heads * arch.head_dim
    return float(linear * lengths.sum() + attention * (lengths.astype(float) ** 2).sum())


def run_arch(arch: str, args: argparse.Namespace, device: str) -> dict:
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = corpus(args.words, args.seed)
    tokenizer = build_tokenizer(table["text"].tolist())
    model = build_model(arch, 50304, device, dtype)
    ids = windows(table, tokenizer, args.context)
    lengths = np.array([len(x) for x in ids])
    n_naive = min(args.naive_words, len(ids))
    n_batched = min(args.batched_words, len(ids))
    ours(model, tokenizer, table.iloc[:2000], args.context, args.batch, None)  # warm-up
    t_ours, host_bytes = ours(model, tokenizer, table, args.context, args.batch, None)
    with tempfile.TemporaryDirectory() as tmp:
        t_zarr, _ = ours(model, tokenizer, table, args.context, args.batch, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        t_bf16, _ = ours(
            model, tokenizer, table, args.context, args.batch, Path(tmp), storage_dtype="bfloat16"
        )
    t_engine, _ = ours(model, tokenizer, table, args.context, args.batch, None, sink=False)
    rates = {
        "ours": lengths.sum() / t_ours,
        "ours_zarr": lengths.sum() / t_zarr,
        "ours_zarr_bf16": lengths.sum() / t_bf16,
        "ours_engine": lengths.sum() / t_engine,
    }
    compiled = {}
    if args.compile:
        from torch._dynamo.utils import counters

        graphs = counters["stats"]["unique_graphs"]
        breaks = sum(counters["graph_break"].values())
        run = dict(n_context=args.context, batch=args.batch, compile=True)
        start = time.perf_counter()
        ours(model, tokenizer, table, out_dir=None, **run)  # compiles every shape; not timed
        compiled["compile_warmup_s"] = round(time.perf_counter() - start, 1)
        compiled["compiled_graphs"] = int(counters["stats"]["unique_graphs"] - graphs)
        compiled["graph_breaks"] = int(sum(counters["graph_break"].values()) - breaks)
        t_comp, _ = ours(model, tokenizer, table, out_dir=None, **run)
        with tempfile.TemporaryDirectory() as tmp:
            t_comp_zarr, _ = ours(model, tokenizer, table, out_dir=Path(tmp), **run)
        with tempfile.TemporaryDirectory() as tmp:
            t_comp_bf16, _ = ours(
                model, tokenizer, table, out_dir=Path(tmp), storage_dtype="bfloat16", **run
            )
        t_comp_engine, _ = ours(model, tokenizer, table, out_dir=None, sink=False, **run)
        rates["ours_compiled"] = lengths.sum() / t_comp
        rates["ours_compiled_zarr"] = lengths.sum() / t_comp_zarr
        rates["ours_compiled_zarr_bf16"] = lengths.sum() / t_comp_bf16
        rates["ours_compiled_engine"] = lengths.sum() / t_comp_engine
    sharded = {}
    if args.devices:
        sharded = devices_run(model, tokenizer, table, args, lengths, rates)
    profiled = {}
    if args.profile_dir is not None and arch in args.profile.split(","):
        kw = dict(n_context=args.context, batch=args.batch, out_dir=None, compile=args.compile)
        profiled = profile_call(lambda m=model: ours(m, tokenizer, table, **kw), arch, args)
    # The naive loops come last: output_hidden_states=True makes transformers hook every layer,
    # and those hooks would sit inside the compiled blocks (each a graph break).
    naive(model, ids[:8], 1, device, tokenizer.pad_token_id)  # warm-up
    t_naive = naive(model, ids[:n_naive], 1, device, tokenizer.pad_token_id)
    t_batched = naive(model, ids[:n_batched], args.naive_batch, device, tokenizer.pad_token_id)
    rates["naive"] = lengths[:n_naive].sum() / t_naive
    rates["batched_naive"] = lengths[:n_batched].sum() / t_batched
    flops = forward_flops(model, lengths)
    mm_rate = matmul_rate(model, args.batch * int(lengths.mean()), device, dtype)
    cp_rate = copy_rate(device)
    bound_seconds = max(flops / mm_rate, host_bytes / cp_rate)
    bound = lengths.sum() / bound_seconds
    order = attention_order(model, args.batch, int(lengths.max()), device, dtype)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {
        "arch": arch,
        "words": len(table),
        "tokens": int(lengths.sum()),
        "tokens_per_s": {k: round(float(v)) for k, v in rates.items()},
        "ours_vs_naive": round(float(rates["ours"] / rates["naive"]), 1),
        "ours_vs_batched_naive": round(float(rates["ours"] / rates["batched_naive"]), 2),
        "zarr_vs_batched_naive": round(float(rates["ours_zarr"] / rates["batched_naive"]), 2),
        "matmul_tflops": round(mm_rate / 1e12, 1),
        "copy_gb_per_s": round(cp_rate / 1e9, 1),
        "bound_tokens_per_s": round(float(bound)),
        "fraction_of_bound": round(float(rates["ours"] / bound), 2),
        "zarr_fraction_of_bound": round(float(rates["ours_zarr"] / bound), 2),
        "bound_vs_batched_naive": round(float(bound / rates["batched_naive"]), 1),
        "bound_by": "compute" if flops / mm_rate >= host_bytes / cp_rate else "copy",
        "attention_order": order,
        **{
            f"{name}_{what}": round(float(rates[name] / ref), 2)
            for name in (
                "ours_engine",
                "ours_zarr_bf16",
                "ours_compiled",
                "ours_compiled_zarr",
                "ours_compiled_zarr_bf16",
                "ours_compiled_engine",
            )
            if name in rates
            for what, ref in (("vs_batched_naive", rates["batched_naive"]), ("fraction", bound))
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
        **compiled,
        **sharded,
        **profiled,
        "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def devices_run(model, tokenizer, table, args, lengths, rates) -> dict:
    """Ours into memory with the inputs shared between ``--devices`` (a replica on each),
    against one device: the rate, the scaling and the largest difference of the results."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    devices = args.devices.split(",")
    run = dict(n_context=args.context, batch=args.batch, out_dir=None)
    ours(model, tokenizer, table.iloc[:2000], devices=devices, **run)  # warm-up
    t_multi, _ = ours(model, tokenizer, table, devices=devices, **run)
    rates["ours_devices"] = lengths.sum() / t_multi
    check = table.iloc[:4000]
    kw = dict(units="resid", context=f"words:{args.context}", batch_size=args.batch)
    one = extract_dataset(Extractor(model, tokenizer, **kw), check)["resid"].values
    multi = extract_dataset(Extractor(model, tokenizer, devices=devices, **kw), check)
    return {
        "devices": devices,
        "devices_scaling": round(float(rates["ours_devices"] / rates["ours"]), 2),
        "devices_max_abs_diff": float(np.abs(multi["resid"].values - one).max()),
    }


def memory_run(args: argparse.Namespace) -> dict:
    """Ours alone on a large corpus (last layer of GPT-2 small): peak host memory."""
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    table = corpus(args.memory_words, args.seed)
    tokenizer = build_tokenizer(table["text"].tolist())
    model = build_model("gpt2-small", 50304, args.device, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = ours(
            model, tokenizer, table, args.context, args.batch, Path(tmp), "-1", "resid"
        )
    return {
        "memory_run_words": len(table),
        "seconds": round(seconds, 1),
        "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def vit_flops(model, n_images: int) -> float:
    """Matmul FLOPs of a ViT's forward passes: the patch embedding, every linear map of the
    blocks on every token, attention scores and mixing, the projection once per image."""
    from neuroalign.models.discover import discover, linear_shape

    arch = discover(model, "vision")
    config = model.config
    n_patch = (config.image_size // config.patch_size) ** 2
    seq = n_patch + 1
    patch = 2 * 3 * config.patch_size**2 * config.hidden_size * n_patch
    blocks = model.get_submodule(arch.stack)
    per_token = sum(2 * a * b for m in blocks.modules() if (s := linear_shape(m)) for a, b in [s])
    attention = 4 * arch.n_layers * arch.n_heads * arch.head_dim * seq**2
    projection = 2 * config.hidden_size * config.projection_dim
    return float(n_images * (patch + per_token * seq + attention + projection))


def naive_vision(model, processor, images, batch: int, device: str) -> float:
    """The loop a researcher writes: the processor, ``output_hidden_states=True``, the CLS
    token of every layer and the image embedding to the host; returns seconds."""
    dtype = next(model.parameters()).dtype
    sync(device)
    start = time.perf_counter()
    kept = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pixels = processor(images=images[i : i + batch], return_tensors="pt")["pixel_values"]
            out = model(pixel_values=pixels.to(device, dtype), output_hidden_states=True)
            cls = [h[:, 0].float().cpu().numpy() for h in out.hidden_states[1:]]
            kept.append((np.stack(cls, 1), out.image_embeds.float().cpu().numpy()))
    sync(device)
    return time.perf_counter() - start


def ours_vision(
    model, processor, table, images, batch: int, compile: bool, zarr: str | None = None
) -> tuple[float, dict]:
    """The engine into memory (or, with ``zarr`` a storage dtype, into a Zarr store): resid
    (CLS token of every block) and embeds."""
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset, extract_to_zarr

    ex = Extractor(
        model,
        processor,
        units="resid,embeds",
        tower="vision",
        pooling="first",
        batch_size=batch,
        compile=compile,
        storage_dtype=zarr or "float32",
    )
    sync(str(ex.devices[0]))
    start = time.perf_counter()
    if zarr is None:
        ds = extract_dataset(ex, table, images=images)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            attrs = {"model": "bench", "config_hash": "x"}
            ds = extract_to_zarr(ex, table, Path(tmp) / "a.zarr", attrs=attrs, images=images)
            sync(str(ex.devices[0]))
            seconds = time.perf_counter() - start
        return seconds, ds
    sync(str(ex.devices[0]))
    return time.perf_counter() - start, ds


def vision_run(args: argparse.Namespace) -> dict:
    """A ViT-B/16-sized CLIP vision tower (random weights), 224x224 images, bf16."""
    from neuroalign.models.random_init import build_model as build_tower

    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model, processor = build_tower("vit-b16", seed=0)
    model = model.to(device, dtype).eval()
    rng = np.random.default_rng(args.seed)
    size = model.config.image_size
    images = list(rng.integers(0, 256, (args.images, size, size, 3), dtype=np.uint8))
    table = pd.DataFrame({"item": np.arange(len(images)), "text": "image"})
    # Equality: ours against the model's own outputs on the processor's pixels.
    n_check = min(64, len(images))
    _, ds = ours_vision(model, processor, table.iloc[:n_check], images[:n_check], 32, False)
    pixels = processor(images=images[:n_check], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels.to(device, dtype), output_hidden_states=True)
    want_embeds = out.image_embeds.float().cpu().numpy()
    want_cls = np.stack([h[:, 0].float().cpu().numpy() for h in out.hidden_states[1:]], 1)
    check = {
        "embeds_max_abs_diff": float(np.abs(ds["embeds"].values - want_embeds).max()),
        "resid_max_abs_diff": float(np.abs(ds["resid"].values - want_cls).max()),
        "embeds_scale": float(np.abs(want_embeds).max()),
    }
    # Timed on a second pass: the first one's fixed costs (the pinned host memory pool growing
    # to the run's batches, first-touch pages) are reported apart.
    first_pass_s, _ = ours_vision(model, processor, table, images, args.batch, False)
    t_ours, _ = ours_vision(model, processor, table, images, args.batch, False)
    rates = {"ours": len(images) / t_ours}
    for dtype_name in ("float32", "bfloat16"):
        t, _ = ours_vision(model, processor, table, images, args.batch, False, zarr=dtype_name)
        rates[f"ours_zarr_{dtype_name}"] = len(images) / t
    compiled = {}
    if args.compile:
        start = time.perf_counter()
        ours_vision(model, processor, table, images, args.batch, True)  # compiles; not timed
        compiled["compile_warmup_s"] = round(time.perf_counter() - start, 1)
        t_comp, _ = ours_vision(model, processor, table, images, args.batch, True)
        rates["ours_compiled"] = len(images) / t_comp
        for dtype_name in ("float32", "bfloat16"):
            t, _ = ours_vision(model, processor, table, images, args.batch, True, zarr=dtype_name)
            rates[f"ours_compiled_zarr_{dtype_name}"] = len(images) / t
    n_naive = min(args.naive_images, len(images))
    naive_vision(model, processor, images[:32], 32, device)  # warm-up
    t_naive = naive_vision(model, processor, images[:n_naive], args.batch, device)
    rates["naive"] = n_naive / t_naive
    flops = vit_flops(model, len(images))
    seq = (size // model.config.patch_size) ** 2 + 1
    mm_rate = matmul_rate(model, args.batch * seq, device, dtype)
    bound = len(images) / (flops / mm_rate)
    return {
        "arch": "clip-vit-b16-vision",
        "images": len(images),
        "batch": args.batch,
        "gflops_per_image": round(flops / len(images) / 1e9, 2),
        "images_per_s": {k: round(float(v)) for k, v in rates.items()},
        "matmul_tflops": round(mm_rate / 1e12, 1),
        "bound_images_per_s": round(float(bound)),
        **{f"{k}_fraction_of_bound": round(float(v / bound), 2) for k, v in rates.items()},
        "ours_vs_naive": round(float(rates["ours"] / rates["naive"]), 1),
        "first_pass_s": round(first_pass_s, 2),
        **compiled,
        **check,
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--words", type=int, default=20000, help="corpus size for ours")
    parser.add_argument("--naive-words", type=int, default=300, help="words for the naive loop")
    parser.add_argument("--batched-words", type=int, default=4000, help="words, batched naive")
    parser.add_argument("--naive-batch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256, help="our batch size")
    parser.add_argument("--context", type=int, default=32, help="words of context")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile-dir", type=Path, default=None, help="write profiles here")
    parser.add_argument(
        "--profile",
        default="gpt2-small",
        help="architectures to profile (--mode: ours eager into memory is profiled whenever "
        "--profile-dir is given)",
    )
    parser.add_argument(
        "--memory-words", type=int, default=0, help="only measure peak host memory on this many"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time ours with torch.compile'd blocks"
    )
    parser.add_argument(
        "--vision", action="store_true", help="the vision-tower benchmark (ViT-B/16 CLIP tower)"
    )
    parser.add_argument("--images", type=int, default=8192, help="images for ours (--vision)")
    parser.add_argument(
        "--mode",
        default=None,
        choices=["bidir", "heads", "vlm"],
        help="another input mode (benchmarks/extract_modes.py): bidirectional encoders over "
        "mixed lengths, head_out and attn_pattern units, or LLaVA-style prompts",
    )
    parser.add_argument(
        "--devices",
        default=None,
        help="also run ours with the inputs shared between these devices (cuda:0,cuda:1)",
    )
    parser.add_argument(
        "--max-autotune",
        action="store_true",
        help="compile with inductor's GEMM autotuning (Triton matmuls with fused epilogues)",
    )
    parser.add_argument(
        "--heads-attention",
        default="sdpa",
        choices=["sdpa", "eager"],
        help="--mode heads: the attention ours runs (sdpa: the kept rows' weights beside the "
        "fused kernel; eager: every weight materialized); the naive loop is eager",
    )
    parser.add_argument("--rows", type=int, default=20000, help="rows for ours (--mode)")
    parser.add_argument("--naive-rows", type=int, default=2000, help="rows, naive (--mode)")
    parser.add_argument(
        "--naive-images", type=int, default=2048, help="images for the naive loop (--vision)"
    )
    args = parser.parse_args()
    if args.max_autotune:
        import torch._inductor.config as inductor_config

        inductor_config.max_autotune_gemm = True
    if args.mode:
        from extract_modes import MODES

        result = MODES[args.mode](args)
        result["device"] = torch.cuda.get_device_name() if args.device != "cpu" else "cpu"
        print(json.dumps(result), flush=True)
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.vision:
        result = vision_run(args)
        print(json.dumps(result), flush=True)
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.memory_words:
        print(json.dumps(memory_run(args)), flush=True)
        return
    results = []
    for arch in args.archs.split(","):
        result = run_arch(arch, args, args.device)
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
