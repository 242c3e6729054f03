"""``neuroalign synthesize``: brain-guided images (BrainDiVE) and their unguided twins.

Thin: read the settings file (one ``diffusion.synthesize`` entry), call
:func:`neuroalign.diffusion.synthesize.synthesize`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign synthesize --settings results/settings/synthesize/sim_vision.json \\
      --encoder results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc \\
      --pipeline path:results/models/tiny_sd \\
      --output results/diffusion/synth/sim_vision/sub-01

A settings file is a JSON object with the keys of a `diffusion.synthesize` entry
(config/README.md), e.g. {"dataset": "sim_vision", "encoder": "sim_vision", "steps": 10}."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``synthesize`` subcommand."""
    parser = subparsers.add_parser(
        "synthesize",
        help="generate images that drive an ROI (encoder-guided diffusion) and unguided twins",
        description="For every objective (ROI mean, weighted voxels, contrast) and seed, sample "
        "a diffusers UNet + VAE with BrainDiVE's guidance (the encoder's gradient through the "
        "one-step x0 estimate) and without it from the same seed; write <objective>/guided/"
        "<seed>.png, <objective>/unguided/<seed>.png and manifest.parquet (scores, seed table, "
        "settings, versions).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", required=True, type=Path, help="a diffusion.synthesize entry")
    parser.add_argument("--encoder", required=True, type=Path, help="guiding encoder file (.nc)")
    parser.add_argument(
        "--pipeline", default=None, help="pipeline source (default: the settings' pipeline)"
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the synthesis stage and print where the output went."""
    from neuroalign.diffusion.settings import SynthesizeSettings
    from neuroalign.diffusion.synthesize import synthesize
    from neuroalign.settings import read_settings

    settings = read_settings(SynthesizeSettings, args.settings)
    print(synthesize(settings, encoder=args.encoder, pipeline=args.pipeline, output=args.output))
