"""The ``neuroalign`` command: one subcommand per pipeline stage.

Every Snakemake rule calls one of these subcommands; each works without Snakemake too. A stage's
subcommand lives in ``neuroalign.cli.<stage>`` and defines ``add_parser(subparsers)``, which
registers the subcommand and sets ``func`` (called with the parsed arguments).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys

from neuroalign import __version__
from neuroalign._check import NeuroalignError
from neuroalign._io import recording_config_file

# Order is the order of the pipeline; it is the order ``neuroalign --help`` lists them in.
COMMANDS = (
    "fetch",
    "manifest",
    "simulate",
    "stimuli",
    "fixations",
    "init-model",
    "extract",
    "encode",
    "localize",
    "decode-reading",
    "episodic",
    "finetune",
    "divergence",
    "reading-words",
    "vision-encode",
    "vision-decode",
    "init-unclip",
    "reconstruct",
    "image-metrics",
    "init-sd",
    "fit-encoder",
    "synthesize",
    "evaluate-synthesis",
    "caption-voxels",
    "report",
)


#: Environment variable of the default verbosity (0 warnings, 1 info, 2 debug); the workflow
#: sets it to 1 so that rule logs hold each stage's info lines.
VERBOSE_ENV = "NEUROALIGN_VERBOSE"


def _add_verbose(parser: argparse.ArgumentParser, depth: int = 0) -> None:
    """Give ``parser`` and its subcommands (at every depth) their own ``-v`` counter."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument(
                    "-v",
                    "--verbose",
                    dest=f"verbose_{depth + 1}",
                    action="count",
                    default=0,
                    help="more log output to stderr: -v info, -vv debug",
                )
                _add_verbose(sub, depth + 1)


def verbosity(args: argparse.Namespace) -> int:
    """The total of the ``-v`` flags given at any level, else ``$NEUROALIGN_VERBOSE`` (else 0)."""
    count = sum(v for k, v in vars(args).items() if k.startswith("verbose") and v)
    if count:
        return count
    try:
        return max(0, int(os.environ.get(VERBOSE_ENV, "0") or 0))
    except ValueError:
        return 0


def _configure_logging(level: int) -> None:
    """Send the package's log records at ``level`` and above to the current stderr."""
    logger = logging.getLogger("neuroalign")
    for handler in [h for h in logger.handlers if getattr(h, "_neuroalign_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._neuroalign_cli = True
    logger.addHandler(handler)
    logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every stage's subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="neuroalign",
        description="Neuro-AI alignment pipeline stages. Each subcommand is one stage; "
        "`neuroalign <stage> --help` describes its inputs and outputs.",
    )
    parser.add_argument("--version", action="version", version=f"neuroalign {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output to stderr: -v info, -vv debug (also after any subcommand; "
        f"default ${VERBOSE_ENV}, else warnings only)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<stage>", required=True)
    for name in COMMANDS:
        importlib.import_module(f"neuroalign.cli.{name.replace('-', '_')}").add_parser(subparsers)
    _add_verbose(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = verbosity(args)
    _configure_logging(
        logging.DEBUG if level > 1 else logging.INFO if level == 1 else logging.WARNING
    )
    try:
        with recording_config_file(getattr(args, "settings", None)):
            args.func(args)
    except NeuroalignError as err:
        print(f"neuroalign {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ValueError as err:
        # Input checks of the library (array shapes, runs, folds) raise ValueError, as
        # scikit-learn's do; on the command line they are the user's data: one line (-vv logs
        # the traceback).
        logging.getLogger("neuroalign.cli").debug("traceback", exc_info=True)
        print(f"neuroalign {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        # Disk full, read-only or permission faults, however deep a library raised them.
        machine = machine_error(err)
        if machine is None:
            raise
        logging.getLogger("neuroalign.cli").debug("traceback", exc_info=True)
        print(f"neuroalign {args.command}: error: {machine}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuroalign {args.command}: {INTERRUPTED}", file=sys.stderr)
        return 130
    return 0


#: What an interrupted command leaves, which is what the atomic writes guarantee: temporary
#: files are removed, resumable work (downloads, activation stores) stays for the next run.
INTERRUPTED = (
    "interrupted; nothing half-written was put in place (temporary files were removed), "
    "finished files are kept, and resumable partial files (downloads' .part, activation "
    "stores' .partial) are kept so the same command resumes."
)

#: Faults of the machine that are the user's to fix, and the fix.
_MACHINE_FIXES = {
    errno.ENOSPC: "the disk is full: free space there (or point data.root / results at a "
    "larger disk) and rerun",
    errno.EDQUOT: "your disk quota is used up: free space or raise the quota, then rerun",
    errno.EROFS: "the file system is read-only: point the output (data.root, results, "
    "--output) at a writable folder, or remount it writable",
    errno.EACCES: "permission denied: make the folder writable for you (chmod/chown) or "
    "choose a folder you own",
    errno.EPERM: "operation not permitted: make the folder writable for you (chmod/chown) or "
    "choose a folder you own",
}


def machine_error(err: BaseException) -> str | None:
    """One line for a disk-full, read-only or permission fault (in ``err`` or its causes).

    Returns None for other errors (those are bugs, and keep their traceback).
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _MACHINE_FIXES:
            where = current.filename or "(path not reported)"
            if current.filename2:
                where = f"{where} -> {current.filename2}"
            return (
                f"{where}: {current.strerror or os.strerror(current.errno)}; "
                f"{_MACHINE_FIXES[current.errno]}. Finished files and resumable partial files "
                "were kept."
            )
        current = current.__cause__ or current.__context__
    return None


def _one_line(err: BaseException) -> str:
    """The error's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":  # pragma: no cover - `python -m neuroalign.cli`
    sys.exit(main())
