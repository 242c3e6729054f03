"""``neuroalign extract``: unit activations of a model for a stimulus table, into a Zarr store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``extract`` subcommand."""
    parser = subparsers.add_parser(
        "extract",
        help="extract unit activations of a model for a stimulus table (Zarr store)",
        description="Run a language or vision-language model over a stimulus table and write "
        "pooled unit activations (item x layer x unit per unit space) to a Zarr store, with "
        "provenance. An interrupted run resumes where it stopped.",
    )
    parser.add_argument(
        "--settings",
        required=True,
        type=Path,
        help="JSON settings of the job: {model: <an entry of the config's models>, context, "
        "pooling} (the schema's $defs/extraction; missing keys take its defaults)",
    )
    parser.add_argument("--stimuli", required=True, type=Path, help="stimulus table (.parquet)")
    parser.add_argument("--output", required=True, type=Path, help="output store (.zarr)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Read the settings, run the extract stage and print where the store went."""
    from neuroalign.models.stage import ExtractSettings, extract
    from neuroalign.settings import read_settings

    settings = read_settings(ExtractSettings, args.settings)
    print(extract(settings, stimuli=args.stimuli, output=args.output))
