"""``neuroalign stimuli``: read a dataset's stimuli into a stimulus table (parquet)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neuroalign._check import NeuroalignError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``stimuli`` subcommand."""
    parser = subparsers.add_parser(
        "stimuli",
        help="read stimuli (events, texts, localizer lists) into a stimulus table",
        description="Read a dataset's stimuli with the reader its settings name and write a "
        "stimulus table: one row per word (or sentence) with text, onset, offset, run, story, "
        "position, sentence and condition, plus the reader's extra columns. Provenance (reader, "
        "options, input checksums) is stored in the parquet metadata.",
        epilog="Examples:\n"
        "  neuroalign stimuli --list-readers\n"
        '  echo \'{"dataset": "ds", "reader": "bids_events"}\' > lpp.json\n'
        "  neuroalign stimuli --settings lpp.json --input data/raw/ds --stimset lpp "
        "--output results/stimuli/lpp.parquet\n"
        '  echo \'{"dataset": "ns", "reader": "natural_stories", '
        '"options": {"shift": 1}}\' > ns.json\n'
        "  neuroalign stimuli --settings ns.json --input processed_wordinfo.tsv --stimset ns "
        "--output ns.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--list-readers",
        action="store_true",
        help="list the readers, what --input each takes and their options, then exit",
    )
    parser.add_argument(
        "--settings",
        metavar="FILE.json",
        type=Path,
        help="the stimulus set's settings: the config's stimuli.<stimset> entry (dataset, "
        "reader, options) as JSON",
    )
    parser.add_argument(
        "--input",
        metavar="PATH",
        action="append",
        default=[],
        help="input file or folder (repeat for several)",
    )
    parser.add_argument("--stimset", metavar="NAME", help="name of the stimulus set")
    parser.add_argument("--output", metavar="FILE.parquet", help="stimulus table to write")
    parser.set_defaults(func=run)


def _list_readers() -> None:
    from neuroalign.data.stimuli import READERS

    for name, reader in READERS.items():
        options = {k: v for k, v in reader.options().items() if k != "stimset"}
        print(f"{name}\n    {reader.summary}\n    --input: {reader.inputs}")
        if options:
            text = ", ".join(f"{k}={v!r}" for k, v in options.items())
            print(f"    options: {text}")


def run(args: argparse.Namespace) -> None:
    """Run the ``stimuli`` subcommand."""
    if args.list_readers:
        _list_readers()
        return
    missing = [
        flag
        for flag, value in (
            ("--settings", args.settings),
            ("--input", args.input),
            ("--stimset", args.stimset),
            ("--output", args.output),
        )
        if not value
    ]
    if missing:
        raise NeuroalignError(
            f"missing {', '.join(missing)}; see `neuroalign stimuli --help` (or --list-readers)."
        )
    from neuroalign.data.stimuli import StimuliSettings, build_stimuli, read_table
    from neuroalign.settings import read_settings

    settings = read_settings(StimuliSettings, args.settings)
    path = build_stimuli(settings, inputs=args.input, stimset=args.stimset, output=args.output)
    table, attrs = read_table(path)
    print(
        f"wrote {len(table)} rows ({table['story'].nunique()} stories, "
        f"{table['run'].nunique()} runs) of stimset {args.stimset!r} to {path}"
    )
    for key, value in attrs.get("info", {}).items():
        print(f"  {key}: {json.dumps(value, default=str)[:300]}")
