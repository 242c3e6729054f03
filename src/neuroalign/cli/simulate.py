"""``neuroalign simulate``: simulated datasets with planted ground truth, and their recovery."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_KIND_HELP = {
    "fmri": "story-listening fMRI (BIDS NIfTI on an MNI grid) with planted language voxels",
    "localizer": "language localizer fMRI (BIDS, sentences vs non-words) with a planted mask",
    "meg": "story MEG (BIDS, FIF, Neuromag magnetometers) with planted TRFs",
    "eyetracking": "reading eye-tracking report (OneStop IA columns) with planted word effects",
    "reading_goals": "paragraph reading under two goals with comprehension questions (OneStop "
    "fixation and IA reports) with planted goal and comprehension effects and a planted null",
    "vision": "image-viewing single-trial betas (THINGS-fMRI layout) with planted property ROIs; "
    "needs the images first (vision-images)",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neuroalign simulate`` and its subcommands."""
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated datasets with planted ground truth; recover it back",
        description="Write a simulated dataset in the format of the real ones, with the planted "
        "truth in <output>/derivatives/neuroalign-truth/, or (`recover`) estimate the planted "
        "quantities back from a simulated dataset. Same settings (seed included) give the same "
        "data.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    for kind, text in _KIND_HELP.items():
        sub = kinds.add_parser(kind, help=text, description=f"Simulate {text}.")
        sub.add_argument(
            "--settings",
            type=Path,
            default=None,
            help=f"JSON file with the config's simulate.{kind} section (seed included); missing "
            "keys take the defaults of the config schema (default: all defaults)",
        )
        sub.add_argument("--output", required=True, type=Path, help="dataset directory to write")
        if kind not in ("localizer", "reading_goals"):
            sub.add_argument(
                "--features",
                type=Path,
                default=None,
                help="the activation store of the images (sim_vision stimulus set) that the "
                "settings' features name (units, layer), instead of a random embedding"
                if kind == "vision"
                else "word features to drive the simulation instead of hashed embeddings: "
                "CSV/TSV/Parquet with a 'text' column and numeric columns (optionally "
                "'surprisal'), or netCDF with dims (item, unit) and a 'text' coordinate"
                + (
                    ", or the activation store the settings' features name (units, layer)"
                    if kind == "fmri"
                    else ""
                ),
            )
        sub.set_defaults(func=_simulate)
    images = kinds.add_parser(
        "vision-images",
        help="write the simulated vision dataset's images and image table (its first step)",
        description="Draw the procedural images of sim_vision (shapes, colours, textures, with "
        "captions) into <output>/images/ and list them in <output>/images.tsv; `simulate vision` "
        "with the same settings then writes the betas beside them.",
    )
    images.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="JSON file with the config's simulate.vision section (default: all defaults)",
    )
    images.add_argument("--output", required=True, type=Path, help="dataset directory")
    images.set_defaults(func=_vision_images)
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
        "recover_kind",
        choices=[k for k in _KIND_HELP if k != "vision"],
        metavar="<kind>",
        help="dataset kind",
    )
    rec.add_argument("--dataset", required=True, type=Path, help="simulated dataset directory")
    rec.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    rec.set_defaults(func=_recover)


def _simulate(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate import settings_class, simulate
    from neuroalign.settings import read_settings

    cls = settings_class(args.kind)
    settings = cls.from_config({}) if args.settings is None else read_settings(cls, args.settings)
    out = simulate(settings, output=args.output, features=getattr(args, "features", None))
    truth = "derivatives/planted" if args.kind == "vision" else "derivatives/neuroalign-truth"
    print(f"wrote sim_{args.kind} to {out} (planted truth in {out}/{truth})")


def _vision_images(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate import SimVisionSettings, simulate_vision_images
    from neuroalign.settings import read_settings

    cls = SimVisionSettings
    settings = cls.from_config({}) if args.settings is None else read_settings(cls, args.settings)
    out = simulate_vision_images(args.output, settings)
    print(f"wrote the images of sim_vision to {out}/images and their table to {out}/images.tsv")


def _story(args: argparse.Namespace) -> None:
    from neuroalign.data.simulate import write_story_stimuli

    out = write_story_stimuli(args.output)
    print(f"wrote the words of the bundled story to {out}")


def _recover(args: argparse.Namespace) -> None:
    from neuroalign.recovery import recover

    ds = recover(args.recover_kind, args.dataset, args.output)
    summary = json.loads(ds.attrs["summary"])
    print(f"wrote {args.output}")
    for name, value in summary.items():
        print(f"  {name}: {value:.4g}")
