"""``neuroalign init-sd``: a tiny Stable-Diffusion-style pipeline with random weights."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``init-sd`` subcommand."""
    parser = subparsers.add_parser(
        "init-sd",
        help="build a tiny Stable Diffusion pipeline with random weights and save it",
        description="Build a tiny StableDiffusionPipeline (UNet, VAE, DDIM scheduler, CLIP text "
        "encoder and a byte-level toy tokenizer) with seeded random weights from configs (the "
        "demo's synthesis model) and save it with save_pretrained, usable as the pipeline "
        "source path:<folder>.",
    )
    parser.add_argument("--image-size", type=int, default=32, help="image size (pixels)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights")
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Build the pipeline and print where it went."""
    from neuroalign.diffusion.sd import save_tiny_sd

    print(save_tiny_sd(args.output, image_size=args.image_size, seed=args.seed))
