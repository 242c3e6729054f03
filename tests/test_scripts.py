"""The shell entry points find the virtual environment by a relative or an absolute path."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("absolute", [False, True])
def test_demo_runs_the_snakemake_of_the_named_venv(tmp_path, absolute):
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo", checkout / "scripts" / "demo")
    _executable(checkout / "scripts" / "setup-env", "#!/usr/bin/env bash\n")
    venv = tmp_path / "envs" / "na"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    _executable(venv / "bin" / "snakemake", f'#!/usr/bin/env bash\necho "$@" >> {calls}\n')
    name = str(venv) if absolute else os.path.relpath(venv, checkout)
    env = {**os.environ, "NEUROALIGN_VENV": name}
    subprocess.run(["bash", "scripts/demo"], cwd=checkout, env=env, check=True, capture_output=True)
    assert calls.read_text().splitlines()[0] == "--cores all"
