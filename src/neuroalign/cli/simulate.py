"""``neuroalign simulate``: simulated datasets with planted ground truth, and their recovery."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neuroalign.cli._settings import read_settings

_KIND_HELP = {
    "fmri": "story-listening fMRI (BIDS NIfTI on an MNI grid) with planted language voxels",
    "localizer": "language localizer fMRI (BIDS, sentences vs non-words) with a planted mask",
    "meg": "story MEG (BIDS, FIF, Neuromag magnetometers) with planted TRFs",
    "eyetracking": "reading eye-tracking report (OneStop IA columns) with planted word effects",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neuroalign simulate`` and its subcommands."""
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated datasets with planted ground truth; recover it back",
        description="Write a simulated dataset in the format of the real ones, with the planted "
        "truth in <output>/derivatives/neuroalign-truth/, or (`recover`) estimate the planted "
        "quantities back from a simulated dataset. Same seed and settings give the same data.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    for kind, text in _KIND_HELP.items():
        sub = kinds.add_parser(kind, help=text, description=f"Simulate {text}.")
        sub.add_argument("--output", required=True, type=Path, help="dataset directory to write")
        sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        sub.add_argument(
            "--settings",
            default=None,
            help=f"JSON object (or a .json file) with the config's simulate.{kind} settings; "
            "missing keys take the defaults in the config schema",
        )
        if kind != "localizer":
            sub.add_argument(
                "--features",
                type=Path,
                default=None,
                help="word features to drive the simulation instead of hashed embeddings: "
                "CSV/TSV/Parquet with a 'text' column and numeric columns (optionally "
                "'surprisal'), or netCDF/Zarr with dims (item, unit) and a 'text' coordinate, "
                "or an activation store (with --features-variable and --features-layer)",
            )
            sub.add_argument(
                "--features-variable",
                default=None,
                help="data variable of an xarray feature file, e.g. the unit space 'resid'",
            )
            sub.add_argument(
                "--features-layer", type=int, default=None, help="layer of that variable"
            )
        sub.set_defaults(func=_simulate)
    story = kinds.add_parser(
        "story",
        help="write the bundled story's words as a stimulus table",
        description="Write the words of the story the simulated datasets are built from as a "
        "stimulus table (one row per word, chapters as stories, no timing), so a model's "
        "activations for it can drive a simulation through --features.",
    )
    story.add_argument("--output", required=True, type=Path, help="parquet file to write")
    story.set_defaults(func=_story)
    rec = kinds.add_parser(
        "recover",
        help="estimate planted quantities from a simulated dataset (recovered vs planted)",
        description="Read a simulated dataset with generic readers, recover the planted "
        "quantities with standard methods and write a netCDF with planted_<name> / "
        "recovered_<name> pairs and a JSON summary in attrs['summary'].",
    )
    rec.add_argument(
        "recover_kind", choices=list(_KIND_HELP), metavar="<kind>", help="dataset kind"
    )
    rec.add_argument("--dataset", required=True, type=Path, help="simulated dataset directory")
    rec.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    rec.set_defaults(func=_recover)


def _simulate(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate import SIMULATORS, read_feature_table, resolve_settings

    settings = resolve_settings(args.kind, read_settings(args.settings), source="--settings")
    kwargs: dict[str, Any] = {"seed": args.seed, "settings": settings}
    if getattr(args, "features", None) is not None:
        kwargs["features"] = read_feature_table(
            args.features, variable=args.features_variable, layer=args.features_layer
        )
    out = SIMULATORS[args.kind](args.output, **kwargs)
    print(f"wrote sim_{args.kind} to {out} (planted truth in {out}/derivatives/neuroalign-truth)")


def _story(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate.story import story_table
    from neuroalign.data.stimuli import standardize, write_table

    table = standardize(story_table(), stimset=args.output.stem, reader="simulate story")
    write_table(table, args.output)
    print(f"wrote {len(table)} words of the bundled story to {args.output}")


def _recover(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate import recover

    ds = recover(args.recover_kind, args.dataset, args.output)
    summary = json.loads(ds.attrs["summary"])
    print(f"wrote {args.output}")
    for name, value in summary.items():
        print(f"  {name}: {value:.4g}")
