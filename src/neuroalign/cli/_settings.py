"""``--settings``: a stage's settings as a JSON object on the command line or in a .json file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuroalign._check import NeuroalignError


def read_settings(text: str | None) -> dict[str, Any]:
    """Parse ``--settings``: a JSON object, or the path of a .json file holding one.

    Returns an empty dict when ``text`` is None.

    Raises
    ------
    NeuroalignError
        One line naming the source when it is not valid JSON or not an object.
    """
    if text is None:
        return {}
    source = "--settings"
    if not text.lstrip().startswith("{") and Path(text).is_file():
        source, text = text, Path(text).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise NeuroalignError(f"{source}: not valid JSON ({err.msg} at char {err.pos}).") from err
    if not isinstance(value, dict):
        raise NeuroalignError(
            f"{source}: must be a JSON object of settings, e.g. '{{\"n_subjects\": 1}}'."
        )
    return value
