"""``neuroalign localize``: language-selective (or MD, ToM, custom) units of a model."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``localize`` subcommand."""
    parser = subparsers.add_parser(
        "localize",
        help="find selective units of a model with a functional localizer, ablate and align them",
        description="Run a model over a localizer's two conditions (language: sentences vs "
        "non-word lists; md: hard vs easy arithmetic; tom: false belief vs false photograph; "
        "custom: a CSV text,condition,split), compute per-unit Welch t, p, FDR q and Cohen's "
        "d, select units, draw equal-size random control sets, measure run-split reliability, "
        "and optionally lesion the units (held-out task deficits vs random sets) and compare "
        "their brain alignment with random sets. Writes one netCDF file. The settings file "
        "holds one entry of the config's `localize` section (config/README.md), e.g. "
        '{"localizer": "language", "n_items": 6}; missing keys take their defaults.',
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON) of the localizer run"
    )
    parser.add_argument(
        "--model", required=True, help="model source: hf:<id>[@revision], path:<dir> or pypi:<pkg>"
    )
    parser.add_argument(
        "--stimuli",
        required=True,
        type=Path,
        help="localizer stimuli: the langloc CSV folder, the arithmetic CSV, the ToM folder, "
        "or a custom CSV with columns text, condition, split (or a stimulus table)",
    )
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.add_argument("--blimp", type=Path, help="BLiMP.zip (minimal pairs of the ablation)")
    parser.add_argument("--corpus", type=Path, help="text file for next-word loss (causal LMs)")
    parser.add_argument(
        "--brain",
        type=Path,
        help="brain responses: the Pereira 2018 sentence-means CSV or a table with a text "
        "column and numeric response columns",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the localizer stage and print where the result went."""
    from neuroalign.localize.settings import LocalizeSettings
    from neuroalign.localize.stage import describe, localize
    from neuroalign.settings import read_settings

    settings = read_settings(LocalizeSettings, args.settings)
    output = localize(
        settings,
        model_source=args.model,
        stimuli=args.stimuli,
        output=args.output,
        blimp=args.blimp,
        corpus=args.corpus,
        brain=args.brain,
    )
    print(f"{output}: {describe(output)}")
