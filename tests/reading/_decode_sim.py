"""Simulated goal-directed reading shared by the decoding tests (written once per session)."""

from __future__ import annotations

from pathlib import Path

from neuroalign.data.simulate.reading_goals import simulate_reading_goals
from neuroalign.data.simulate.settings import SimReadingGoalsSettings

#: Small enough for seconds, large enough for all three regimes: 10 readers x 6 paragraphs.
SIM = {"seed": 3, "n_participants": 10, "stories": ["lighthouse"]}
_CACHE: dict[str, Path] = {}


def sim_goals(folder: Path) -> Path:
    """The simulated dataset (with its null/ copy), written once per session."""
    if "root" not in _CACHE:
        _CACHE["root"] = simulate_reading_goals(
            folder / "sim_reading_goals", SimReadingGoalsSettings.from_config(SIM)
        )
    return _CACHE["root"]
