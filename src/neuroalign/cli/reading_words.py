"""``neuroalign reading-words``: word-level effects of surprisal, frequency and length on reading.

Thin: read the settings file (one ``reading_words`` entry of the config), call
:func:`neuroalign.reading.word_stage.word_effects`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """Example:
  neuroalign reading-words --settings results/settings/reading_words/sim_reading.json \\
      --stimuli results/stimuli/sim_reading.parquet \\
      --model tiny_gpt2=path:results/models/tiny_gpt2 \\
      --participants data/raw/sim_eyetracking/ia_report.csv \\
      --output results/reading/words/sim_reading.nc

A settings file is a JSON object with the keys of a `reading_words` entry (config/README.md),
e.g. {"stimset": "sim_reading", "models": ["tiny_gpt2"]}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``reading-words`` subcommand."""
    parser = subparsers.add_parser(
        "reading-words",
        help="regress word-level reading measures on surprisal, entropy, frequency and length",
        description="Check each measure's alignment with its words (lag profile), compute "
        "word surprisal and entropy from causal LMs, and regress each reading measure on the "
        "baseline (length, frequency, position, spillover) plus each predictor set: signed "
        "coefficients with intervals, delta log-likelihood, mixed models where participant-level "
        "measures are given. Writes one netCDF.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON): a reading_words entry"
    )
    parser.add_argument("--stimuli", required=True, type=Path, help="word-level stimulus table")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="source of a model the settings name (repeat per model)",
    )
    parser.add_argument(
        "--participants", type=Path, help="participant-level measures (OneStop IA report)"
    )
    parser.add_argument(
        "--activations",
        action="append",
        default=[],
        metavar="NAME=STORE",
        help="activation store of the table's words for a model of `features` (repeat)",
    )
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the word-level effects stage and print where the result went."""
    from neuroalign._check import NeuroalignError
    from neuroalign.reading.word_settings import WordEffectsSettings
    from neuroalign.reading.word_stage import word_effects
    from neuroalign.settings import read_settings

    def pairs(specs: list[str], flag: str, example: str) -> dict[str, str]:
        out = {}
        for spec in specs:
            name, sep, value = spec.partition("=")
            if not sep or not name or not value:
                raise NeuroalignError(f"{flag} {spec!r}: give NAME=VALUE, e.g. {example}")
            out[name] = value
        return out

    models = pairs(args.model, "--model", "gpt2=hf:gpt2")
    activations = pairs(args.activations, "--activations", "minilm=results/activations/m.zarr")
    settings = read_settings(WordEffectsSettings, args.settings)
    output = word_effects(
        settings,
        stimuli=args.stimuli,
        output=args.output,
        models=models,
        participants=args.participants,
        activations=activations,
    )
    print(output)
