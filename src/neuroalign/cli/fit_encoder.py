"""``neuroalign fit-encoder``: the differentiable guiding encoder of brain-guided synthesis.

Thin: read the settings file (one ``diffusion.encoders`` entry), call
:func:`neuroalign.diffusion.encoder.fit_encoder`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign fit-encoder --settings results/settings/fit_encoder/sim_vision.json \\
      --activations results/activations/tiny_clip/sim_vision.zarr \\
      --dataset data/raw/sim_vision --subject 01 \\
      --output results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``fit-encoder`` subcommand."""
    parser = subparsers.add_parser(
        "fit-encoder",
        help="fit the guiding voxel encoder (ridge on one layer of a vision model's features)",
        description="Fit a cross-validated ridge (one alpha per voxel) from one unit space and "
        "layer of an image activation store to a subject's repeat-averaged training betas, "
        "score it on the test images and write weights, feature standardization, ROI masks "
        "and the model's source to one netCDF (loaded as a differentiable torch module at "
        "synthesis).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", required=True, type=Path, help="a diffusion.encoders entry")
    parser.add_argument(
        "--activations", required=True, type=Path, help="activation store of the dataset's images"
    )
    parser.add_argument("--dataset", required=True, type=Path, help="vision fMRI dataset folder")
    parser.add_argument("--subject", required=True, help="subject label without 'sub-'")
    parser.add_argument("--output", required=True, type=Path, help="encoder file (.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Fit the encoder and print where it went."""
    from neuroalign.diffusion.encoder import fit_encoder
    from neuroalign.diffusion.settings import DiffusionEncoderSettings
    from neuroalign.settings import read_settings

    settings = read_settings(DiffusionEncoderSettings, args.settings)
    print(
        fit_encoder(
            settings,
            activations=args.activations,
            dataset=args.dataset,
            subject=args.subject,
            output=args.output,
        )
    )
