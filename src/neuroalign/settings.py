"""Typed stage settings, built once from the validated configuration.

The configuration schema is the one source of settings and of their defaults. A stage's settings
class is a frozen dataclass whose fields are the keys of its config section; `from_config` checks
the section against that part of the schema, fills the schema's defaults, and builds the
dataclass. A rule passes a stage one settings file (JSON, written by `write_settings`); the
command line reads it back with `read_settings`. A Python user builds the same object with
``Settings.from_config({...})`` (defaults from the schema) and calls the stage function.

The structured values shared by several stages are resolved here too: ridge penalty grids
(`alpha_grid`) and layer selections (`select_layers`).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from neuroalign._check import NeuroalignError
from neuroalign._io import write_json_atomic
from neuroalign.schemas import load_schema, validate_section

__all__ = [
    "DEFAULT_ALPHAS",
    "StageSettings",
    "alpha_grid",
    "read_settings",
    "select_layers",
    "write_settings",
]

#: The one default ridge penalty grid: ``{start: -3, stop: 6, num: 19}`` (log10), as in the schema.
DEFAULT_ALPHAS = {"start": -3.0, "stop": 6.0, "num": 19}


def alpha_grid(spec: Sequence[float] | Mapping[str, Any] | None = None) -> np.ndarray:
    """Return a ridge penalty grid from its config form.

    Parameters
    ----------
    spec : list of float, or mapping with ``start``, ``stop``, ``num``, optional
        Explicit penalties, or a log10-spaced grid (``np.logspace(start, stop, num)``).
        None gives `DEFAULT_ALPHAS`.

    Returns
    -------
    alphas : ndarray of float64
        Positive penalties, in the given (or increasing) order.

    Raises
    ------
    NeuroalignError
        If the grid is empty or holds a penalty that is not positive.
    """
    spec = DEFAULT_ALPHAS if spec is None else spec
    if isinstance(spec, Mapping):
        alphas = np.logspace(float(spec["start"]), float(spec["stop"]), int(spec["num"]))
    else:
        alphas = np.asarray(list(spec), dtype=np.float64)
    if alphas.size == 0 or not np.all(alphas > 0):
        raise NeuroalignError(
            f"alphas {list(np.atleast_1d(alphas))}: need at least one penalty, all positive; "
            "give a list such as [0.1, 1, 10] or {start: -3, stop: 6, num: 19}."
        )
    return alphas


def seed_or_default(seed: int | None) -> int:
    """``seed``, or the default of the config's top-level ``seed`` when None."""
    if seed is not None:
        return int(seed)
    return int(load_schema("config")["properties"]["seed"]["default"])


def select_layers(spec: str | Sequence[int], n_layers: int, field: str = "layers") -> list[int]:
    """Return the layer indices a ``layers`` setting selects, in the given order.

    Parameters
    ----------
    spec : "all" or list of int
        ``"all"``, or indices into the ``n_layers`` available ones; negative indices count from
        the end (``-1`` is the last).
    n_layers : int
        How many layers there are.
    field : str
        Name of the setting, for the error message.

    Returns
    -------
    layers : list of int
        Non-negative indices, without repeats.

    Raises
    ------
    NeuroalignError
        If an index is out of range.
    """
    if isinstance(spec, str):
        if spec != "all":
            raise NeuroalignError(
                f"{field}: {spec!r} is not 'all'; give 'all' or a list such as [0, -1]."
            )
        return list(range(n_layers))
    out: list[int] = []
    for index in spec:
        if not -n_layers <= int(index) < n_layers:
            raise NeuroalignError(
                f"{field}: layer {index} is out of range for {n_layers} layers; use 0 to "
                f"{n_layers - 1} or -1 to -{n_layers}."
            )
        value = int(index) % n_layers
        if value not in out:
            out.append(value)
    return out


def _convert(value: Any, hint: Any, field: str) -> Any:
    """Turn a JSON value into the field's type: nested settings, tuples and plain values."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, StageSettings) and isinstance(value, Mapping):
        return hint._build(value, field)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return None
                continue
            if isinstance(arg, type) and issubclass(arg, StageSettings):
                if isinstance(value, Mapping):
                    return arg._build(value, field)
                continue
            if typing.get_origin(arg) is tuple and isinstance(value, list | tuple):
                return _convert(value, arg, field)
        return value
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_convert(v, inner, field) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The JSON form of a settings value."""
    if isinstance(value, StageSettings):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


T = typing.TypeVar("T", bound="StageSettings")


class StageSettings:
    """Base of the stage settings dataclasses.

    Subclasses are frozen dataclasses and set ``SECTION``: the JSON pointer of their part of the
    configuration schema (``"#/properties/encode/additionalProperties"``, say). Field names are
    the section's keys; tuple fields take lists; nested settings classes take mappings.
    """

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any] | None = None, source: str = "settings"
    ) -> Self:
        """Validate a config section against the schema, fill its defaults, build the settings.

        Parameters
        ----------
        section : mapping, optional
            The section as written in a config file (partial is fine: the schema's defaults
            fill the rest).
        source : str
            Where it came from, named in error messages.

        Raises
        ------
        NeuroalignError
            One line naming the source, the field and the fix.
        """
        filled = validate_section(dict(section or {}), cls.SECTION, source)
        return cls._build(filled, source)

    @classmethod
    def _build(cls, values: Mapping[str, Any], where: str) -> Self:
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise NeuroalignError(
                f"{where}: unknown setting {unknown[0]!r} for {cls.__name__}; known settings are "
                f"{', '.join(sorted(names))}."
            )
        kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in values.items()}
        try:
            return cls(**kwargs)
        except NeuroalignError as err:  # a check across fields (__post_init__): say where
            if str(err).startswith(f"{where}"):
                raise
            raise NeuroalignError(f"{where}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready plain values (lists for tuples)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Self:
        """Return a copy with some fields changed (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)


def write_settings(settings: StageSettings | Mapping[str, Any], path: str | Path) -> Path:
    """Write settings (a settings object or a config section) as a JSON file, atomically."""
    data = settings.to_dict() if isinstance(settings, StageSettings) else dict(settings)
    return write_json_atomic(path, data)


def read_settings(cls: type[T], path: str | Path) -> T:
    """Read a settings file written by `write_settings` (or by hand) into ``cls``.

    The file's values are checked against the schema and its defaults filled, as for
    `StageSettings.from_config`.

    Raises
    ------
    NeuroalignError
        If the file is missing, not a JSON object, or its settings are invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"settings file not found: {path}; pass the file the rule wrote.")
    try:
        values = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise NeuroalignError(
            f"{path}: not UTF-8 text (byte {err.start}); save the settings as UTF-8 JSON."
        ) from None
    except json.JSONDecodeError as err:
        raise NeuroalignError(f"{path}: not valid JSON ({err.msg} at char {err.pos}).") from err
    except RecursionError:
        raise NeuroalignError(f"{path}: nested too deeply to read; flatten it.") from None
    if not isinstance(values, dict):
        raise NeuroalignError(f"{path}: must hold a JSON object of settings.")
    return cls.from_config(values, source=str(path))
