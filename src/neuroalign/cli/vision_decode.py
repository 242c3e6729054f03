"""``neuroalign vision-decode``: a model's image embedding decoded from voxels, scored.

Thin: read the settings file (one ``vision.decode`` entry of the config), call
:func:`neuroalign.vision.decode.decode`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign vision-decode --settings results/settings/vision_decode/sim_vision.json \\
      --embeddings results/activations/tiny_clip/sim_vision.zarr \\
      --dataset data/raw/sim_vision --subject 01 \\
      --output results/vision/decode/sim_vision/sub-01/tiny_clip/decode.nc

A settings file is a JSON object with the keys of a `vision.decode` entry (config/README.md),
e.g. {"dataset": "sim_vision", "model": "tiny_clip"}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``vision-decode`` subcommand."""
    parser = subparsers.add_parser(
        "vision-decode",
        help="decode a model's image embedding from vision fMRI (ridge, 2-way, retrieval)",
        description="Average the test images' repeats, z-score each voxel with the training "
        "images' statistics, fit a cross-validated ridge from voxels to the model's image "
        "embedding, rescale the predictions to the mean training norm and score them with "
        "MindEye's 2-way identification and forward/backward top-1 retrieval (bootstrap "
        "intervals). Writes one netCDF.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON): a vision.decode entry"
    )
    parser.add_argument(
        "--embeddings", required=True, type=Path, help="activation store of the dataset's images"
    )
    parser.add_argument("--dataset", required=True, type=Path, help="vision fMRI dataset folder")
    parser.add_argument("--subject", required=True, help="subject label without 'sub-'")
    parser.add_argument("--output", required=True, type=Path, help="result file (decode.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the decoding stage and print where the result went."""
    from neuroalign.settings import read_settings
    from neuroalign.vision.decode import DecodeSettings, decode, describe

    settings = read_settings(DecodeSettings, args.settings)
    output = decode(
        settings,
        embeddings=args.embeddings,
        dataset=args.dataset,
        subject=args.subject,
        output=args.output,
    )
    print(output)
    print(describe(output))
