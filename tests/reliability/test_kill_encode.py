"""SIGKILL of the encode stage itself, at several points of its run.

``neuroalign encode eyetracking`` runs on a small simulated report and an activation store made
here (as tests/encode make them). A child process imports the stage once, then forks one run
per kill point (so each costs the stage's time, not an interpreter's start): killed after a
few delays, in the fit of its second layer, with its netCDF half-written, and with it whole
but not yet renamed into place; then once uninterrupted, and killed again with that result in
place. After every kill no file at the output path may look complete unless it is complete
(`load_netcdf` opens it and it equals an uninterrupted run's), and the rerun gives the same
result as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.data.simulate import SimEyetrackingSettings, simulate_eyetracking
from neuroalign.results import load_netcdf

#: Runs the stage through the command line once per point, each in a forked process, when the
#: test says go; a point stops (says so in ``<point>.ready``, then sleeps) where it names.
CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import torch
    import xarray as xr
    from neuroalign.cli import main
    from neuroalign.encode import reading  # what the stage imports, before forking

    torch.set_num_threads(1)  # no thread pool, before the first fork
    argv, control, points = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    # one run to a scratch file first, so each forked run costs only the stage's own time
    assert main([*argv[:-1], str(control / "warm-up.nc")]) == 0

    def say(name, text):  # whole or not at all: the test reads it at once
        (control / f".{name}").write_text(text)
        os.replace(control / f".{name}", control / name)

    def stop_here(point):
        say(f"{point}.ready", point)
        time.sleep(120)

    def inject(point):
        kind = point.split("-")[0]
        if kind == "fit":  # in the fit of the second layer, the first one done
            gain, calls = reading.gain_over_baselines, []
            def slow(*args, **kwargs):
                calls.append(1)
                if len(calls) == 2:
                    stop_here(point)
                return gain(*args, **kwargs)
            reading.gain_over_baselines = slow
        if kind in ("half", "whole"):  # the result written into its temporary file
            to_netcdf = xr.Dataset.to_netcdf
            def held(self, path, *args, **kwargs):
                to_netcdf(self, path, *args, **kwargs)
                if kind == "half":
                    with open(path, "r+b") as f:
                        f.truncate(Path(path).stat().st_size // 2)
                stop_here(point)
            xr.Dataset.to_netcdf = held

    for point in points:
        while not (control / f"{point}.go").exists():
            time.sleep(0.01)
        pid = os.fork()
        if pid == 0:
            inject(point)
            os._exit(main(argv))
        say(f"{point}.pid", str(pid))
        _, status = os.waitpid(pid, 0)
        say(f"{point}.done", str(status))
    """
)

#: Kill points, in order: ``delay-S`` kills S seconds after the run starts; ``full`` runs
#: uninterrupted (the rerun); the last two are killed with that result in place.
POINTS = [
    *("delay-0.05", "fit-1", "half-1", "whole-1", "delay-0.15", "delay-0.3"),
    *("full", "half-2", "fit-2"),
]


def _prepare(root: Path) -> list[str]:
    """A small simulated report, a store (noise in layer 0, surprisal in 1), a settings file."""
    dataset = simulate_eyetracking(
        root / "sim_eye",
        SimEyetrackingSettings.from_config(
            {"seed": 0, "n_readers": 2, "stories": ["lighthouse", "orchard"]}
        ),
    )
    report = pd.read_csv(dataset / "ia_report.csv", na_values=["."])
    words = report.groupby(["unique_paragraph_id", "IA_ID"], sort=False).first().reset_index()
    noise = np.random.default_rng(0).standard_normal(len(words))
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, words["surprisal"]], 1)[..., None])},
        coords={
            "story": ("item", np.array(words["unique_paragraph_id"].astype(str).tolist())),
            "text": ("item", np.array(words["IA_LABEL"].astype(str).tolist())),
            "layer": [0, 1],
        },
        attrs={"complete": "true"},
    )
    store.to_netcdf(root / "features.nc")
    entry = {"kind": "eyetracking", "dataset": "sim", "stimset": "story", "models": ["toy"]}
    settings = root / "encode.json"
    small = {"folds": 3, "alphas": {"start": -2, "stop": 4, "num": 4}}  # seconds, not minutes
    settings.write_text(json.dumps({**entry, **small, "device": "cpu", "dtype": "float64"}))
    return [
        "encode",
        "eyetracking",
        *("--settings", str(settings), "--activations", str(root / "features.nc")),
        *("--report", str(dataset / "ia_report.csv")),
    ]


def _result(path: Path) -> xr.Dataset:
    ds = load_netcdf(path, "encoding result")
    for name in ("created", "git_commit"):  # when and from which checkout: not the result
        ds.attrs.pop(name, None)
    return ds


def _wait(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"{path.name} never came: {proc.communicate()[0][-3000:]}")
        time.sleep(0.005)


def test_sigkill_of_an_encode_at_any_point_leaves_no_result_that_looks_complete(tmp_path):
    argv = _prepare(tmp_path)
    out = tmp_path / "results" / "encoding" / "eye.nc"
    control = tmp_path / "control"
    control.mkdir()
    command = json.dumps([*argv, "--output", str(out)])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, command, str(control), *POINTS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    previous = None
    try:
        # the uninterrupted run, while the child starts
        reference = tmp_path / "reference" / "eye.nc"
        assert main([*argv, "--output", str(reference)]) == 0
        expected = _result(reference)
        for point in POINTS:
            (control / f"{point}.go").write_text("go")
            _wait(control / f"{point}.pid", child)
            pid = int((control / f"{point}.pid").read_text())
            if point.startswith("delay"):
                time.sleep(float(point.split("-")[1]))
            elif point != "full":
                _wait(control / f"{point}.ready", child)
            if point != "full" and not (control / f"{point}.done").exists():
                os.kill(pid, signal.SIGKILL)
            _wait(control / f"{point}.done", child)
            status = int((control / f"{point}.done").read_text())
            if point == "full":
                assert os.waitstatus_to_exitcode(status) == 0, "the rerun failed"
                xr.testing.assert_identical(_result(out), expected)
                previous = out.read_bytes()
                continue
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            assert killed or point.startswith("delay"), f"{point}: not killed ({status})"
            if previous is not None and killed:
                assert out.read_bytes() == previous, f"{point}: the previous result changed"
            elif out.exists():  # a delay that came after the run: then the result is whole
                assert not killed, f"{point}: a killed run left a file at the output path"
                xr.testing.assert_identical(_result(out), expected)
                previous = out.read_bytes()
            else:
                with pytest.raises(NeuroalignError, match=r"not found: .*run the stage"):
                    load_netcdf(out, "encoding result")
            # what a killed run leaves is hidden (its temporary folder), nothing else
            left = list(out.parent.iterdir()) if out.parent.exists() else []
            assert all(p.name.startswith(".") for p in left if p != out), left
    finally:
        child.kill()
        child.communicate()
    assert previous is not None, "the uninterrupted rerun never wrote its result"
