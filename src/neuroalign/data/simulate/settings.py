"""Settings of the simulators: validated and defaulted against the configuration schema."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from neuroalign._check import NeuroalignError, check_option, suggest
from neuroalign.schemas import load_schema, validate

KINDS = ("fmri", "localizer", "meg", "eyetracking")


def _fill(instance: dict, schema: Mapping[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict):
            _fill(instance[key], sub)


def resolve_settings(
    kind: str, settings: Mapping[str, Any] | None = None, source: str = "settings"
) -> dict[str, Any]:
    """Return the settings of simulator ``kind``, validated, with defaults filled in.

    Parameters
    ----------
    kind : str
        ``"fmri"``, ``"localizer"``, ``"meg"`` or ``"eyetracking"``.
    settings : mapping, optional
        The config's ``simulate.<kind>`` mapping (partial is fine).
    source : str
        Where the settings came from, for error messages.

    Returns
    -------
    settings : dict
        A new dict; every key of the schema's ``sim_<kind>`` definition is present.

    Raises
    ------
    NeuroalignError
        If a key is unknown or a value is out of range, or a story chapter does not exist.
    """
    check_option("kind", kind, KINDS)
    resolved = copy.deepcopy(dict(settings or {}))
    validate({"simulate": {kind: resolved}}, "config", source)
    _fill(resolved, load_schema("config")["$defs"][f"sim_{kind}"])
    _check_stories(kind, resolved, source)
    return resolved


def _check_stories(kind: str, settings: Mapping[str, Any], source: str) -> None:
    from neuroalign.data.simulate.story import load_story

    chapters = list(load_story())
    for key in ("train_stories", "stories", "test_story"):
        if key not in settings:
            continue
        names = settings[key] if isinstance(settings[key], list) else [settings[key]]
        for name in names:
            if name not in chapters:
                raise NeuroalignError(
                    f"{source}: field 'simulate.{kind}.{key}': unknown story chapter {name!r}; "
                    f"chapters are {', '.join(chapters)}.{suggest(name, chapters)}"
                )
    if kind == "fmri" and settings["test_story"] in settings["train_stories"]:
        raise NeuroalignError(
            f"{source}: field 'simulate.fmri.test_story': {settings['test_story']!r} is also a "
            "training story; pick a chapter not in train_stories."
        )
    if kind == "meg" and settings["tmax"] <= settings["tmin"]:
        raise NeuroalignError(
            f"{source}: field 'simulate.meg.tmax' ({settings['tmax']}) must be greater than "
            f"tmin ({settings['tmin']})."
        )
