"""``neuroalign evaluate-synthesis``: synthesized images scored and tested, guided vs unguided.

Thin: read the settings file (one ``diffusion.evaluate`` entry of the config), call
:func:`neuroalign.diffusion.evaluate.evaluate_synthesis`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign evaluate-synthesis --settings results/settings/diffusion_eval/sim_vision.json \\
      --manifest results/diffusion/synth/sim_vision/sub-01/manifest.parquet \\
      --encoder results/diffusion/encoders/sim_vision/sub-01/tiny_clip.nc \\
      --held-out results/diffusion/encoders/sim_vision/sub-01/tiny_dino.nc \\
      --output results/diffusion/eval/sim_vision/sub-01.nc

A settings file is a JSON object with the keys of a `diffusion.evaluate` entry
(config/README.md), e.g. {"top_fraction": 0.2}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``evaluate-synthesis`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate-synthesis",
        help="score synthesized images under the guiding and a held-out encoder; paired tests",
        description="Score every image of a synthesis run under the guiding encoder and a "
        "held-out encoder (another backbone); per ROI the paired guided - unguided differences "
        "per seed (Wilcoxon signed-rank, mean with a bootstrap interval), selectivity, the top "
        "fraction kept by the guiding encoder and zero-shot CLIP category shares. Writes one "
        "netCDF.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        required=True,
        type=Path,
        help="settings file (JSON): a diffusion.evaluate entry",
    )
    parser.add_argument("--manifest", required=True, type=Path, help="the run's manifest.parquet")
    parser.add_argument("--encoder", required=True, type=Path, help="the guiding encoder file")
    parser.add_argument("--held-out", type=Path, default=None, help="a held-out encoder file")
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the evaluation stage and print where the result went."""
    from neuroalign.diffusion.evaluate import EvaluateSettings, evaluate_synthesis
    from neuroalign.settings import read_settings

    settings = read_settings(EvaluateSettings, args.settings)
    encoders = {"guiding": args.encoder}
    if args.held_out is not None:
        encoders["held_out"] = args.held_out
    output = evaluate_synthesis(
        settings, manifest=args.manifest, encoders=encoders, output=args.output
    )
    print(output)
