"""``neuroalign vision-encode``: image features of models against visual cortex, per ROI.

Thin: read the settings file (one ``vision.encode`` entry of the config), call
:func:`neuroalign.vision.encode.encode_images`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuroalign._check import NeuroalignError

EPILOG = """Example:
  neuroalign vision-encode --settings results/settings/vision_encode/sim_vision.json \\
      --activations tiny_clip=results/activations/tiny_clip/sim_vision.zarr \\
      --dataset data/raw/sim_vision --subject 01 \\
      --output results/vision/encoding/sim_vision/sub-01.nc

A settings file is a JSON object with the keys of a `vision.encode` entry (config/README.md),
e.g. {"dataset": "sim_vision", "models": ["tiny_clip"], "n_permutations": 200}; the schema's
defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``vision-encode`` subcommand."""
    parser = subparsers.add_parser(
        "vision-encode",
        help="fit voxel-wise encoding models from image features to vision fMRI, per ROI",
        description="Average the repeats of each image, fit cross-validated ridge from every "
        "model's and layer's image features to every voxel on the training images, score the "
        "held-out test images (r, R^2, noise-ceiling-normalized r^2, permutation p, BH q), sweep "
        "the layers per ROI and compare the models with bootstrap intervals. Writes one netCDF "
        "and NIfTI maps of each ROI's chosen fit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON): a vision.encode entry"
    )
    parser.add_argument(
        "--activations",
        required=True,
        action="append",
        metavar="MODEL=STORE",
        help="a model's activation store of the dataset's images (repeat for each model)",
    )
    parser.add_argument("--dataset", required=True, type=Path, help="vision fMRI dataset folder")
    parser.add_argument("--subject", required=True, help="subject label without 'sub-'")
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.add_argument("--maps", type=Path, default=None, help="folder for NIfTI maps")
    parser.set_defaults(func=run)
    return parser


def parse_stores(values: list[str]) -> dict[str, Path]:
    """``["m=path", ...]`` -> ``{"m": Path("path")}``; a value without ``=`` is refused."""
    stores: dict[str, Path] = {}
    for value in values:
        model, sep, path = value.partition("=")
        if not sep or not model or not path:
            raise NeuroalignError(
                f"--activations {value!r}: give MODEL=STORE, e.g. tiny_clip=results/activations/"
                "tiny_clip/sim_vision.zarr."
            )
        stores[model] = Path(path)
    return stores


def run(args: argparse.Namespace) -> None:
    """Run the vision encoding stage and print where the result went."""
    from neuroalign.settings import read_settings
    from neuroalign.vision.encode import encode_images, maps_folder
    from neuroalign.vision.settings import VisionEncodeSettings

    settings = read_settings(VisionEncodeSettings, args.settings)
    output = encode_images(
        settings,
        activations=parse_stores(args.activations),
        dataset=args.dataset,
        subject=args.subject,
        output=args.output,
        maps=args.maps,
    )
    print(f"{output} (maps in {args.maps or maps_folder(output)})")
