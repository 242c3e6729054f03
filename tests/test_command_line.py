import subprocess
import sys
from pathlib import Path

import pytest

from neuroalign.cli import COMMANDS, build_parser, main

NEUROALIGN = Path(sys.executable).parent / "neuroalign"


def test_help_lists_one_subcommand_per_stage():
    out = subprocess.run(
        [str(NEUROALIGN), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out
    assert build_parser().parse_args(["report"]).command == "report"


def test_every_rule_calls_a_subcommand(repo_root):
    shells = "".join(p.read_text() for p in (repo_root / "workflow" / "rules").glob("*.smk"))
    called = {
        line.split()[1] for line in shells.splitlines() if line.strip().startswith('"neuroalign ')
    }
    assert called and called <= set(COMMANDS)


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    settings = tmp_path / "x.json"
    settings.write_text('{"dataset": "pereira2018", "reader": "pereira2018"}')
    status = main(
        [
            "stimuli",
            "--settings",
            str(settings),
            "--input",
            str(tmp_path / "missing.csv"),
            "--stimset",
            "x",
            "--output",
            str(tmp_path / "x.parquet"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("neuroalign stimuli: error:") and "missing.csv" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_unknown_subcommand_suggests(capsys):
    with pytest.raises(SystemExit):
        main(["simulte"])
    assert "invalid choice" in capsys.readouterr().err
