"""Shared fixtures: the offline dataset mirror and the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_root() -> Path | None:
    """Return the real-data mirror (``NEUROALIGN_MIRROR`` or ``../shared/data``), if present."""
    env = os.environ.get("NEUROALIGN_MIRROR")
    candidates = [Path(env)] if env and "://" not in env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where pyproject.toml is)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data mirror; tests that need it skip with a reason when it is absent."""
    root = mirror_root()
    if root is None:
        reason = "real-data mirror not found: set NEUROALIGN_MIRROR to a copy of the mirror"
        if os.environ.get("NEUROALIGN_REQUIRE_MIRROR"):
            pytest.fail(reason)
        pytest.skip(reason)
    return root
