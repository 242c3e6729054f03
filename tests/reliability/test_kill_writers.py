"""SIGKILL of a report build and of a stage's result write, at the moment they write.

A child process runs the real writer with one step slowed down (the injection): when it reaches
that step it says so in a file and sleeps, and the test kills it with SIGKILL. Afterwards no
half result may stand where a reader looks, a previous result must be intact, and the next run
must succeed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.report.build import MARKER, build_report
from neuroalign.results import load_netcdf, write_netcdf

#: Steps a child can be stopped in: the site rendered into the temporary folder; the previous
#: report being removed (after the first file is gone); a netCDF result half-written.
CHILD = textwrap.dedent(
    """
    import shutil, sys, time
    from pathlib import Path
    import numpy as np, xarray as xr
    from neuroalign import _io
    from neuroalign.report import build
    from neuroalign.results import write_netcdf

    step, target, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    def stop_here():
        ready.write_text(step)
        time.sleep(120)

    if step == "render":
        render = build._render_site
        def slow(tmp, *args, **kwargs):
            render(tmp, *args, **kwargs)
            stop_here()
        build._render_site = slow
    if step == "replace":
        rmtree = shutil.rmtree
        def slow_rmtree(path, *args, **kwargs):
            first = next(p for p in sorted(Path(path).rglob("*")) if p.is_file())
            first.unlink()
            stop_here()
        _io.shutil.rmtree = slow_rmtree
    if step in ("render", "replace"):
        build.build_report(output=target / "index.html", collectors={})
    if step == "netcdf":
        to_netcdf = xr.Dataset.to_netcdf
        def half(self, path, *args, **kwargs):
            to_netcdf(self, path, *args, **kwargs)
            with open(path, "r+b") as f:
                f.truncate(Path(path).stat().st_size // 2)
            stop_here()
        xr.Dataset.to_netcdf = half
        scores = np.linspace(0, 1, 4000).reshape(4, 1000)
        write_netcdf(xr.Dataset({"score": (("layer", "voxel"), scores)}), target)
    """
)


def kill_in(step: str, target: Path, tmp_path: Path) -> None:
    """Run the child up to ``step``, then SIGKILL it."""
    ready = tmp_path / f"{step}.ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, step, str(target), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the child never reached {step}: {proc.communicate()[0].decode()[-3000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_of_a_first_report_build_leaves_no_site(tmp_path):
    site = tmp_path / "report"
    kill_in("render", site, tmp_path)
    assert not site.exists()
    # what is left is hidden, and the next build succeeds
    assert all(p.name.startswith(".") for p in tmp_path.iterdir() if p.name != "render.ready")
    build_report(output=site / "index.html", collectors={})
    assert (site / "index.html").is_file() and (site / MARKER).is_file()


@pytest.mark.parametrize("step", ["render", "replace"])
def test_sigkill_of_a_report_rebuild_keeps_the_previous_report_whole(tmp_path, step):
    site = tmp_path / "report"
    build_report(output=site / "index.html", collectors={})
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    kill_in(step, site, tmp_path)
    if step == "render":
        # killed while writing the new site: the previous one is untouched
        after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
        assert after == before
    else:
        # killed while the previous site is removed: that happens after the new site took its
        # place, so the folder holds the whole new site, never a half-deleted old one
        names = {p.relative_to(site) for p in site.rglob("*") if p.is_file()}
        assert names == set(before), names ^ set(before)
    build_report(output=site / "index.html", collectors={})
    assert (site / MARKER).is_file()


def test_sigkill_of_a_result_write_leaves_no_result_and_keeps_the_previous_one(tmp_path):
    # the writer every stage's netCDF result goes through (encode, localize, recovery, ...)
    path = tmp_path / "encode" / "sub-01.nc"
    kill_in("netcdf", path, tmp_path)
    assert not path.exists()
    with pytest.raises(NeuroalignError, match=r"not found: .*run the stage that writes it"):
        load_netcdf(path, "encoding result")
    assert all(p.name.startswith(".") for p in path.parent.iterdir())

    previous = xr.Dataset({"score": ("voxel", np.arange(5.0))})
    write_netcdf(previous, path)
    before = path.read_bytes()
    kill_in("netcdf", path, tmp_path)
    assert path.read_bytes() == before
    xr.testing.assert_identical(load_netcdf(path), previous)
