"""``neuroalign reconstruct``: images generated from decoded embeddings by an unCLIP pipeline.

Thin: read the settings file (one ``vision.reconstruct`` entry of the config), call
:func:`neuroalign.vision.reconstruct.reconstruct`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign reconstruct --settings results/settings/reconstruct/demo.json \\
      --decode results/vision/decode/sim_vision/sub-01/tiny_clip/decode.nc \\
      --pipeline path:results/models/tiny_unclip \\
      --stimuli results/stimuli/sim_vision.parquet \\
      --output results/vision/decode/sim_vision/sub-01/tiny_clip/reconstruct/demo

A settings file is a JSON object with the keys of a `vision.reconstruct` entry
(config/README.md), e.g. {"n_samples": 4, "steps": 20}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``reconstruct`` subcommand."""
    parser = subparsers.add_parser(
        "reconstruct",
        help="generate images from decoded embeddings through an unCLIP diffusers pipeline",
        description="Read the predicted image embeddings of a decoding result, draw n samples "
        "per image from an unCLIP-style pipeline (image_embeds=, one seed per image and "
        "sample), choose the best of n by the cosine between each sample's embedding and the "
        "prediction, and write recons/<image_id>_s<k>.png and recons.parquet (seed table, "
        "cosines, choice, provenance) into one folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        required=True,
        type=Path,
        help="settings file (JSON): a vision.reconstruct entry",
    )
    parser.add_argument("--decode", required=True, type=Path, help="decoding result (decode.nc)")
    parser.add_argument(
        "--pipeline", default=None, help="pipeline source (default: the settings' pipeline)"
    )
    parser.add_argument(
        "--stimuli",
        type=Path,
        default=None,
        help="stimulus table with image_id and image (ground truth copied for the gallery)",
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the reconstruction stage and print where the result went."""
    from neuroalign.settings import read_settings
    from neuroalign.vision.reconstruct import ReconstructSettings, reconstruct

    settings = read_settings(ReconstructSettings, args.settings)
    output = reconstruct(
        settings,
        decode=args.decode,
        output=args.output,
        pipeline=args.pipeline,
        stimuli=args.stimuli,
    )
    print(output)
