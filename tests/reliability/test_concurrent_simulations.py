"""Two workflows on one data root simulating the same dataset at once (different results folders).

Two ``neuroalign simulate`` processes write one dataset folder: the first is held half-way
(its files written into the hidden temporary folder, not yet renamed into place) until the
second has started and says it waits on the dataset's lock; then both must finish, the second
after the first, and the dataset must be whole and the same as one run's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import xarray as xr

from neuroalign.cli import main
from neuroalign.data.dataset_lock import lock_path
from neuroalign.results import load_netcdf

SETTINGS = {"seed": 3, "n_readers": 3}

#: The first simulation: held after it wrote the planted truth into its temporary folder,
#: until the test lets it go on.
HELD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from neuroalign.cli import main
    from neuroalign.data.simulate import bids

    ready, go = Path(sys.argv[1]), Path(sys.argv[2])
    write_truth = bids.write_truth

    def held(*args, **kwargs):
        folder = write_truth(*args, **kwargs)
        ready.write_text("held")
        end = time.monotonic() + 60
        while not go.exists() and time.monotonic() < end:
            time.sleep(0.02)
        return folder

    bids.write_truth = held
    sys.exit(main(sys.argv[3:]))
    """
)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"{what} did not happen: {str(proc.communicate())[-3000:]}")
        time.sleep(0.02)


def test_two_simulations_of_one_dataset_wait_for_each_other(tmp_path):
    settings = tmp_path / "sim.json"
    settings.write_text(json.dumps(SETTINGS))
    raw = tmp_path / "data" / "raw"
    out = raw / "sim_eyetracking"
    argv = ["simulate", "eyetracking", "--settings", str(settings), "--output", str(out), "-v"]
    ready, go = tmp_path / "ready", tmp_path / "go"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    first = subprocess.Popen([sys.executable, "-c", HELD, str(ready), str(go), *argv], **pipes)
    _wait_for(ready.exists, first, "the first simulation reaching its write")
    assert not out.exists(), "a half-written dataset is in place"
    second_log = tmp_path / "second.log"
    with open(second_log, "w") as log:
        second = subprocess.Popen(
            [sys.executable, "-m", "neuroalign", *argv], stdout=subprocess.PIPE, stderr=log
        )
    _wait_for(lambda: "waiting for it" in second_log.read_text(), second, "the second one waiting")
    assert not out.exists(), "the second simulation wrote while the first held the lock"
    go.write_text("go")
    _, err_first = first.communicate(timeout=60)
    second.communicate(timeout=60)
    err_second = second_log.read_text()
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert "Traceback" not in err_first + err_second
    waiting = next(line for line in err_second.splitlines() if "waiting for it" in line)
    assert "another simulation of sim_eyetracking is running" in waiting
    assert str(lock_path(out)) in waiting and f"pid {first.pid}" in waiting
    # the second wrote after the first, one at a time: the dataset is whole and as one run's
    single = tmp_path / "single"
    assert main([*argv[:-3], "--output", str(single)]) == 0
    got, expected = _files(out), _files(single)
    truth = "derivatives/neuroalign-truth/truth.nc"
    assert set(got) == set(expected)
    assert {k: v for k, v in got.items() if k != truth} == {
        k: v for k, v in expected.items() if k != truth
    }
    written, reference = load_netcdf(out / truth), load_netcdf(single / truth)
    for ds in (written, reference):
        ds.attrs.pop("created")
    xr.testing.assert_identical(written, reference)
    # nothing left but the dataset and its (hidden) lock file
    assert sorted(p.name for p in raw.iterdir()) == sorted([out.name, lock_path(out).name])


def test_a_lock_held_past_the_deadline_is_one_line_naming_the_file_and_the_holder(tmp_path, caplog):
    from neuroalign._check import NeuroalignError
    from neuroalign.data.dataset_lock import dataset_lock

    folder = tmp_path / "raw" / "toy"
    with dataset_lock(folder, holder="simulation") as held:  # another open file: a second holder
        assert held == lock_path(folder) and held.read_text().split() == [
            "simulation",
            str(os.getpid()),
        ]
        with pytest.raises(NeuroalignError) as info:
            with dataset_lock(folder, holder="fetch", deadline=time.monotonic() + 0.3, poll=0.05):
                pytest.fail("two holders of one dataset's lock")
    line = str(info.value)
    assert "\n" not in line and str(held) in line and "another simulation of 'toy'" in line
    assert "waiting for it" in caplog.text and f"pid {os.getpid()}" in caplog.text
    with dataset_lock(folder, holder="fetch", deadline=time.monotonic() + 0.3):
        pass  # released: the next one takes it at once
