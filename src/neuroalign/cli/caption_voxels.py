"""``neuroalign caption-voxels``: BrainSCUBA captions of an encoder's ROIs.

Thin: read the settings file (one ``diffusion.captions`` entry of the config), call
:func:`neuroalign.diffusion.brainscuba.caption_voxels`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign caption-voxels --settings results/settings/brainscuba/sim_vision.json \\
      --encoder results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc \\
      --bank results/activations/tiny_clip/sim_vision.zarr \\
      --stimuli results/stimuli/sim_vision.parquet \\
      --output results/diffusion/captions/sim_vision/sub-01.parquet

A settings file is a JSON object with the keys of a `diffusion.captions` entry
(config/README.md), e.g. {"temperature": 150, "captioner": {"kind": "table"}}; the schema's
defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``caption-voxels`` subcommand."""
    parser = subparsers.add_parser(
        "caption-voxels",
        help="caption each ROI of an encoder (BrainSCUBA: projection onto image embeddings)",
        description="Project each ROI's direction (mean of its voxels' unit-normalized encoder "
        "weights) onto a bank of image embeddings with a softmax, caption the projection "
        "(prefix captioning, an image-captioning model on the nearest bank images, or the "
        "stimulus table's captions) and keep the top bank images. Writes one parquet table.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        required=True,
        type=Path,
        help="settings file (JSON): a diffusion.captions entry",
    )
    parser.add_argument("--encoder", required=True, type=Path, help="the encoder file (.nc)")
    parser.add_argument(
        "--bank", required=True, type=Path, help="activation store of images in its units"
    )
    parser.add_argument("--stimuli", type=Path, default=None, help="the bank's stimulus table")
    parser.add_argument("--output", required=True, type=Path, help="result file (.parquet)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the captioning stage and print where the result went."""
    from neuroalign.diffusion.brainscuba import BrainscubaSettings, caption_voxels
    from neuroalign.settings import read_settings

    settings = read_settings(BrainscubaSettings, args.settings)
    output = caption_voxels(
        settings, encoder=args.encoder, bank=args.bank, stimuli=args.stimuli, output=args.output
    )
    print(output)
