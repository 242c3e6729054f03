"""The ``neuroalign`` command: one subcommand per pipeline stage.

Every Snakemake rule calls one of these subcommands; each works without Snakemake too. A stage's
subcommand lives in ``neuroalign.cli.<stage>`` and defines ``add_parser(subparsers)``, which
registers the subcommand and sets ``func`` (called with the parsed arguments).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from neuroalign import __version__
from neuroalign._check import NeuroalignError

# Order is the order of the pipeline; it is the order ``neuroalign --help`` lists them in.
COMMANDS = (
    "fetch",
    "manifest",
    "simulate",
    "stimuli",
    "init-model",
    "extract",
    "encode",
    "localize",
    "episodic",
    "vision-encode",
    "vision-decode",
    "init-unclip",
    "reconstruct",
    "image-metrics",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every stage's subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="neuroalign",
        description="Neuro-AI alignment pipeline stages. Each subcommand is one stage; "
        "`neuroalign <stage> --help` describes its inputs and outputs.",
    )
    parser.add_argument("--version", action="version", version=f"neuroalign {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<stage>", required=True)
    for name in COMMANDS:
        importlib.import_module(f"neuroalign.cli.{name.replace('-', '_')}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose > 1 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except NeuroalignError as err:
        print(f"neuroalign {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"neuroalign {args.command}: interrupted; partial outputs were removed.",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m neuroalign.cli`
    sys.exit(main())
