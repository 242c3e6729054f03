"""Reading helpers for stage collectors: errors name the file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError


def read_json(path: Path) -> Any:
    """Load a JSON file; a broken file raises NeuroalignError naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NeuroalignError(
            f"{path}: cannot be read as JSON ({err}). Rerun the stage that wrote it."
        ) from None
