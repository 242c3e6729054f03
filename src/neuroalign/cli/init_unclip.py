"""``neuroalign init-unclip``: a tiny unCLIP pipeline with random weights, saved to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``init-unclip`` subcommand."""
    parser = subparsers.add_parser(
        "init-unclip",
        help="build a tiny unCLIP pipeline with random weights and save it to a folder",
        description="Build a tiny StableUnCLIPImg2ImgPipeline with seeded random weights from "
        "configs (the demo's reconstruction pipeline) and save it with save_pretrained, usable "
        "as the pipeline source path:<folder>. With --image-encoder, a saved CLIP vision tower "
        "(`neuroalign init-model`) is its image encoder, so its embedding space is that "
        "model's image_embeds.",
    )
    parser.add_argument(
        "--image-encoder",
        type=Path,
        default=None,
        help="folder of a saved CLIPVisionModelWithProjection (default: a random tiny tower)",
    )
    parser.add_argument("--image-size", type=int, default=32, help="output image size (pixels)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights")
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Build the pipeline and print where it went."""
    from neuroalign.vision.unclip import save_tiny_unclip

    output = save_tiny_unclip(
        args.output, image_encoder=args.image_encoder, image_size=args.image_size, seed=args.seed
    )
    print(output)
