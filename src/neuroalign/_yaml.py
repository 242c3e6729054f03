"""Safe YAML loading (no code execution) with file-named errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from neuroalign._check import NeuroalignError


def load_yaml(path: str | Path) -> Any:
    """Load a YAML file with ``yaml.safe_load``.

    Raises
    ------
    NeuroalignError
        If the file is missing or is not valid YAML; the message names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"{path}: file not found.")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise NeuroalignError(
            f"{path}{where}: not valid YAML: {problem}. Fix the syntax."
        ) from None
