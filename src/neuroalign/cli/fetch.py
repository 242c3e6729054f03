"""``neuroalign fetch``: download a dataset subset listed in a manifest."""

from __future__ import annotations

import argparse
import os

from neuroalign.config import load_config
from neuroalign.data.fetch import MIRROR_ENV, fetch_dataset
from neuroalign.data.manifest import find_manifest


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``fetch`` subcommand."""
    parser = subparsers.add_parser(
        "fetch",
        help="download a dataset subset (checksums, resume, mirror, license terms)",
        description="Download the files of a named subset of a dataset manifest into "
        "<data-dir>/raw/<dataset>/. Sizes and sha256 are checked before a file is moved into "
        "place; a cut download resumes on the next run; files already present and verified are "
        "skipped. The license and citation are logged. When every file is in place, the stamp "
        "<data-dir>/raw/<dataset>/.neuroalign-fetch-<subset>.json is written.",
    )
    parser.add_argument("dataset", help="dataset id (a manifest name) or a manifest .yaml path")
    parser.add_argument(
        "--subset", default="starter", help="named subset to fetch (default: %(default)s)"
    )
    parser.add_argument(
        "--data-dir", help="data root holding raw/<dataset>/ (default: config data.root, else data)"
    )
    parser.add_argument(
        "--manifests",
        help="folder of manifests (default: config data.manifests, else data_manifests)",
    )
    parser.add_argument(
        "--mirror",
        help=f"local folder or http(s) base URL replacing upstream sources (default: "
        f"${MIRROR_ENV}, else config data.mirror); '' turns the mirror off",
    )
    parser.add_argument(
        "--config", help="pipeline configuration (for data.root, data.mirror, data.accept_terms)"
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
        "--no-progress", action="store_true", help="do not show download progress bars"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Fetch the subset and print the stamp's path."""
    data = load_config(args.config)["data"] if args.config else {}
    mirror = args.mirror
    if mirror is None and MIRROR_ENV not in os.environ:
        mirror = data.get("mirror") or ""
    manifest = find_manifest(
        args.dataset, args.manifests or data.get("manifests", "data_manifests")
    )
    stamp = fetch_dataset(
        manifest,
        args.data_dir or data.get("root", "data"),
        subset=args.subset,
        mirror=mirror,
        accept_terms=args.accept_terms,
        accepted=data.get("accept_terms", []),
        allow_unverified=args.allow_unverified,
        retries=args.retries,
        progressbar=not args.no_progress,
    )
    print(stamp)
