"""``neuroalign manifest``: validate, list and lock dataset manifests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuroalign._check import NeuroalignError
from neuroalign.data.lock import lock_manifest
from neuroalign.data.manifest import list_manifests, load_manifest


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``manifest`` subcommand and its actions."""
    parser = subparsers.add_parser(
        "manifest",
        help="validate, list or lock dataset manifests",
        description="Work with the dataset manifests (data_manifests/<id>.yaml).",
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)

    validate = actions.add_parser(
        "validate",
        help="check manifests against the schema",
        description="Validate manifests (default: every *.yaml in --manifests); print one line "
        "per invalid file and exit with status 2 if any is invalid.",
    )
    validate.add_argument("paths", nargs="*", help="manifest files (default: all in --manifests)")
    validate.add_argument("--manifests", default="data_manifests", help="(default: %(default)s)")
    validate.set_defaults(func=run_validate)

    listing = actions.add_parser(
        "list",
        help="print id, title, modality, license, access and size of every dataset",
        description="Print one row per manifest: id, modality, license, access, size, title.",
    )
    listing.add_argument("--manifests", default="data_manifests", help="(default: %(default)s)")
    listing.set_defaults(func=run_list)

    lock = actions.add_parser(
        "lock",
        help="fill in sizes and sha256 from a listing of the source",
        description="Fill in the size and sha256 of a manifest's files from a listing: a "
        "sha256sum-style file ('<sha256>  <path>' or '<sha256> <size> <path>' per line) or a "
        "folder (hashed). Listing paths match a file's path or its mirror path. The manifest "
        "is rewritten in place.",
    )
    lock.add_argument("manifest", help="the manifest .yaml to update")
    lock.add_argument("--listing", required=True, help="sha256sum-style file or a folder")
    lock.add_argument(
        "--add-missing",
        action="store_true",
        help="also add listed files the manifest lacks (url = source.base_url + path) and "
        "clear the subsets' 'partial' marks",
    )
    lock.add_argument("--dry-run", action="store_true", help="report changes, write nothing")
    lock.set_defaults(func=run_lock)


def run_validate(args: argparse.Namespace) -> None:
    """Validate manifests; raise if any is invalid (after reporting all of them)."""
    paths = [Path(p) for p in args.paths] or list_manifests(args.manifests)
    errors = []
    for path in paths:
        try:
            manifest = load_manifest(path)
        except NeuroalignError as err:
            errors.append(str(err))
            print(f"invalid  {err}", file=sys.stderr)
        except Exception as err:  # one broken file must not stop the check of the others
            errors.append(str(err))
            message = " ".join(str(err).split()) or type(err).__name__
            print(f"invalid  {path}: could not be read ({message})", file=sys.stderr)
        else:
            print(f"ok       {path} ({manifest.id}, {len(manifest.files)} files)")
    if errors:
        raise NeuroalignError(f"{len(errors)} of {len(paths)} manifest(s) invalid (see above).")


def run_list(args: argparse.Namespace) -> None:
    """Print a table of the datasets."""
    rows = [("id", "modality", "license", "access", "size", "title")]
    for path in list_manifests(args.manifests):
        m = load_manifest(path)
        size = _human(m.total_size["bytes"]) + ("~" if m.total_size["estimate"] else "")
        access = "registration" if m.access["registration_required"] else "open"
        rows.append((m.id, m.modality, m.license_label, access, size, m.title))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)), row[5])


def run_lock(args: argparse.Namespace) -> None:
    """Lock a manifest and print what changed."""
    report = lock_manifest(
        args.manifest, args.listing, add_missing=args.add_missing, write=not args.dry_run
    )
    verb = "would update" if args.dry_run else "updated"
    print(f"{args.manifest}: {verb} {len(report.updated)} file(s), added {len(report.added)}")
    for path in report.unmatched:
        print(f"  not in the listing: {path}")


def _human(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"
