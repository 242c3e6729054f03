"""``neuroalign report``: write the static HTML report of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuroalign.report import ReportSettings, build_report, load_run_config
from neuroalign.settings import read_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write the static HTML report (index, stage pages, figures, provenance)",
        description="Write the HTML report of a run from its saved results: an index of "
        "datasets, models and stages, one page per stage, recovered-vs-planted figures for "
        "simulated data, and provenance (versions, configuration, input checksums). The site "
        "is built in a temporary folder and replaces the output's folder only when complete; "
        "open index.html in a browser, no server needed.",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        help="JSON file with the config's report section (title); default: the report "
        "section of --config",
    )
    parser.add_argument(
        "--config",
        help="the run's configuration (shown on the provenance page and used to list its "
        "datasets and models): a YAML/JSON file, or a JSON object as text",
    )
    parser.add_argument(
        "--results",
        help="results folder the stages wrote to (default: config 'results', else 'results')",
    )
    parser.add_argument(
        "--data-root",
        help="data folder holding raw/<dataset>/ (default: config 'data.root', else 'data')",
    )
    parser.add_argument(
        "--output",
        default="results/report/index.html",
        help="index page to write; its folder holds the whole site and is replaced "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--inputs",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="more input files whose sha256 the provenance page records (repeatable)",
    )
    parser.add_argument(
        "--verify-checksums",
        action="store_true",
        help="recompute the sha256 of every fetched file instead of checking sizes (slow)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Build the report from parsed arguments and print where it is."""
    config, config_path = load_run_config(args.config) if args.config else ({}, None)
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    settings = None if args.settings is None else read_settings(ReportSettings, args.settings)
    index = build_report(
        settings,
        output=args.output,
        config=config,
        config_path=config_path,
        results=args.results or config.get("results") or "results",
        data_root=args.data_root or data.get("root") or "data",
        inputs=args.inputs,
        verify_checksums=args.verify_checksums,
    )
    print(f"report: {index}")
