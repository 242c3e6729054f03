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


def test_check_helpers_raise_user_errors_that_stay_value_and_type_errors():
    from neuroalign._check import NeuroalignError, check_option, check_range, check_type

    for call, kind in (
        (lambda: check_option("x", 3, [1, 2]), ValueError),
        (lambda: check_range("x", 3, 0, 1), ValueError),
        (lambda: check_type("x", 3, str), TypeError),
    ):
        with pytest.raises(NeuroalignError) as err:
            call()
        assert isinstance(err.value, kind)


def _run_with(func, argv, monkeypatch):
    """Run ``main(argv)`` with the subcommand's function replaced by ``func``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.func = func

    class Fixed:
        def parse_args(self, _argv):
            return args

    monkeypatch.setattr("neuroalign.cli.build_parser", Fixed)
    return main(argv)


def test_a_validation_helper_error_is_one_line(capsys, monkeypatch):
    from neuroalign._check import check_range

    def fail(args):
        check_range("n_seeds", 0, 1)  # used to raise a plain ValueError: a traceback

    status = _run_with(fail, ["report", "--settings", "x.json"], monkeypatch)
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("neuroalign report: error: 'n_seeds' must be")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_plain_value_error_from_the_data_is_one_line(capsys, monkeypatch):
    def fail(args):
        raise ValueError("Run 'a': word onsets fall outside its 10 samples.")

    status = _run_with(fail, ["report", "--settings", "x.json"], monkeypatch)
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("neuroalign report: error: Run 'a'")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def _log(args):
    import logging

    logger = logging.getLogger("neuroalign.test")
    logger.info("an info line")
    logger.debug("a debug line")


@pytest.mark.parametrize("where", ["top", "subcommand", "action"])
def test_verbosity_flags_set_the_log_level(capsys, monkeypatch, where):
    base = {
        "top": ["report", "--settings", "x.json"],
        "subcommand": ["report", "--settings", "x.json"],
        "action": ["episodic", "heads", "--model", "m", "--output", "o"],
    }[where]

    def run(flags):
        argv = [*flags, *base] if where == "top" else [*base, *flags]
        capsys.readouterr()
        assert _run_with(_log, argv, monkeypatch) == 0
        return capsys.readouterr().err

    monkeypatch.delenv("NEUROALIGN_VERBOSE", raising=False)
    quiet = run([])
    assert "an info line" not in quiet and "a debug line" not in quiet
    info = run(["-v"])
    assert "an info line" in info and "a debug line" not in info
    debug = run(["-vv"])
    assert "an info line" in debug and "a debug line" in debug
    monkeypatch.setenv("NEUROALIGN_VERBOSE", "1")  # what the workflow sets for rule logs
    assert "an info line" in run([]) and "a debug line" not in run([])


def test_every_subcommand_takes_verbosity():
    from neuroalign.cli import verbosity

    parser = build_parser()
    for argv in (
        ["fetch", "x", "-vv"],
        ["-v", "episodic", "heads", "--model", "m", "--output", "o", "-v"],
        "encode fmri --settings s --activations a --output o --dataset d --subject 01 -vv".split(),
    ):
        assert verbosity(parser.parse_args(argv)) == 2, argv
