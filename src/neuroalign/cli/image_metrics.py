"""``neuroalign image-metrics``: reconstructions against their ground-truth images.

Thin: read the settings file (the config's ``vision.metrics`` section), call
:func:`neuroalign.vision.evaluate.evaluate_images`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign image-metrics --settings results/settings/image_metrics/metrics.json \\
      --truth data/raw/sim_vision \\
      --recons results/vision/decode/sim_vision/sub-01/tiny_clip/recons/recons.parquet \\
      --output results/vision/decode/sim_vision/sub-01/tiny_clip/metrics.nc

A settings file is a JSON object with the keys of the `vision.metrics` section
(config/README.md), e.g. {"extractors": "random"}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``image-metrics`` subcommand."""
    parser = subparsers.add_parser(
        "image-metrics",
        help="score reconstructions with MindEye's image metrics (PixCorr, SSIM, 2-way, ...)",
        description="Resize ground truth and reconstructions to a common size and compute "
        "PixCorr, SSIM, AlexNet(2)/(5), InceptionV3 and CLIP 2-way identification and "
        "EffNet-B1 and SwAV correlation distances, with bootstrap intervals over images. "
        "Writes one netCDF.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON): vision.metrics"
    )
    parser.add_argument(
        "--truth",
        required=True,
        type=Path,
        help="dataset folder, image table (parquet/CSV) or folder of <image_id>.png",
    )
    parser.add_argument("--recons", required=True, type=Path, help="recons.parquet (or its folder)")
    parser.add_argument("--output", required=True, type=Path, help="result file (metrics.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the metrics stage and print where the result went."""
    from neuroalign.settings import read_settings
    from neuroalign.vision.evaluate import MetricsSettings, evaluate_images, metrics_table

    settings = read_settings(MetricsSettings, args.settings)
    output = evaluate_images(settings, truth=args.truth, recons=args.recons, output=args.output)
    print(output)
    print(metrics_table(output).round(3).to_string(index=False))
