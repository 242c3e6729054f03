"""``neuroalign encode <kind>``: fit encoding models from activations to brain or reading data.

Thin: read the settings file (one ``encode`` entry of the config, as the workflow writes it),
call the kind's stage function in :mod:`neuroalign.encode`, say where the output went.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuroalign.encode.settings import EncodeSettings
from neuroalign.settings import read_settings

EPILOG = """Examples:
  neuroalign encode fmri --settings results/settings/encode/sim_fmri_story.json \\
      --activations results/activations/minilm/sim_story.zarr --dataset data/raw/sim_fmri \\
      --subject 01 --output results/encoding/sim_fmri_story/minilm/sub-01.nc
  neuroalign encode sentences --settings results/settings/encode/pereira2018.json \\
      --activations results/activations/minilm/pereira2018.zarr \\
      --stimuli results/stimuli/pereira2018.parquet \\
      --output results/encoding/pereira2018/minilm/sentences.nc

A settings file is a JSON object with the keys of an `encode` entry (config/README.md), e.g.
{"kind": "fmri", "dataset": "sim_fmri", "stimset": "sim_story", "models": ["minilm"],
 "options": {"n_perm": 50}}; the schema's defaults fill the rest."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neuroalign encode`` and its ``fmri``, ``meg``, ``meg_epochs``, ``eyetracking``,
    ``sentences`` and ``words`` commands."""
    parser = subparsers.add_parser(
        "encode",
        help="fit encoding models (ridge, per-target alpha) from activations to brain data",
        description="Fit cross-validated ridge encoding models from a model's activations "
        "(an activation store with dims (item, [layer,] unit) and item coordinates "
        "text/story) to brain or behavioural data, score them on held-out data, and write a "
        "netCDF of target-wise results with provenance (plus NIfTI maps for fMRI and an Evoked "
        "file for MEG).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="<kind>", required=True)
    fmri = _kind(kinds, "fmri", "story fMRI (BIDS): voxels as targets")
    _subject(fmri)
    fmri.add_argument("--maps", type=Path, default=None, help="folder for NIfTI maps")
    fmri.add_argument(
        "--unit-sets",
        type=Path,
        default=None,
        help="a `neuroalign localize` result: also fit the localized units and each of its "
        "equal-size random sets (brain alignment of the localized units)",
    )
    fmri.set_defaults(func=run_fmri)
    meg = _kind(kinds, "meg", "story MEG (BIDS FIF): sensors as targets, TRFs")
    _subject(meg)
    meg.add_argument("--evoked", type=Path, default=None, help="Evoked FIF of the TRF norms")
    meg.set_defaults(func=run_meg)
    epochs = _kind(
        kinds,
        "meg_epochs",
        "any BIDS MEG (KIT, FIF, CTF): word epochs, ridge per sensor and window",
    )
    _subject(epochs)
    epochs.add_argument("--evoked", type=Path, default=None, help="Evoked FIF of r per window")
    epochs.set_defaults(func=run_meg_epochs)
    eye = _kind(kinds, "eyetracking", "reading measures per word: gain over length/frequency")
    eye.add_argument("--report", required=True, type=Path, help="interest-area report (CSV)")
    eye.set_defaults(func=run_eyetracking)
    for name, text, func in (
        ("sentences", "one response per sentence in a stimulus table (Pereira)", run_sentences),
        ("words", "per-word reading measures in a stimulus table (UCL, OneStop)", run_words),
    ):
        sub = _kind(kinds, name, text)
        sub.add_argument("--stimuli", required=True, type=Path, help="stimulus table (.parquet)")
        sub.set_defaults(func=func)


def _kind(kinds: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    """A kind's parser with the arguments every kind takes."""
    sub = kinds.add_parser(name, help=text, description=f"neuroalign encode {name}: {text}.")
    sub.add_argument(
        "--settings",
        required=True,
        type=Path,
        help="settings file (JSON): an `encode` entry of the config, as the workflow writes it",
    )
    sub.add_argument("--activations", required=True, type=Path, help="activation store")
    sub.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    return sub


def _subject(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--dataset", required=True, type=Path, help="BIDS dataset folder")
    sub.add_argument("--subject", required=True, help="subject label without 'sub-'")


def _settings(args: argparse.Namespace) -> EncodeSettings:
    return read_settings(EncodeSettings, args.settings)


def run_fmri(args: argparse.Namespace) -> None:
    """``neuroalign encode fmri``."""
    from neuroalign.encode.fmri import encode_fmri, maps_folder

    output = encode_fmri(
        _settings(args),
        activations=args.activations,
        dataset=args.dataset,
        subject=args.subject,
        output=args.output,
        maps=args.maps,
        unit_sets=args.unit_sets,
    )
    print(f"wrote {output} and {args.maps or maps_folder(output)}/")


def _run_meg_kind(args: argparse.Namespace, stage, evoked_file) -> None:
    output = stage(
        _settings(args),
        activations=args.activations,
        dataset=args.dataset,
        subject=args.subject,
        output=args.output,
        evoked=args.evoked,
    )
    print(f"wrote {output} and {args.evoked or evoked_file(output)}")


def run_meg(args: argparse.Namespace) -> None:
    """``neuroalign encode meg``."""
    from neuroalign.encode.meg import encode_meg, evoked_file

    _run_meg_kind(args, encode_meg, evoked_file)


def run_meg_epochs(args: argparse.Namespace) -> None:
    """``neuroalign encode meg_epochs``."""
    from neuroalign.encode.meg_epochs import encode_meg_epochs, evoked_file

    _run_meg_kind(args, encode_meg_epochs, evoked_file)


def run_eyetracking(args: argparse.Namespace) -> None:
    """``neuroalign encode eyetracking``."""
    from neuroalign.encode.reading import encode_eyetracking

    settings = _settings(args)
    output = encode_eyetracking(
        settings, activations=args.activations, report=args.report, output=args.output
    )
    print(f"wrote {output}")


def run_sentences(args: argparse.Namespace) -> None:
    """``neuroalign encode sentences``."""
    from neuroalign.encode.tables import encode_sentences

    settings = _settings(args)
    output = encode_sentences(
        settings, activations=args.activations, stimuli=args.stimuli, output=args.output
    )
    print(f"wrote {output}")


def run_words(args: argparse.Namespace) -> None:
    """``neuroalign encode words``."""
    from neuroalign.encode.tables import encode_words

    settings = _settings(args)
    output = encode_words(
        settings, activations=args.activations, stimuli=args.stimuli, output=args.output
    )
    print(f"wrote {output}")
