"""``neuroalign fetch``: download a dataset subset listed in a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuroalign.data.fetch import MIRROR_ENV, FetchSettings, fetch
from neuroalign.settings import read_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``fetch`` subcommand."""
    parser = subparsers.add_parser(
        "fetch",
        help="download a dataset subset (checksums, resume, mirror, license terms)",
        description="Download the files of a named subset of a dataset manifest into "
        "<data-dir>/raw/<dataset>/. Sizes and sha256 are checked before a file is moved into "
        "place; a cut download resumes on the next run; files already present and verified are "
        "skipped. The license and citation are logged. When every file is in place, the stamp "
        "<data-dir>/raw/<dataset>/.neuroalign-fetch-<subset>.json is written. The mirror is, "
        f"in this order: --mirror, ${MIRROR_ENV}, the settings' mirror (config data.mirror), "
        "none; an empty value turns it off at its level.",
    )
    parser.add_argument("dataset", help="dataset id (a manifest name) or a manifest .yaml path")
    parser.add_argument(
        "--subset", default="starter", help="named subset to fetch (default: %(default)s)"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        help="JSON file with the config's data section (root, manifests, mirror, "
        "accept_terms); default: the schema's defaults",
    )
    parser.add_argument(
        "--data-dir", help="data root holding raw/<dataset>/ (default: the settings' root)"
    )
    parser.add_argument(
        "--manifests", help="folder of manifests (default: the settings' manifests)"
    )
    parser.add_argument(
        "--mirror",
        help=f"local folder or http(s) base URL replacing upstream sources; beats "
        f"${MIRROR_ENV} and the settings' mirror; '' turns the mirror off",
    )
    parser.add_argument(
        "--accept-terms",
        action="store_true",
        help="record that you read and accepted the dataset's terms (registration-gated datasets)",
    )
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="also fetch files whose sha256 the manifest does not give (unchecked)",
    )
    parser.add_argument(
        "--retries", type=int, default=4, help="retries on server errors (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="overall deadline of the fetch in seconds, so a server that trickles bytes cannot "
        "hang it; the partial download is kept and resumed on the next run (default: the "
        "settings' fetch_timeout, config data.fetch_timeout)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show download progress bars"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Fetch the subset and print the stamp's path."""
    settings = (
        FetchSettings.from_config({})
        if args.settings is None
        else read_settings(FetchSettings, args.settings)
    )
    stamp = fetch(
        settings,
        args.dataset,
        subset=args.subset,
        data_dir=args.data_dir,
        manifests=args.manifests,
        mirror=args.mirror,
        accept_terms=args.accept_terms,
        allow_unverified=args.allow_unverified,
        retries=args.retries,
        progressbar=not args.no_progress,
        deadline=-1 if args.timeout is None else args.timeout,
    )
    print(stamp)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value
