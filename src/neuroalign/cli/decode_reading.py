"""``neuroalign decode-reading``: reading goal and comprehension decoded from eye movements.

Thin: read the settings file (one ``reading_decode`` entry of the config), call
:func:`neuroalign.reading.decode.decode_reading`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign decode-reading --settings results/settings/reading_decode/sim_goals.json \\
      --dataset data/raw/sim_reading_goals \\
      --activations results/activations/minilm/sim_reading_goals.zarr \\
      --output results/reading/decode/sim_goals.nc

A settings file is a JSON object with the keys of a `reading_decode` entry (config/README.md),
e.g. {"dataset": "sim_reading_goals"}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``decode-reading`` subcommand."""
    parser = subparsers.add_parser(
        "decode-reading",
        help="decode reading goal and comprehension from fixations (text, eye, fusion decoders)",
        description="Read a OneStop-format fixation report and interest-area report, decode "
        "each task (reading goal, comprehension) with each decoder in each generalization "
        "regime (new paragraph, new participant, both; grouped cross-validation), and write "
        "balanced accuracies with bootstrap intervals, an online curve over the first k "
        "fixations and per-paragraph and per-participant error tables to one netCDF.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON): a reading_decode entry"
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset folder holding the two reports"
    )
    parser.add_argument(
        "--activations",
        type=Path,
        default=None,
        help="activation store of the paragraphs' words (features.model); default: hashed "
        "bag-of-words vectors",
    )
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the decoding stage and print where the result went."""
    from neuroalign.reading.decode import DecodeReadingSettings, decode_reading, describe
    from neuroalign.settings import read_settings

    settings = read_settings(DecodeReadingSettings, args.settings)
    output = decode_reading(
        settings, dataset=args.dataset, output=args.output, activations=args.activations
    )
    print(output)
    print(describe(output))
