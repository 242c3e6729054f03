"""``neuroalign divergence``: where a model's features fail to predict MEG, word by word."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``divergence`` subcommand and its steps ``analyze`` and ``compare``."""
    parser = subparsers.add_parser(
        "divergence",
        help="rank words by MEG prediction error and contrast word categories; compare a "
        "fine-tuned model with its base",
        description="analyze: predict each word's MEG response in time windows from a model's "
        "features (held-out folds), rank the words by error in the language windows and test "
        "lexicon categories (permutation across words, BH q), optionally with the model's "
        "next-word loss and LM-proposed hypotheses. compare: encoding r per window and "
        "category of a fine-tuned model against its base and a control, with sign-flip tests "
        "across words. The settings file holds one entry of the config's `divergence` section "
        "(docs/divergence.md).",
    )
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    analyze = steps.add_parser("analyze", help="per-word errors and category contrasts")
    compare = steps.add_parser("compare", help="fine-tuned vs base (and control) alignment")
    for sub in (analyze, compare):
        sub.add_argument("--settings", required=True, type=Path, help="settings file (JSON)")
        sub.add_argument("--dataset", type=Path, help="BIDS MEG dataset folder")
        sub.add_argument("--subject", default="01", help="subject label without sub-")
        sub.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    analyze.add_argument(
        "--activations", required=True, type=Path, help="the model's activation store"
    )
    analyze.add_argument(
        "--encoding",
        type=Path,
        help="an encoding result with prediction and observed (word, sensor, window) to "
        "analyse instead of fitting the features here",
    )
    compare.add_argument("--base", required=True, type=Path, help="base model's store")
    compare.add_argument("--finetuned", required=True, type=Path, help="fine-tuned model's store")
    compare.add_argument("--control", type=Path, help="control fine-tune's store")
    analyze.set_defaults(func=run)
    compare.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run one divergence step and print where the result went."""
    from neuroalign.divergence.settings import DivergenceSettings
    from neuroalign.divergence.stage import compare_finetuned, describe, divergence
    from neuroalign.settings import read_settings

    settings = read_settings(DivergenceSettings, args.settings)
    if args.step == "analyze":
        output = divergence(
            settings, activations=args.activations, dataset=args.dataset,
            subject=args.subject, output=args.output, encoding=args.encoding,
        )  # fmt: skip
        print(f"{output}: {describe(output)}")
    else:
        output = compare_finetuned(
            settings, base=args.base, finetuned=args.finetuned, control=args.control,
            dataset=args.dataset, subject=args.subject, output=args.output,
        )  # fmt: skip
        print(f"{output}: fine-tuned vs base per window and category")
