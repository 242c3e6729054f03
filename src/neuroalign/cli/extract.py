"""``neuroalign extract``: unit activations of a model for a stimulus table, into a Zarr store."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from neuroalign._check import NeuroalignError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``extract`` subcommand."""
    parser = subparsers.add_parser(
        "extract",
        help="extract unit activations of a model for a stimulus table (Zarr store)",
        description="Run a language or vision-language model over a stimulus table and write "
        "pooled unit activations (item x layer x unit per unit space) to a Zarr store, with "
        "provenance. An interrupted run resumes where it stopped.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="model source: hf:<id>[@revision], path:<dir> or pypi:<package>",
    )
    parser.add_argument("--stimuli", required=True, type=Path, help="stimulus table (.parquet)")
    parser.add_argument("--output", required=True, type=Path, help="output store (.zarr)")
    parser.add_argument(
        "--units",
        default="resid",
        help="comma-separated unit spaces: resid, embed, attn_out, mlp_out, mlp_neuron, "
        "head_out, attn_pattern (default: resid)",
    )
    parser.add_argument(
        "--layers", default="all", help="'all' or comma-separated block indices (default: all)"
    )
    parser.add_argument(
        "--context",
        default="words:0",
        help="'words:N[:stride]' (N previous words of the same story as context, stride "
        "target words per input) or 'sentence' (default: words:0)",
    )
    parser.add_argument(
        "--pooling",
        default="last",
        choices=("last", "mean", "first"),
        help="sub-token pooling per item (first = CLS token of images; default: last)",
    )
    parser.add_argument(
        "--tower",
        default="text",
        choices=("text", "vision"),
        help="stack to read; 'vision' feeds the table's images to a vision tower",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="inputs per batch (default 32)")
    parser.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where to run")
    parser.add_argument(
        "--device-map",
        default=None,
        help="accelerate device map for models larger than one GPU (e.g. 'auto')",
    )
    parser.add_argument("--n-lags", type=int, default=16, help="lags kept by attn_pattern")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run each block through torch.compile (fused kernels; pays off on GPUs)",
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run code from the model's repository (off by default)",
    )
    parser.set_defaults(func=run)
    return parser


def _resolve_device(device: str) -> list[str]:
    import torch

    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return ["cpu"]
    if not torch.cuda.is_available():
        raise NeuroalignError("--device cuda: no CUDA GPU is visible; use --device cpu")
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def _resolve_dtype(dtype: str, devices: list[str]):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if devices[0].startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def run(args: argparse.Namespace) -> None:
    """Load the model and the table, extract, write the store and print its path."""
    from neuroalign._io import provenance, sha256_file
    from neuroalign.data.stimuli import read_table
    from neuroalign.models.extract import Extractor
    from neuroalign.models.sources import load_model
    from neuroalign.models.store import extract_to_zarr

    table, _ = read_table(args.stimuli)
    devices = _resolve_device(args.device)
    dtype = _resolve_dtype(args.dtype, devices)
    attn = "eager" if "attn_pattern" in args.units else None
    model, processor, source = load_model(
        args.model,
        dtype=dtype,
        device=None if args.device_map else devices[0],
        device_map=args.device_map,
        attn_implementation=attn,
        trust_remote_code=args.trust_remote_code,
    )
    extractor = Extractor(
        model,
        processor,
        units=args.units,
        layers=args.layers,
        context=args.context,
        pooling=args.pooling,
        tower=args.tower,
        batch_size=args.batch_size,
        devices=None if args.device_map else devices,
        n_lags=args.n_lags,
        compile=args.compile,
    )
    config = {
        "model": args.model,
        "units": list(extractor.units),
        "layers": extractor.layers,
        "context": str(extractor.context),
        "pooling": extractor.pooling,
        "tower": args.tower,
        "dtype": str(dtype).removeprefix("torch."),
        "n_lags": extractor.n_lags,
    }
    attrs = provenance(
        stage="extract",
        config=config,
        model=args.model,
        model_class=type(model).__name__,
        revision=source.revision or "",
        commit=str(getattr(model.config, "_commit_hash", "") or ""),
        dtype=config["dtype"],
        pooling=extractor.pooling,
        context=str(extractor.context),
        stimulus_sha256=sha256_file(args.stimuli),
        stimuli=str(args.stimuli.name),
        compiled=int(args.compile),
    )
    path = extract_to_zarr(extractor, table, args.output, attrs=attrs, base_dir=args.stimuli.parent)
    print(path)
