"""Helpers to run the workflow with the Snakemake command line in a scratch directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _snakemake(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    """Run the ``snakemake`` of this environment in ``cwd``; return the completed process."""
    full_env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    proc = subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted(cwd.rglob("logs/**/*.log"))
        )
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-6000:]}\n{logs}")
    return proc


@pytest.fixture
def workdir(tmp_path, repo_root) -> Path:
    """A scratch copy of the repository's workflow files (not its data or results)."""
    for name in ("Snakefile", "workflow", "config", "profiles", "data_manifests"):
        src = repo_root / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, symlinks=False)
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="session")
def snakemake():
    """Run this environment's ``snakemake``: ``snakemake(*args, cwd=, env=, check=)``."""
    return _snakemake
