"""``neuroalign fixations``: fixations detected in a raw EyeLink recording, as a fixation report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``fixations`` subcommand."""
    parser = subparsers.add_parser(
        "fixations",
        help="detect fixations in a raw EyeLink recording (I-VT / I-DT) and write a fixation "
        "report",
        description="Read an EyeLink ASCII recording (edf2asc) through MNE, split it into "
        "trials at its messages, detect each trial's fixations with pymovements (I-VT on "
        "velocity in deg/s or I-DT on dispersion in degrees, from the screen geometry) and "
        "write a fixation report in EyeLink Data Viewer's columns (CURRENT_FIX_*, times in ms "
        "from each trial's start), which the OneStop fixation-report reader reads. With an "
        "interest-area report, fixations are put on its words. The settings file holds the "
        "`fixations` settings (docs/reading.md), e.g. "
        '{"method": "ivt", "velocity_threshold": 40, "screen": {"pixels_per_degree": 46}} '
        "(EyeLink writes the recording's pixels per degree on its END lines: RES x y); "
        "missing keys take their defaults.",
        epilog="Example:\n"
        '  echo \'{"trial_start": "TRIALID", "trial_end": "TRIAL_RESULT"}\' > fix.json\n'
        "  neuroalign fixations --settings fix.json --recording sub-01.asc "
        "--output sub-01_fixations.csv [--interest-areas ia_report.csv]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings", required=True, type=Path, help="settings file (JSON) of the detection"
    )
    parser.add_argument("--recording", required=True, type=Path, help="EyeLink ASCII file (.asc)")
    parser.add_argument(
        "--output", required=True, type=Path, help="fixation report to write (.csv)"
    )
    parser.add_argument(
        "--participant", help="the reader's id in the report (default: the recording's stem)"
    )
    parser.add_argument(
        "--interest-areas",
        type=Path,
        help="interest-area report (CSV with IA_LEFT/TOP/RIGHT/BOTTOM) of the recording's "
        "trials: fixations get the word they fall on",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the fixation detection and print where the report went."""
    import pandas as pd

    from neuroalign.data.fixations import FixationSettings, fixations
    from neuroalign.settings import read_settings

    settings = read_settings(FixationSettings, args.settings)
    output = fixations(
        settings,
        recording=args.recording,
        output=args.output,
        participant=args.participant,
        interest_areas=args.interest_areas,
    )
    report = pd.read_csv(output, usecols=["TRIAL_INDEX"])
    print(
        f"{output}: {len(report)} fixations in {report['TRIAL_INDEX'].nunique()} trials "
        f"({settings.method})"
    )
