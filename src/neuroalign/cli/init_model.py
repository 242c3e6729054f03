"""``neuroalign init-model``: a model with random weights, saved with its processor to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuroalign._check import NeuroalignError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``init-model`` subcommand."""
    from neuroalign.models.random_init import NAMED_CONFIGS

    parser = subparsers.add_parser(
        "init-model",
        help="build a model with random weights from a named config and save it to a folder",
        description="Build a model with seeded random weights from a named config or a JSON "
        "spec and save it with its processor (save_pretrained) to a folder, usable as the "
        f"model source path:<folder>. Named configs: {', '.join(NAMED_CONFIGS)}.",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        help="JSON settings {config, seed} (the schema's $defs/model_init; a model's init)",
    )
    parser.add_argument(
        "--config", help="a named config or a JSON spec file (instead of --settings)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the weights (default 0)")
    parser.add_argument("--output", required=True, type=Path, help="folder to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Build the model and print where it went."""
    from neuroalign.models.random_init import init_model
    from neuroalign.models.stage import ModelInit
    from neuroalign.settings import read_settings

    if args.settings is not None:
        settings = read_settings(ModelInit, args.settings)
    elif args.config:
        settings = ModelInit.from_config({"config": args.config}, source="--config")
    else:
        raise NeuroalignError("give --settings FILE or --config NAME")
    if args.config:
        settings = settings.replace(config=args.config)
    if args.seed is not None:
        settings = settings.replace(seed=args.seed)
    print(init_model(settings.config, args.output, seed=settings.seed))
